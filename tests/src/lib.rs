//! Shared helpers for the cross-crate suites in `tests/tests/`.
//!
//! Owns: finding (and building once) the `kmock` binary, running `kmock serve` as a child process
//! ([`KmockServer`]), finding the Python virtual environment with the real Kafka clients
//! ([`python`]) and running the interop scripts under `tests/python/` with a time limit
//! ([`run_python`]), the same for the Node.js scripts under `tests/node/` ([`node`], [`run_node`]),
//! and a blocking Kafka request/response helper over TCP ([`KafkaConnection`]).
//! It does not reach into broker internals: these suites see kmock as a client does (only
//! `api_versions_roundtrip.rs` also drives the core in process, through its public API).
//!
//! Nothing here skips silently: a missing binary, virtual environment, Python or Node package or
//! `kcat` fails the test with a message that says what is missing and how to install it
//! (`bash .ci/run venv` installs the clients; `bash .ci/run` does everything CI does).
//!
//! # Environment
//! - `KMOCK_BIN`: the `kmock` binary to run; otherwise `cargo build -p kmock` runs once per test
//!   process and its output is used.
//! - `KMOCK_VENV`: the virtual environment; otherwise `<workspace>/.venv`.
//! - `RUST_LOG`: passed to `kmock serve` (default `debug`, so the logs show every request).

use std::cell::Cell;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ResponseKind};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_response, encode_request};

/// How long `kmock serve` may take to print its `BOOTSTRAP=` line.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopped server may take to exit after SIGTERM before it is killed.
pub const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    // cargo and nextest set CARGO_MANIFEST_DIR when they run a test; the value compiled in can name
    // another checkout that shares the target directory (e.g. a CI clone, since deleted).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// The cargo target directory the running test was built in.
///
/// Taken from the test executable's own path (`<target>/<profile>/deps/<test>`), so it is right
/// whether the target dir came from `CARGO_TARGET_DIR`, `--target-dir` or a config file; falls back
/// to `CARGO_TARGET_DIR`, then `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    static TARGET_DIR: OnceLock<PathBuf> = OnceLock::new();
    TARGET_DIR
        .get_or_init(|| {
            let from_exe = std::env::current_exe().ok().and_then(|exe| {
                let deps = exe.parent()?;
                if deps.file_name()? != "deps" {
                    return None;
                }
                Some(deps.parent()?.parent()?.to_path_buf())
            });
            from_exe
                .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
                .map(|dir| {
                    if dir.is_absolute() {
                        dir
                    } else {
                        workspace_root().join(dir)
                    }
                })
                .unwrap_or_else(|| workspace_root().join("target"))
        })
        .clone()
}

/// The `kmock` binary: `KMOCK_BIN` if set, else built once with `cargo build -p kmock`.
pub fn kmock_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(bin) = std::env::var_os("KMOCK_BIN") {
                let bin = PathBuf::from(bin);
                assert!(
                    bin.is_file(),
                    "KMOCK_BIN={} does not exist; unset it to build kmock with cargo",
                    bin.display()
                );
                return bin;
            }
            let target = target_dir();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let output = Command::new(&cargo)
                .args(["build", "-p", "kmock", "--quiet", "--target-dir"])
                .arg(&target)
                .current_dir(workspace_root())
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {cargo:?} to build kmock: {e}"));
            assert!(
                output.status.success(),
                "`cargo build -p kmock` failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            let bin = target.join("debug").join("kmock");
            assert!(
                bin.is_file(),
                "cargo built kmock but {} does not exist",
                bin.display()
            );
            bin
        })
        .clone()
}

/// Where server logs and other test artifacts go: `<target>/kmock-test-logs/`.
pub fn log_dir() -> PathBuf {
    let dir = target_dir().join("kmock-test-logs");
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create log dir {}: {e}", dir.display()));
    dir
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let test = thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", "-")
        .replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "_",
        );
    format!("{prefix}-{test}-{}-{n}", std::process::id())
}

/// A `kmock serve` child process on a free loopback port, its stderr in a log file under
/// [`log_dir`]. Stopped (SIGTERM, then wait) on drop.
#[derive(Debug)]
pub struct KmockServer {
    child: Option<Child>,
    bootstrap: String,
    log_path: PathBuf,
    args: Vec<String>,
    /// Lines the server prints on stdout after `BOOTSTRAP=` (the contract says there are none).
    stdout_rx: mpsc::Receiver<String>,
    stdout_reader: Option<thread::JoinHandle<()>>,
    /// Set once the log was read (for a failure message): then it is kept after the server stops.
    keep_log: Cell<bool>,
}

