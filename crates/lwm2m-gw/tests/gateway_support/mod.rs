//! Helpers for the `lwm2m-gw run` / `demo` tests: any subcommand of the real binary as a child
//! process whose stdout lines can be awaited (killed on drop), and temporary directories
//! removed on drop.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Upper bound of every wait for a line.
pub const WAIT: Duration = Duration::from_secs(30);

/// A fresh directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `lwm2m-gw-<name>-<pid>-<nanos>` under the system temp dir.
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("lwm2m-gw-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A path inside.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary running one subcommand; killed on drop.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
    name: String,
}

impl Proc {
    /// Starts the binary with `args`; stderr goes to `log`.
    pub fn start(name: &str, args: &[&str], log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"));
        command.args(args).env("RUST_LOG", "debug");
        Self::spawn(name, command, log)
    }

    /// Starts `command` (any program); stderr goes to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new(), name: name.to_owned() }
    }

    /// Waits (bounded by `timeout`) for a line for which `pred` holds.
    pub fn wait_line_within(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("{}: no such line within {timeout:?}; seen: {:#?}", self.name, self.seen),
            }
        }
    }

    /// Waits (bounded) for a line for which `pred` holds.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_line_within(WAIT, pred)
    }

    /// The address of a `<face> listening on <addr>` line.
    pub fn address(&mut self, face: &str) -> SocketAddr {
        let prefix = format!("{face} listening on ");
        let line = self.wait_line(|l| l.starts_with(&prefix));
        line[prefix.len()..].trim().parse().expect("a socket address")
    }

    /// Every remaining stdout line and the exit status, waiting at most `timeout`.
    pub fn finish(&mut self, timeout: Duration) -> (Vec<String>, ExitStatus) {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread may still hold the last lines.
                std::thread::sleep(Duration::from_millis(50));
                while let Ok(line) = self.lines.try_recv() {
                    self.seen.push(line);
                }
                return (self.seen.clone(), status);
            }
            assert!(Instant::now() < deadline, "{} did not exit within {timeout:?}; seen: {:#?}", self.name, self.seen);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process at once (SIGKILL: no de-registration) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
        let (_, status) = self.finish(Duration::from_secs(15));
        assert!(status.success(), "{} exits cleanly on SIGTERM: {status}", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, at most `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
