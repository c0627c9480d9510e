//! SIGINT, SIGTERM and SIGHUP: a clean shutdown from the first moment (exit 0, the state file
//! saved), never death by the signal.

/// The shutdown signals, registered when created (tokio's `ctrl_c` registers on first poll
/// only).
pub struct Signals {
    #[cfg(unix)]
    listeners: Vec<(&'static str, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Registers the listeners now.
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listeners = [
                ("SIGINT", SignalKind::interrupt()),
                ("SIGTERM", SignalKind::terminate()),
                ("SIGHUP", SignalKind::hangup()),
            ]
            .into_iter()
            .filter_map(|(name, kind)| signal(kind).ok().map(|s| (name, s)))
            .collect();
            Signals { listeners }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves when a signal arrives (or arrived since `install`), with its name.
    pub async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            if self.listeners.is_empty() {
                return std::future::pending().await;
            }
            let waits = self
                .listeners
                .iter_mut()
                .map(|(name, l)| Box::pin(async move { l.recv().await.map(|_| *name) }));
            let (got, _, _) = futures_util::future::select_all(waits).await;
            got.unwrap_or("a signal")
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// After the first shutdown signal, gives the shutdown `grace` to finish, then exits with 0
/// anyway: the runner may be stuck writing to a stdout or a stderr nobody reads (its thread
/// blocked in the write), and a supervisor's stop must not hang on it. Runs on the runtime's
/// worker threads. The warning it logs first may itself block on a full stderr: it gets
/// [`WARNING_WAIT`] on a thread of its own, then the process exits regardless.
pub fn exit_if_shutdown_stalls(grace: std::time::Duration) {
    let mut signals = Signals::install();
    tokio::spawn(async move {
        signals.wait().await;
        tokio::time::sleep(grace).await;
        let (logged, wait) = std::sync::mpsc::channel();
        let secs = grace.as_secs();
        std::thread::spawn(move || {
            tracing::warn!(
                "The shutdown did not finish within {secs} s (is stdout or stderr blocked?); exiting now: the last output line may be incomplete and the state file was not saved"
            );
            let _ = logged.send(());
        });
        let _ = wait.recv_timeout(WARNING_WAIT);
        std::process::exit(0);
    });
}

/// How long the stalled-shutdown warning may take to write before the process exits anyway.
const WARNING_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