impl KmockServer {
    /// Runs `kmock serve --port 0 ARGS...` and waits for its `BOOTSTRAP=host:port` line.
    ///
    /// Panics with the server log if the line does not appear within [`SERVER_START_TIMEOUT`] or
    /// the process exits first.
    pub fn start(args: &[&str]) -> Self {
        let log_filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into());
        Self::start_with_log_filter(args, &log_filter)
    }

    /// [`KmockServer::start`] with an explicit `RUST_LOG` filter for the server (a suite with
    /// hundreds of clients uses `info`: a debug line per request would cost more than the test).
    pub fn start_with_log_filter(args: &[&str], log_filter: &str) -> Self {
        let binary = kmock_binary();
        let log_path = log_dir().join(format!("{}.log", unique_name("kmock-serve")));
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines_tx, lines_rx) = mpsc::channel();
        // Reads stdout to the end so the server never blocks on a full pipe.
        let stdout_reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // After start() returns nobody listens any more; keep draining anyway.
                let _ = lines_tx.send(line);
            }
        });
        let mut server = Self {
            child: Some(child),
            bootstrap: String::new(),
            log_path,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdout_rx: lines_rx,
            stdout_reader: Some(stdout_reader),
            keep_log: Cell::new(false),
        };
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let mut stdout_lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server
                .stdout_rx
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => {
                    if let Some(address) = line.trim().strip_prefix("BOOTSTRAP=") {
                        server.bootstrap = address.to_owned();
                        break;
                    }
                    stdout_lines.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.wait_for_exit(Duration::from_secs(5));
                    server.fail_start(
                        &format!("closed stdout ({status}) without a BOOTSTRAP= line"),
                        &stdout_lines,
                    );
                }
            }
            if let Some(status) = server.try_status() {
                server.fail_start(
                    &format!("exited ({status}) before printing BOOTSTRAP="),
                    &stdout_lines,
                );
            }
            if Instant::now() >= deadline {
                server.fail_start(
                    &format!("printed no BOOTSTRAP= line within {SERVER_START_TIMEOUT:?}"),
                    &stdout_lines,
                );
            }
        }
        server
    }

    fn fail_start(&mut self, what: &str, stdout_lines: &[String]) -> ! {
        self.stop();
        panic!(
            "`kmock serve --port 0 {}` {what}\n--- stdout ---\n{}\n--- server log ({}) ---\n{}",
            self.args.join(" "),
            stdout_lines.join("\n"),
            self.log_path.display(),
            self.log()
        );
    }

    /// The `host:port` to bootstrap clients from.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The file the server's stderr goes to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log so far (for failure messages). Once read, the log file is kept on drop.
    pub fn log(&self) -> String {
        self.keep_log.set(true);
        fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    /// The control API's base URL (`http://host:port`), from the `CONTROL=` line a server started
    /// with `--control-port` prints after `BOOTSTRAP=`. Waits up to [`SERVER_START_TIMEOUT`];
    /// panics with the server log without it. Consumes the stdout lines read so far.
    pub fn control_url(&self) -> String {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .stdout_rx
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("CONTROL=") {
                        return url.to_owned();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed without a CONTROL= line\n{}", self.log())
                }
            }
            assert!(
                Instant::now() < deadline,
                "no CONTROL= line after BOOTSTRAP= within {SERVER_START_TIMEOUT:?}\n{}",
                self.log()
            );
        }
    }

    /// Asserts that a client script run against this server succeeded and the server is still
    /// running; the failure message has the script's output and the server log.
    pub fn assert_script_succeeded(&mut self, script: &str, run: &ScriptRun) {
        let running = self.is_running();
        assert!(
            run.success() && running,
            "{script} against kmock at {} failed (server still running: {running})\n{}\n--- server log ({}) ---\n{}",
            self.bootstrap(),
            run.report(),
            self.log_path().display(),
            self.log()
        );
    }

    /// Lines printed on stdout after the `BOOTSTRAP=` line so far (all of them once stopped).
    pub fn stdout_after_bootstrap(&self) -> Vec<String> {
        self.stdout_rx.try_iter().collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none() && self.child.is_some()
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().ok().flatten()
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_status() {
                return status.to_string();
            }
            thread::sleep(Duration::from_millis(20));
        }
        "still running".into()
    }

    /// Sends SIGTERM and waits up to [`SERVER_STOP_TIMEOUT`]; kills the process if it is still
    /// running then. Returns the exit status (`None` if it had to be killed or was stopped before).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let child = self.child.take()?;
        let status = Self::terminate(child);
        if let Some(reader) = self.stdout_reader.take() {
            // The pipe closed with the process, so the reader ends.
            let _ = reader.join();
        }
        status
    }

    fn terminate(mut child: Child) -> Option<ExitStatus> {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            // The process may have exited in between; then there is nothing to stop.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for KmockServer {
    /// Stops the server. Its log is kept when the test is failing (panicking) or the log was read
    /// for a message, and removed otherwise, so a persistent target dir does not fill up with logs
    /// of passing runs.
    fn drop(&mut self) {
        self.stop();
        if !thread::panicking() && !self.keep_log.get() {
            let _ = fs::remove_file(&self.log_path);
        }
    }
}

