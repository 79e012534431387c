//! The `kmock` command line. `kmock serve` runs the mock Kafka broker on a loopback TCP port, with
//! fault rules given as `--fault SPEC` (grammar: `docs/fault-spec.md`), and prints
//! `BOOTSTRAP=host:port` on stdout once it accepts connections. `kmock sim run FILE...` runs
//! scenario files in the deterministic simulation (see `sims/README.md`). `kmock demo` runs the
//! bundled seed scenarios and prints the default-vs-`.env.test` table.

mod control;
mod demo;
mod sim;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Parser, Subcommand};
use kmock_broker::{BrokerConfig, ConfigError, MockBroker, MockBrokerError};
use kmock_core::fault::FaultRule;
use tokio::net::TcpListener;

/// kmock's binaries allocate with mimalloc (root Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for a configuration the user must fix (as clap uses for bad arguments).
const EXIT_CONFIG: u8 = 2;
/// Exit code when the broker cannot start for another reason (e.g. the port is taken).
const EXIT_RUNTIME: u8 = 1;

const FAULT_HELP: &str = "\
Install a fault rule (repeatable; rules are evaluated in the order given, the first that applies wins).

Grammar:  API[@VERSIONS][,MATCH]...:ACTION[,TRIGGER]...
  API       snake_case API name (leave_group, join_group, fetch, ...), API key number (13), or * for any
  VERSIONS  N or N-M (inclusive)
  MATCH     group=ID | client=ID | member=ID | txn=ID | conn=N
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
    /// Prints `BOOTSTRAP=host:port` as the first stdout line when it accepts connections, and
    /// `CONTROL=http://host:port` as the second when --control-port is given (nothing else goes
    /// to stdout); logs go to stderr (filter with RUST_LOG, default info).
    Serve(ServeArgs),
    /// Run scenarios in the deterministic simulation (virtual time, seeded).
    #[command(subcommand)]
    Sim(sim::SimCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to bind (broker and control API). Loopback only unless --allow-non-loopback is
    /// given. [default: 127.0.0.1]
    #[arg(long)]
    host: Option<String>,

    /// Port to bind; 0 picks a free port (see the BOOTSTRAP= line for the one chosen).
    /// [default: 9092]
    #[arg(long)]
    port: Option<u16>,

    /// Brokers in the cluster (node ids 0..N), each with its own listener on ports
    /// PORT..PORT+N-1 (all free ports with --port 0), sharing one state. BOOTSTRAP= lists them
    /// all, comma-separated. [default: 1]
    #[arg(long, value_name = "N")]
    brokers: Option<i32>,

    /// Replication factor of auto-created topics and of CreateTopics with -1
    /// (default.replication.factor; at most --brokers). [default: 1]
    #[arg(long, value_name = "N")]
    default_replication_factor: Option<i32>,

    /// Allow binding an address other than loopback (exposes the mock broker and its control API
    /// to the network).
    #[arg(long)]
    allow_non_loopback: bool,

    /// Serve the runtime control API (HTTP + JSON: fault rules, request log, topics, groups,
    /// reset) on this port of --host; 0 picks a free port. Prints `CONTROL=http://host:port` as
    /// the second stdout line, after BOOTSTRAP=. Routes: see the README ("Control API").
    #[arg(long, value_name = "PORT")]
    control_port: Option<u16>,

    /// Read settings from a TOML file: the keys are these flags' names (`port = 0`,
    /// `initial-rebalance-delay-ms = 0`, `fault = ["leave_group:delay=60s"]`, ...) plus
    /// `[[topic]]` tables (`name`, `partitions`) created at start. Flags given on the command line
    /// win; --fault rules are added after the file's. Example: docs/serve-config.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// A fault rule, e.g. `leave_group:delay=60s`. See the long help (--help) for the grammar.
    #[arg(long = "fault", value_name = "SPEC", long_help = FAULT_HELP)]
    faults: Vec<FaultRule>,

    /// How long the first join to an empty group waits for more members
    /// (group.initial.rebalance.delay.ms); 0 makes tests fast. [default: 3000]
    #[arg(long, value_name = "N")]
    initial_rebalance_delay_ms: Option<i32>,

    /// Create a topic when a Metadata request names one that does not exist
    /// (auto.create.topics.enable). [default: true]
    #[arg(long, value_name = "BOOL", action = ArgAction::Set)]
    auto_create_topics: Option<bool>,

    /// Partitions of an auto-created topic (num.partitions). [default: 1]
    #[arg(long, value_name = "N")]
    default_partitions: Option<i32>,

    /// Lowest session timeout a group member may ask for (group.min.session.timeout.ms).
    /// [default: 6000]
    #[arg(long, value_name = "N")]
    group_min_session_timeout_ms: Option<i32>,

    /// Highest session timeout a group member may ask for (group.max.session.timeout.ms).
    /// [default: 1800000]
    #[arg(long, value_name = "N")]
    group_max_session_timeout_ms: Option<i32>,

    /// Session timeout of KIP-848 consumer group members (group.consumer.session.timeout.ms);
    /// must lie within the min and max below. [default: 45000]
    #[arg(long, value_name = "N")]
    group_consumer_session_timeout_ms: Option<i32>,

    /// Lowest KIP-848 session timeout allowed (group.consumer.min.session.timeout.ms); lower it
    /// with the session timeout for short test sessions. [default: 45000]
    #[arg(long, value_name = "N")]
    group_consumer_min_session_timeout_ms: Option<i32>,

    /// Heartbeat interval told to KIP-848 consumer group members
    /// (group.consumer.heartbeat.interval.ms); below the session timeout, at least the min below.
    /// [default: 5000]
    #[arg(long, value_name = "N")]
    group_consumer_heartbeat_interval_ms: Option<i32>,

    /// Lowest KIP-848 heartbeat interval allowed (group.consumer.min.heartbeat.interval.ms).
    /// [default: 5000]
    #[arg(long, value_name = "N")]
    group_consumer_min_heartbeat_interval_ms: Option<i32>,

    /// Largest request frame accepted, in bytes (socket.request.max.bytes); larger frames close the
    /// connection. [default: 104857600]
    #[arg(long, value_name = "N")]
    max_frame_bytes: Option<usize>,

    /// Most connections open at once; a connection beyond it is closed at once with a logged
    /// reason, the open ones are unaffected. [default: 10000]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Seed of the broker's random numbers (fault probabilities, generated ids): the same seed and
    /// the same requests give the same run. [default: 0]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

/// `serve --config FILE`: the flags' names as keys, plus `[[topic]]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    host: Option<String>,
    port: Option<u16>,
    allow_non_loopback: Option<bool>,
    control_port: Option<u16>,
    #[serde(default)]
    fault: Vec<String>,
    brokers: Option<i32>,
    default_replication_factor: Option<i32>,
    initial_rebalance_delay_ms: Option<i32>,
    auto_create_topics: Option<bool>,
    default_partitions: Option<i32>,
    group_min_session_timeout_ms: Option<i32>,
    group_max_session_timeout_ms: Option<i32>,
    group_consumer_session_timeout_ms: Option<i32>,
    group_consumer_min_session_timeout_ms: Option<i32>,
    group_consumer_heartbeat_interval_ms: Option<i32>,
    group_consumer_min_heartbeat_interval_ms: Option<i32>,
    max_frame_bytes: Option<usize>,
    max_connections: Option<usize>,
    seed: Option<u64>,
    #[serde(default)]
    topic: Vec<TopicEntry>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicEntry {
    name: String,
    #[serde(default = "one_partition")]
    partitions: i32,
}

fn one_partition() -> i32 {
    1
}

/// The flags merged with the config file and the defaults.
#[derive(Debug)]
struct ServeSettings {
    host: String,
    port: u16,
    allow_non_loopback: bool,
    control_port: Option<u16>,
    faults: Vec<FaultRule>,
    topics: Vec<(String, i32)>,
    config: BrokerConfig,
}

impl ServeArgs {
    fn settings(self) -> Result<ServeSettings, ServeError> {
        let file = match &self.config {
            None => ConfigFile::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ServeError::Usage(format!("cannot read --config {}: {e}", path.display()))
                })?;
                toml::from_str(&text)
                    .map_err(|e| ServeError::Usage(format!("--config {}: {}", path.display(), e)))?
            }
        };
        let mut faults = Vec::new();
        for spec in &file.fault {
            let rule: FaultRule = spec.parse().map_err(|e| {
                ServeError::Usage(format!(
                    "--config: fault {spec:?}: {e} (grammar: kmock serve --help, or docs/fault-spec.md in the kmock repository)"
                ))
            })?;
            faults.push(rule);
        }
        faults.extend(self.faults);
        let defaults = BrokerConfig::default();
        let config = BrokerConfig {
            brokers: self.brokers.or(file.brokers).unwrap_or(1),
            default_replication_factor: self
                .default_replication_factor
                .or(file.default_replication_factor)
                .unwrap_or(1),
            auto_create_topics: self
                .auto_create_topics
                .or(file.auto_create_topics)
                .unwrap_or(true),
            default_partitions: self
                .default_partitions
                .or(file.default_partitions)
                .unwrap_or(1),
            group_min_session_timeout_ms: self
                .group_min_session_timeout_ms
                .or(file.group_min_session_timeout_ms)
                .unwrap_or(6000),
            group_max_session_timeout_ms: self
                .group_max_session_timeout_ms
                .or(file.group_max_session_timeout_ms)
                .unwrap_or(1_800_000),
            group_initial_rebalance_delay_ms: self
                .initial_rebalance_delay_ms
                .or(file.initial_rebalance_delay_ms)
                .unwrap_or(3000),
            group_consumer_session_timeout_ms: self
                .group_consumer_session_timeout_ms
                .or(file.group_consumer_session_timeout_ms)
                .unwrap_or(defaults.group_consumer_session_timeout_ms),
            group_consumer_min_session_timeout_ms: self
                .group_consumer_min_session_timeout_ms
                .or(file.group_consumer_min_session_timeout_ms)
                .unwrap_or(defaults.group_consumer_min_session_timeout_ms),
            group_consumer_heartbeat_interval_ms: self
                .group_consumer_heartbeat_interval_ms
                .or(file.group_consumer_heartbeat_interval_ms)
                .unwrap_or(defaults.group_consumer_heartbeat_interval_ms),
            group_consumer_min_heartbeat_interval_ms: self
                .group_consumer_min_heartbeat_interval_ms
                .or(file.group_consumer_min_heartbeat_interval_ms)
                .unwrap_or(defaults.group_consumer_min_heartbeat_interval_ms),
            max_frame_bytes: self
                .max_frame_bytes
                .or(file.max_frame_bytes)
                .unwrap_or(kmock_wire::DEFAULT_MAX_FRAME_BYTES),
            max_connections: self
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.max_connections),
            seed: self.seed.or(file.seed).unwrap_or(0),
            ..defaults
        };
        Ok(ServeSettings {
            host: self
                .host
                .or(file.host)
                .unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: self.port.or(file.port).unwrap_or(9092),
            allow_non_loopback: self.allow_non_loopback || file.allow_non_loopback == Some(true),
            control_port: self.control_port.or(file.control_port),
            faults,
            topics: file
                .topic
                .into_iter()
                .map(|t| (t.name, t.partitions))
                .collect(),
            config,
        })
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
    let args = args.settings()?;
    let config = args.config.clone();
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Runtime(format!("cannot start the tokio runtime: {e}")))?;
    runtime.block_on(run(args, config))
}

