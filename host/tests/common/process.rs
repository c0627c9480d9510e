//! The `autoconfig-host` binary as a child process: its output collected, its exit awaited with a
//! deadline, killed on drop.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use autoconfig_host::output::CallLine;

use super::poll_until_blocking;

/// The runner binary built with this package.
pub const BIN: &str = env!("CARGO_BIN_EXE_autoconfig-host");

/// The longest a child may take to finish: the demo story plays for about 9 s, and the binary
/// compiles the component at startup.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// A running `autoconfig-host` whose stdout and stderr are collected by two threads. Killed and
/// reaped on drop if it is still running.
pub struct Host {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Host {
    /// Starts the binary with `args` and none of its environment variables set.
    pub fn start(args: &[&str]) -> Host {
        Host::start_closing(args, None)
    }

    /// Like [`Host::start`], with the reader of stdout or stderr gone from the start.
    pub fn start_closing(args: &[&str], closed: Option<Pipe>) -> Host {
        Host::spawn(Host::command(BIN, args), closed)
    }

    /// The command [`Host::start`] runs: `bin` with `args`, none of the host's environment
    /// variables set (a key, a stream URI, log settings) except a compiled-component cache
    /// shared by the test binary, no proxy for 127.0.0.1, stdin empty.
    pub fn command(bin: &str, args: &[&str]) -> Command {
        let mut command = Command::new(bin);
        command.args(args);
        for name in [
            "AUTO_CONFIG_KEY",
            "AUTO_CONFIG_KEY_FILE",
            "STREAM_URI",
            "RUST_LOG",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "AUTOCONFIG_STATE_FILE",
            "AUTOCONFIG_LISTEN",
        ] {
            command.env_remove(name);
        }
        command
            .env("AUTOCONFIG_CACHE_DIR", cache_dir())
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts `command`; its stdout and stderr (when piped) are collected, except `closed`.
    pub fn spawn(mut command: Command, closed: Option<Pipe>) -> Host {
        let mut child = command.spawn().expect("the autoconfig-host binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take()
            && !matches!(closed, Some(Pipe::Stdout))
        {
            readers.push(collect(out, &stdout));
        }
        if let Some(err) = child.stderr.take()
            && !matches!(closed, Some(Pipe::Stderr))
        {
            readers.push(collect(err, &stderr));
        }
        Host {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the child.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit (failing after [`CHILD_DEADLINE`]) and for its output.
    pub fn wait(&mut self) -> ExitStatus {
        let mut status = None;
        let exited = poll_until_blocking(CHILD_DEADLINE, || {
            status = self.child.try_wait().expect("try_wait works");
            status.is_some()
        });
        assert!(
            exited,
            "autoconfig-host did not exit in time; stderr:\n{}",
            self.stderr()
        );
        for reader in self.readers.drain(..) {
            reader.join().expect("an output reader does not panic");
        }
        status.expect("the child exited")
    }

    /// Waits for the child's exit code.
    pub fn code(&mut self) -> i32 {
        let status = self.wait();
        status
            .code()
            .unwrap_or_else(|| panic!("no exit code (killed by a signal?): {status:?}"))
    }

    pub fn stdout(&self) -> String {
        String::from_utf8(self.stdout.lock().expect("not poisoned").clone())
            .expect("stdout is UTF-8")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("not poisoned")).into_owned()
    }
}

/// The compiled-component cache the test binary's children share (in cargo's temporary
/// directory for integration tests).
pub fn cache_dir() -> String {
    format!("{}/component-cache", env!("CARGO_TARGET_TMPDIR"))
}

/// One of the child's output pipes.
#[derive(Clone, Copy)]
pub enum Pipe {
    Stdout,
    Stderr,
}

impl Drop for Host {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies `from` into `into` until EOF, on a thread.
pub fn collect(mut from: impl Read + Send + 'static, into: &Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    let into = Arc::clone(into);
    std::thread::spawn(move || {
        let mut buf = [0_u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into
                    .lock()
                    .expect("not poisoned")
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// Parses stdout: it must end with a newline, and each line must be one JSON object of the
/// contract.
pub fn call_lines(stdout: &str) -> Vec<CallLine> {
    assert!(
        stdout.is_empty() || stdout.ends_with('\n'),
        "stdout ends with a complete line: {stdout:?}"
    );
    stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            assert!(value.is_object(), "not a JSON object: {line:?}");
            serde_json::from_value(value)
                .unwrap_or_else(|e| panic!("not a contract line ({e}): {line:?}"))
        })
        .collect()
}

/// A tokio runtime for the test servers of a blocking test.
pub fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
