//! SIGINT and SIGTERM: a clean shutdown from the first moment (exit 0), never death by the
//! signal.

/// SIGINT and SIGTERM, registered when created (tokio's `ctrl_c` registers on first poll only).
pub struct Signals {
    #[cfg(unix)]
    listeners: Vec<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listeners = [SignalKind::interrupt(), SignalKind::terminate()]
                .into_iter()
                .filter_map(|kind| signal(kind).ok())
                .collect();
            Signals { listeners }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves when either signal arrives (or arrived since `install`).
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            if self.listeners.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.listeners.iter_mut().map(|l| Box::pin(l.recv()));
            let _ = futures_util::future::select_all(waits).await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// After the first SIGINT/SIGTERM, gives the shutdown `grace` to finish, then exits with 0
/// anyway: the runner may be stuck writing to a stdout nobody reads (its thread blocked in the
/// write), and a supervisor's stop must not hang on it. Runs on the runtime's worker threads.
pub fn exit_if_shutdown_stalls(grace: std::time::Duration) {
    let mut signals = Signals::install();
    tokio::spawn(async move {
        signals.wait().await;
        tokio::time::sleep(grace).await;
        tracing::warn!(
            "The shutdown did not finish within {} s (is stdout blocked?); exiting now: the last output line may be incomplete and the state file was not saved",
            grace.as_secs()
        );
        std::process::exit(0);
    });
}