async fn bind(args: &ServeSettings, port: u16) -> Result<TcpListener, ServeError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((args.host.as_str(), port))
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
        .map_err(|e| ServeError::Runtime(format!("cannot bind {}:{port}: {e}", args.host)))
}

/// One listener per broker: ports `port`, `port + 1`, ... (every one free with port 0).
async fn bind_brokers(
    args: &ServeSettings,
    brokers: i32,
) -> Result<Vec<std::net::TcpListener>, ServeError> {
    let mut listeners = Vec::new();
    for index in 0..u16::try_from(brokers).unwrap_or(1) {
        let port = match args.port {
            0 => 0,
            first => first.checked_add(index).ok_or_else(|| {
                ServeError::Usage(format!(
                    "--port {first} with --brokers {brokers} goes beyond port 65535"
                ))
            })?,
        };
        let listener = bind(args, port).await?;
        listeners.push(
            listener
                .into_std()
                .map_err(|e| ServeError::Runtime(format!("cannot hand the listener over: {e}")))?,
        );
    }
    Ok(listeners)
}

async fn run(args: ServeSettings, config: BrokerConfig) -> Result<(), ServeError> {
    let listeners = bind_brokers(&args, config.brokers).await?;
    let control_listener = match args.control_port {
        Some(port) => Some(bind(&args, port).await?),
        None => None,
    };
    let signals = Signals::install()
        .map_err(|e| ServeError::Runtime(format!("cannot install signal handlers: {e}")))?;
    // The broker's wall clock (LogAppendTime, time-based retention) starts at the real time.
    let config = BrokerConfig {
        wall_clock_start_unix_ms: kmock_broker::mock::wall_clock_unix_ms(),
        ..config
    };
    let broker = Arc::new(start_broker(&args, config, listeners).await?);
    let local = broker.local_addr();
    let bootstrap = broker.bootstrap_servers();
    tracing::info!(%local, advertised = %bootstrap, "kmock broker listening");

    let mut stdout = std::io::stdout().lock();
    let mut lines = format!("BOOTSTRAP={bootstrap}\n");
    if let Some(control_listener) = control_listener {
        let local = control_listener
            .local_addr()
            .map_err(|e| ServeError::Runtime(format!("cannot read the control address: {e}")))?;
        let host = if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        };
        let url = format!("http://{}", SocketAddr::new(host, local.port()));
        tracing::info!(%url, "control API listening");
        lines.push_str(&format!("CONTROL={url}\n"));
        tokio::spawn(control::serve(control_listener, Arc::clone(&broker)));
    }
    write!(stdout, "{lines}")
        .and_then(|()| stdout.flush())
        .map_err(|e| ServeError::Runtime(format!("cannot write to stdout: {e}")))?;
    drop(stdout);

    tokio::select! {
        biased;
        signal = signals.wait() => tracing::info!(%signal, "shutting down"),
        () = broker.handle().stopped() => {
            return Err(ServeError::Runtime("the broker stopped unexpectedly".into()));
        }
    }
    broker.shutdown().await;
    Ok(())
}

/// The broker on the bound `listeners` (one per broker), with the start topics and faults
/// (which `POST /reset` restores). `serve` binds itself (`--host` resolution, the loopback
/// check) and hands the listeners over; the rest is [`MockBroker`]'s start-up.
async fn start_broker(
    args: &ServeSettings,
    config: BrokerConfig,
    listeners: Vec<std::net::TcpListener>,
) -> Result<MockBroker, ServeError> {
    let mut builder = MockBroker::builder().config(config).listeners(listeners);
    for (name, partitions) in &args.topics {
        builder = builder.topic(name.clone(), *partitions);
    }
    for rule in &args.faults {
        tracing::info!(spec = %rule, "fault installed");
        builder = builder.fault(rule.clone());
    }
    builder.start().await.map_err(|error| match error {
        MockBrokerError::Config(error) => ServeError::Config(error),
        MockBrokerError::Topic { .. } => ServeError::Usage(format!("--config: {error}")),
        other => ServeError::Runtime(other.to_string()),
    })
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
