//! stderr's log lines: a `tracing` subscriber (text or JSON) on a writer that never fails.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the subscriber for `filter` (already checked) in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
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

/// stderr for the logs, never failing: a reader that closed stderr must not crash the host
/// (tracing-subscriber reports a failed write with `eprintln!`, which panics on a closed pipe).
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
