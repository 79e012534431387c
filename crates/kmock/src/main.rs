//! The `kmock` command line. `kmock serve` runs the mock Kafka broker on a loopback TCP port, with
//! fault rules given as `--fault SPEC` (grammar: `docs/fault-spec.md`), and prints
//! `BOOTSTRAP=host:port` on stdout once it accepts connections. `kmock sim run FILE...` runs
//! scenario files in the deterministic simulation (see `sims/README.md`). `kmock demo` runs the
//! bundled seed scenarios and prints the default-vs-`.env.test` table.

mod demo;
mod sim;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use kmock_broker::core::fault::FaultRule;
use kmock_broker::server::Broker;
use kmock_broker::{BrokerConfig, ConfigError};
use tokio::net::TcpListener;

/// Exit code for a configuration the user must fix (as clap uses for bad arguments).
const EXIT_CONFIG: u8 = 2;
/// Exit code when the broker cannot start for another reason (e.g. the port is taken).
const EXIT_RUNTIME: u8 = 1;

const FAULT_HELP: &str = "\
Install a fault rule (repeatable; rules are evaluated in the order given, the first that applies wins).

Grammar:  API[@VERSIONS][,MATCH]...:ACTION[,TRIGGER]...
  API       snake_case API name (leave_group, join_group, fetch, ...), API key number (13), or * for any
  VERSIONS  N or N-M (inclusive)
  MATCH     group=ID | client=ID | member=ID | conn=N
  ACTION    delay=DUR     process now, send the response DUR later
            hold=DUR      process the request only after DUR
            error=CODE    answer with a Kafka error (27, rebalance_in_progress, UNKNOWN_MEMBER_ID) without processing
            drop          process, never respond
            close         close the connection without processing (= close=before)
            close=after   process, then close instead of responding
  TRIGGER   always | once | nth=N | times=N | prob=P | after=DUR | before=DUR  (combine with commas)
  DUR       integer with unit: 250ms, 60s, 2m

Examples:
  leave_group:delay=60s
  join_group:error=27,once
  heartbeat,group=g1:error=rebalance_in_progress,nth=3
  fetch@11-18:hold=250ms,prob=0.5
  *:close,after=10s

See docs/fault-spec.md for the exact semantics of counts and probabilities.";

/// kmock: a mock Kafka broker for tests.
///
/// kmock speaks the Kafka protocol to real clients (librdkafka, aiokafka, kafka-python, kafkajs,
/// kcat, ...) over TCP: topics and partitions in memory, a classic consumer-group coordinator, and
/// fault injection (slow, failing or missing responses, closed connections) so that client
/// timeouts and teardown can be tested in milliseconds, deterministically.
#[derive(Debug, Parser)]
#[command(name = "kmock", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the seed's finding, measured: runs the bundled scenarios in virtual time (no broker,
    /// no network, a fraction of a second) and prints default timeouts vs .env.test.
    Demo(demo::DemoArgs),
    /// Run the mock broker until Ctrl-C or SIGTERM.
    ///
    /// Prints exactly one line `BOOTSTRAP=host:port` on stdout when it accepts connections; logs
    /// go to stderr (filter with RUST_LOG, default info).
    Serve(ServeArgs),
    /// Run scenarios in the deterministic simulation (virtual time, seeded).
    #[command(subcommand)]
    Sim(sim::SimCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to bind. Loopback only unless --allow-non-loopback is given.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Port to bind; 0 picks a free port (see the BOOTSTRAP= line for the one chosen).
    #[arg(long, default_value_t = 9092)]
    port: u16,

    /// Allow binding an address other than loopback (exposes the mock broker to the network).
    #[arg(long)]
    allow_non_loopback: bool,

    /// A fault rule, e.g. `leave_group:delay=60s`. See the long help (--help) for the grammar.
    #[arg(long = "fault", value_name = "SPEC", long_help = FAULT_HELP)]
    faults: Vec<FaultRule>,

    /// How long the first join to an empty group waits for more members
    /// (group.initial.rebalance.delay.ms); 0 makes tests fast.
    #[arg(long, value_name = "N", default_value_t = 3000)]
    initial_rebalance_delay_ms: i32,

    /// Create a topic when a Metadata request names one that does not exist (auto.create.topics.enable).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    auto_create_topics: bool,

    /// Partitions of an auto-created topic (num.partitions).
    #[arg(long, value_name = "N", default_value_t = 1)]
    default_partitions: i32,

    /// Lowest session timeout a group member may ask for (group.min.session.timeout.ms).
    #[arg(long, value_name = "N", default_value_t = 6000)]
    group_min_session_timeout_ms: i32,

    /// Highest session timeout a group member may ask for (group.max.session.timeout.ms).
    #[arg(long, value_name = "N", default_value_t = 1_800_000)]
    group_max_session_timeout_ms: i32,

    /// Largest request frame accepted, in bytes (socket.request.max.bytes); larger frames close the
    /// connection.
    #[arg(long, value_name = "N", default_value_t = kmock_wire::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,

    /// Seed of the broker's random numbers (fault probabilities, generated ids): the same seed and
    /// the same requests give the same run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
}

