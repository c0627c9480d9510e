//! stderr's log lines: a `tracing` subscriber (text or JSON) on a writer that never fails.

use std::io::Write;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the subscriber for `filter` (already checked) in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(LogWriters)
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// The least severe level stderr shows, so the component does not format or send lines that
/// would be filtered out anyway.
pub fn component_log_level() -> autoconfig_host::Level {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::TRACE => autoconfig_host::Level::Trace,
        LevelFilter::DEBUG => autoconfig_host::Level::Debug,
        LevelFilter::INFO => autoconfig_host::Level::Info,
        LevelFilter::WARN => autoconfig_host::Level::Warn,
        _ => autoconfig_host::Level::Error,
    }
}

/// Makes the [`LogWriter`] of each log line: held back when the line comes from the component
/// (target `autoconfig`), written at once otherwise.
struct LogWriters;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriters {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter { hold: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogWriter {
        LogWriter {
            hold: meta.target() == "autoconfig",
        }
    }
}

thread_local! {
    /// The component's log lines of the call in progress on this thread, not written yet.
    static HELD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Held lines are written early past this size, so that a huge call cannot hold much memory.
const MAX_HELD: usize = 1 << 20;

/// Writes the component's log lines of the call that just ended in one write (the handler calls
/// this after every call into the component): a put of 10,000 environments logs 10,000 lines,
/// one write instead of 10,000.
pub fn release_held() {
    let held = HELD.try_with(|h| std::mem::take(&mut *h.borrow_mut()));
    if let Ok(bytes) = held
        && !bytes.is_empty()
    {
        let _ = std::io::stderr().write_all(&bytes);
    }
}

/// stderr for the logs, never failing: a reader that closed stderr must not crash the host
/// (tracing-subscriber reports a failed write with `eprintln!`, which panics on a closed pipe).
/// A component line is held until the call ends ([`release_held`]).
struct LogWriter {
    hold: bool,
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let held = self.hold
            && HELD
                .try_with(|h| {
                    let mut h = h.borrow_mut();
                    h.extend_from_slice(buf);
                    h.len() > MAX_HELD
                })
                .map(|full| {
                    if full {
                        release_held();
                    }
                })
                .is_ok();
        if !held {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.hold {
            let _ = std::io::stderr().flush();
        }
        Ok(())
    }
}