/// The virtual environment: `KMOCK_VENV`, else `<workspace>/.venv`.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("KMOCK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

/// `tests/python/`, where the interop scripts and `requirements.txt` live.
pub fn python_dir() -> PathBuf {
    workspace_root().join("tests").join("python")
}

const INSTALL_HINT: &str = "run `bash .ci/run` once, or by hand: \
     `python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt` \
     (set KMOCK_VENV to use another virtual environment)";

/// The virtual environment's Python interpreter, after checking that every package pinned in
/// `tests/python/requirements.txt` is installed at its pinned version. Panics (never skips) with
/// what is missing and how to install it.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = venv_dir();
            let interpreter = venv.join("bin").join("python");
            assert!(
                interpreter.is_file(),
                "no Python virtual environment at {} (missing {}); {INSTALL_HINT}",
                venv.display(),
                interpreter.display()
            );
            let requirements = python_dir().join("requirements.txt");
            let output = Command::new(&interpreter)
                .arg(python_dir().join("check_env.py"))
                .arg(&requirements)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run {}: {e}; {INSTALL_HINT}", interpreter.display())
                });
            assert!(
                output.status.success(),
                "the virtual environment {} does not match {}:\n{}{}\n{INSTALL_HINT}",
                venv.display(),
                requirements.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            interpreter
        })
        .clone()
}

/// What a script run produced.
#[derive(Debug)]
pub struct ScriptRun {
    /// The command line, for messages.
    pub command: String,
    /// Exit status; `None` if the run was killed at its time limit.
    pub status: Option<ExitStatus>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl ScriptRun {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// A readable account of the run for failure messages.
    pub fn report(&self) -> String {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => "killed at its time limit".into(),
        };
        format!(
            "$ {}\n--- status: {status} after {:.1?} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `tests/python/<script> ARGS...` with the venv interpreter; kills it after `timeout`.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> ScriptRun {
    let interpreter = python();
    let path = python_dir().join(script);
    assert!(path.is_file(), "no such script: {}", path.display());
    let mut command = Command::new(&interpreter);
    command
        .arg("-u")
        .arg(&path)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_with_timeout(command, timeout)
}

/// `tests/node/`, where the Node.js interop scripts and their `package.json` live.
pub fn node_dir() -> PathBuf {
    workspace_root().join("tests").join("node")
}

const NODE_INSTALL_HINT: &str = "run `bash .ci/run` once, or by hand: \
     `npm ci --prefix tests/node` (Node.js 18+ and npm: Debian packages nodejs and npm)";

/// The `node` executable, after checking that every dependency pinned in `tests/node/package.json`
/// is installed in `tests/node/node_modules` at its pinned version. Panics (never skips) with what
/// is missing and how to install it.
pub fn node() -> PathBuf {
    static NODE: OnceLock<PathBuf> = OnceLock::new();
    NODE.get_or_init(|| {
        let node = PathBuf::from("node");
        let version = Command::new(&node)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `node --version`: {e}; {NODE_INSTALL_HINT}"));
        assert!(
            version.status.success(),
            "`node --version` failed; {NODE_INSTALL_HINT}"
        );
        let manifest_path = node_dir().join("package.json");
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(&manifest_path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest_path.display())),
        )
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", manifest_path.display()));
        let mut problems = Vec::new();
        if let Some(dependencies) = manifest["dependencies"].as_object() {
            for (name, pinned) in dependencies {
                let installed = node_dir()
                    .join("node_modules")
                    .join(name)
                    .join("package.json");
                let found = fs::read_to_string(&installed)
                    .ok()
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .and_then(|package| package["version"].as_str().map(str::to_owned));
                match found {
                    None => problems.push(format!("{name} is not installed (want {pinned})")),
                    Some(found) if Some(found.as_str()) != pinned.as_str() => {
                        problems.push(format!("{name} {found} is installed, want {pinned}"));
                    }
                    Some(_) => {}
                }
            }
        }
        assert!(
            problems.is_empty(),
            "tests/node/node_modules does not match {}:\n{}\n{NODE_INSTALL_HINT}",
            manifest_path.display(),
            problems.join("\n")
        );
        node
    })
    .clone()
}