impl ServeArgs {
    fn config(&self) -> BrokerConfig {
        BrokerConfig {
            auto_create_topics: self.auto_create_topics,
            default_partitions: self.default_partitions,
            group_min_session_timeout_ms: self.group_min_session_timeout_ms,
            group_max_session_timeout_ms: self.group_max_session_timeout_ms,
            group_initial_rebalance_delay_ms: self.initial_rebalance_delay_ms,
            max_frame_bytes: self.max_frame_bytes,
            seed: self.seed,
            ..BrokerConfig::default()
        }
    }
}

/// Why `serve` failed, with the exit code to use.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

impl ServeError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ServeError::Config(_) | ServeError::Usage(_) => ExitCode::from(EXIT_CONFIG),
            ServeError::Runtime(_) => ExitCode::from(EXIT_RUNTIME),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serve_args = match cli.command {
        Command::Serve(args) => args,
        Command::Demo(args) => {
            init_tracing("warn");
            return demo::run(&args);
        }
        Command::Sim(command) => {
            init_tracing("warn");
            return sim::run(command);
        }
    };
    init_tracing("info");
    let result = serve(serve_args);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "kmock: {error}");
            error.exit_code()
        }
    }
}

fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let config = args.config();
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Runtime(format!("cannot start the tokio runtime: {e}")))?;
    runtime.block_on(run(args, config))
}

async fn bind(args: &ServeArgs) -> Result<TcpListener, ServeError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((args.host.as_str(), args.port))
        .await
        .map_err(|e| ServeError::Usage(format!("cannot resolve --host {}: {e}", args.host)))?
        .collect();
    if addresses.is_empty() {
        return Err(ServeError::Usage(format!(
            "--host {} resolves to no address",
            args.host
        )));
    }
    if let Some(exposed) = addresses.iter().find(|a| !a.ip().is_loopback()) {
        if !args.allow_non_loopback {
            return Err(ServeError::Usage(format!(
                "refusing to bind {exposed}, which is not a loopback address: kmock is a test \
                 broker without authentication; pass --allow-non-loopback to do it anyway"
            )));
        }
        tracing::warn!(address = %exposed, "binding a non-loopback address: the mock broker is reachable from the network");
    }
    TcpListener::bind(&addresses[..])
        .await
        .map_err(|e| ServeError::Runtime(format!("cannot bind {}:{}: {e}", args.host, args.port)))
}

async fn run(args: ServeArgs, config: BrokerConfig) -> Result<(), ServeError> {
    let listener = bind(&args).await?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError::Runtime(format!("cannot read the bound address: {e}")))?;
    // Clients must be able to connect to what we advertise: never advertise 0.0.0.0 / ::.
    let advertised_ip = if local.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        local.ip()
    };
    let advertised = SocketAddr::new(advertised_ip, local.port());

    let signals = Signals::install()
        .map_err(|e| ServeError::Runtime(format!("cannot install signal handlers: {e}")))?;
    let broker = Broker::start(config)?;
    let stopped = |_| ServeError::Runtime("the broker stopped unexpectedly".into());
    broker
        .set_advertised_address(advertised_ip.to_string(), i32::from(local.port()))
        .await
        .map_err(stopped)?;
    for rule in args.faults {
        let text = rule.to_string();
        let id = broker.add_fault(rule).await.map_err(stopped)?;
        tracing::info!(rule = id.0, spec = %text, "fault installed");
    }
    let server = broker.clone();
    let accept = tokio::spawn(async move { server.serve_tcp(listener).await });
    tracing::info!(%local, %advertised, "kmock broker listening");

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "BOOTSTRAP={advertised}")
        .and_then(|()| stdout.flush())
        .map_err(|e| ServeError::Runtime(format!("cannot write to stdout: {e}")))?;
    drop(stdout);

    tokio::select! {
        biased;
        signal = signals.wait() => tracing::info!(%signal, "shutting down"),
        () = broker.stopped() => {
            return Err(ServeError::Runtime("the broker stopped unexpectedly".into()));
        }
    }
    broker.shutdown().await;
    let _ = accept.await;
    Ok(())
}

/// Ctrl-C and SIGTERM, registered before the BOOTSTRAP line so that no early signal is missed.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the first signal and names it.
    async fn wait(mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                biased;
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