/// Runs `tests/node/<script> ARGS...` with `node`; kills it after `timeout`.
pub fn run_node(script: &str, args: &[&str], timeout: Duration) -> ScriptRun {
    let node = node();
    let path = node_dir().join(script);
    assert!(path.is_file(), "no such script: {}", path.display());
    let mut command = Command::new(node);
    command.arg(&path).args(args);
    run_with_timeout(command, timeout)
}

/// Panics unless an executable named `program` is on `PATH`, saying how to install it.
pub fn require_program(program: &str, install_hint: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(found, "`{program}` is not on PATH; {install_hint}");
}

/// Runs `command` with stdin closed and stdout/stderr captured; kills it after `timeout`.
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> ScriptRun {
    let description = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
    let stdout = read_all_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all_in_background(child.stderr.take().expect("stderr is piped"));
    let deadline = started + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child cannot fail") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    ScriptRun {
        command: description,
        status,
        stdout: stdout.join().expect("reader thread does not panic"),
        stderr: stderr.join().expect("reader thread does not panic"),
        elapsed: started.elapsed(),
    }
}

fn read_all_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What reading a response from a connection found.
#[derive(Debug)]
pub enum ReadOutcome {
    /// A whole response frame body (without the length prefix).
    Frame(Bytes),
    /// The peer closed the connection (EOF or reset) before a whole frame arrived.
    Closed {
        /// Bytes that arrived before the close.
        partial: usize,
    },
    /// Nothing conclusive within the timeout.
    TimedOut {
        /// Bytes that arrived before the timeout.
        partial: usize,
    },
}

/// A blocking Kafka connection for raw protocol tests.
#[derive(Debug)]
pub struct KafkaConnection {
    stream: TcpStream,
    next_correlation_id: i32,
}

/// Largest response frame [`KafkaConnection::read_frame`] accepts.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

impl KafkaConnection {
    /// Connects to `bootstrap` (`host:port`).
    pub fn connect(bootstrap: &str) -> Self {
        let stream = TcpStream::connect(bootstrap)
            .unwrap_or_else(|e| panic!("cannot connect to {bootstrap}: {e}"));
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Self {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Closes the write side (the peer reads EOF).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Reads one response frame, or reports a close or a timeout.
    pub fn read_frame(&mut self, timeout: Duration) -> ReadOutcome {
        let deadline = Instant::now() + timeout;
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if buffer.len() >= 4 {
                let len = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
                assert!(
                    len <= MAX_RESPONSE_BYTES,
                    "response frame of {len} bytes is over {MAX_RESPONSE_BYTES}"
                );
                if buffer.len() >= 4 + len {
                    assert_eq!(
                        buffer.len(),
                        4 + len,
                        "more bytes than one response arrived"
                    );
                    return ReadOutcome::Frame(Bytes::copy_from_slice(&buffer[4..]));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return ReadOutcome::TimedOut {
                    partial: buffer.len(),
                };
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set a read timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return ReadOutcome::Closed {
                        partial: buffer.len(),
                    };
                }
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // ECONNRESET and friends: the peer closed with data unread.
                    return ReadOutcome::Closed {
                        partial: buffer.len(),
                    };
                }
            }
        }
    }

    /// Sends `body` at `api_version` and returns the decoded response body; panics on anything else.
    pub fn request<R: Request>(&mut self, body: &R, api_version: i16) -> ResponseKind {
        let api_key = ApiKey::try_from(R::KEY).expect("every Request type has a known key");
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = encode_request(body, api_version, correlation_id, Some("kmock-tests"))
            .unwrap_or_else(|e| panic!("cannot encode {api_key:?} v{api_version}: {e}"));
        self.write_raw(&frame)
            .unwrap_or_else(|e| panic!("cannot send {api_key:?} v{api_version}: {e}"));
        match self.read_frame(Duration::from_secs(10)) {
            ReadOutcome::Frame(frame) => {
                let (got, response) = decode_response(api_key, api_version, frame)
                    .unwrap_or_else(|e| panic!("bad {api_key:?} v{api_version} response: {e}"));
                assert_eq!(
                    got, correlation_id,
                    "correlation id of {api_key:?} response"
                );
                response
            }
            other => panic!("no {api_key:?} v{api_version} response: {other:?}"),
        }
    }

    /// An ApiVersions v3 round trip; panics unless it succeeds with error code 0 and lists
    /// ApiVersions itself.
    pub fn assert_api_versions_works(&mut self) {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kmock-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let ResponseKind::ApiVersions(response) = self.request(&request, 3) else {
            panic!("ApiVersions answered with another response type");
        };
        assert_eq!(response.error_code, 0, "ApiVersions v3 error code");
        assert!(
            response
                .api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::ApiVersions as i16),
            "ApiVersions response does not list ApiVersions: {response:?}"
        );
    }
}

/// The proptest seed of this run of a property suite: `PROPTEST_RNG_SEED` when set (to replay a
/// run), otherwise a fresh random one, so every CI run explores new cases. Printed once per
/// process on stderr with the line that replays the run (nextest shows it with a failure, and CI
/// prints it for passing runs too).
pub fn proptest_seed(suite: &str, cases: u32) -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = std::env::var("PROPTEST_RNG_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                use std::hash::{BuildHasher, Hasher};
                // The standard library's per-process random keys: no extra dependency.
                let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
                hasher.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                hasher.finish()
            });
        // libtest and nextest name the thread after the test.
        let filter = match thread::current().name() {
            Some(test) if test != "main" => format!("binary({suite}) & test({test})"),
            _ => format!("binary({suite})"),
        };
        report_seed(&format!(
            "{suite}: proptest seed {seed}, {cases} cases; replay this run: \
             PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases} cargo nextest run -p kmock-tests -E '{filter}'"
        ));
        seed
    })
}

#[expect(
    clippy::print_stderr,
    reason = "the seed of a property run is how a failure is reproduced: it must be visible"
)]
fn report_seed(line: &str) {
    eprintln!("{line}");
}

/// How to reproduce a generated simulation case: its run summary, its scenario text and the
/// `kmock sim run` line, for a property's failure message.
///
/// The scenario file that line names is written when the message is formatted, which the
/// `prop_assert` macros do only for a failing case: a property suite runs thousands of cases,
/// and writing a file for each left hundreds of megabytes in the temporary directory.
pub struct Reproduction {
    summary: String,
    text: String,
    /// What the file holds (the text with paths made absolute, where the suite needs it).
    saved: String,
    file: PathBuf,
    seed: u64,
}

impl Reproduction {
    /// The reproduction of the case `name` run with `seed`; its file goes to `dir` in the
    /// temporary directory, holding `saved`.
    pub fn new(
        dir: &str,
        name: &str,
        summary: String,
        text: &str,
        saved: String,
        seed: u64,
    ) -> Self {
        Self {
            summary,
            text: text.to_owned(),
            saved,
            file: std::env::temp_dir()
                .join(dir)
                .join(format!("{name}-{seed}.toml")),
            seed,
        }
    }
}

impl std::fmt::Display for Reproduction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(dir) = self.file.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let written = match fs::write(&self.file, &self.saved) {
            Ok(()) => String::new(),
            Err(error) => format!(" (the file could not be written: {error})"),
        };
        write!(
            f,
            "{}\n{}\nreproduce: kmock sim run {} --seed {}{written}",
            self.summary,
            self.text,
            self.file.display(),
            self.seed
        )
    }
}
