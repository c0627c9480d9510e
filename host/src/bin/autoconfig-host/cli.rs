//! The command line: options, their checks, and errors as one line on stderr with exit 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use autoconfig_host::COMPONENT_SHA256;
use autoconfig_host::duration::parse_duration;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use relay_autoconfig_types::mask::Last4;
use tracing_subscriber::EnvFilter;

/// What `--help` adds after the options: the stdout contract, the exit codes, and `serve`.
const AFTER_HELP: &str = "\
STDOUT carries one JSON object per line, flushed after each chunk of the stream, and nothing else:
  {\"op\":\"add\",\"env\":ENV}  {\"op\":\"update\",\"env\":ENV}  {\"op\":\"delete\",\"envId\":ID}
  {\"op\":\"ready\"}  {\"op\":\"key-expired\",\"envId\":ID,\"oldKey\":KEY}
  {\"op\":\"reset\"} (the state was lost: reconcile at the next ready)
  ENV = {envId, envKey, envName, projectKey, projectName, sdkKey, mobileKey,
         expiringSdkKey: {key, expiresAt} | null, defaultTtlMinutes, secureMode, version}
Logs go to stderr; keys are shown by their last 4 characters only.

Give the key in AUTO_CONFIG_KEY or with --key-file: --key puts it in the process list.

EXIT CODES: 0 clean shutdown (SIGINT, SIGTERM, end of the --demo story); 1 the key was refused
(401/403 on the first connection); 2 bad usage or configuration (one line names it); 3 any
other fatal error (stdout closed or failing included: restart the pair).

`autoconfig-host serve` is a test server: it plays a script of events on 127.0.0.1, for trying
an embedding without an account.";

/// Runs the relay-autoconfig component on an auto-configuration stream and prints each handler
/// callback on stdout as a JSON line.
// No `Debug`: it holds the key.
#[derive(Parser)]
#[command(name = "autoconfig-host", version = VERSION.as_str(), about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The auto-configuration key, sent raw in Authorization. Prefer AUTO_CONFIG_KEY or
    /// --key-file: a key in argv is visible to every user (ps, /proc).
    #[arg(long, env = "AUTO_CONFIG_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Read the auto-configuration key from this file (surrounding whitespace ignored).
    #[arg(long, env = "AUTO_CONFIG_KEY_FILE", hide_env_values = true)]
    pub key_file: Option<PathBuf>,
    /// The stream base URI; /relay_auto_config is appended.
    #[arg(
        long,
        env = "STREAM_URI",
        hide_env_values = true,
        default_value = "https://stream.launchdarkly.com"
    )]
    pub stream_uri: String,
    /// First reconnect delay (doubles up to 30 s; at least 100ms), e.g. 500ms, 1.5s, 1m30s.
    #[arg(long, default_value = "1s", value_parser = parse_ms_duration, allow_hyphen_values = true)]
    pub initial_retry_delay: Duration,
    /// Reconnect when nothing (not even a heartbeat) arrives for this long.
    #[arg(long, default_value = "5m", value_parser = parse_ms_duration, allow_hyphen_values = true)]
    pub read_timeout: Duration,
    /// Run this build of the component instead of the one embedded in this program.
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// Keep the compiled component here and reuse it on the next start (verified by its
    /// SHA-256); `none` turns the cache off. Default: $XDG_CACHE_HOME/autoconfig-host or
    /// ~/.cache/autoconfig-host.
    #[arg(long, env = "AUTOCONFIG_CACHE_DIR", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,
    /// Log level for stderr: error, warn, info, debug, trace, none, or a filter such as
    /// info,autoconfig=debug. Also read from LOG_LEVEL (as ld-relay) or else RUST_LOG.
    #[arg(long, env = "LOG_LEVEL", hide_env_values = true, value_parser = parse_log_level)]
    pub log_level: Option<String>,
    /// Log format for stderr: text, or json (one object per line).
    #[arg(long, env = "LOG_FORMAT", hide_env_values = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Extra CA certificates (PEM) to trust for the stream.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Keep the last known environments in this file (written atomically, mode 0600, at most
    /// once a second and at shutdown); at start they are restored and printed before the
    /// stream answers.
    #[arg(long, env = "AUTOCONFIG_STATE_FILE", hide_env_values = true)]
    pub state_file: Option<PathBuf>,
    /// Event data over this many bytes is treated as malformed.
    #[arg(
        long,
        default_value_t = autoconfig_host::DEFAULT_MAX_MESSAGE_BYTES,
        value_parser = clap::value_parser!(u64).range(1024..=128 * 1024 * 1024)
    )]
    pub max_message_bytes: u64,
    /// Serve /healthz, /readyz, /status and /metrics on this address (e.g. 127.0.0.1:9090).
    /// Off by default; /status names environments, so keep it off public interfaces.
    #[arg(long, env = "AUTOCONFIG_LISTEN", hide_env_values = true)]
    pub listen: Option<SocketAddr>,
    /// Play a built-in story on a local stream (no key or network needed), then exit 0.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: play this script instead of the built-in story.
    #[arg(long, requires = "demo")]
    pub script: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The options given on the command line, by ID (`"key"`).
    #[arg(skip)]
    pub in_argv: Vec<String>,
    /// The options whose value came from an environment variable: (option ID, variable).
    #[arg(skip)]
    pub from_env: Vec<(String, String)>,
}

impl Cli {
    /// Whether option `id` (`"stream_uri"`) was given on the command line.
    pub fn on_command_line(&self, id: &str) -> bool {
        self.in_argv.iter().any(|arg| arg == id)
    }

    /// How to name option `id` (`"stream_uri"`) in a message: by the environment variable it
    /// was read from (`STREAM_URI`), else by its flag (`--stream-uri`). An operator who set the
    /// variable must not be sent looking for a flag they never typed.
    pub fn name_of(&self, id: &str) -> String {
        match self.variable_of(id) {
            Some(var) => var.to_owned(),
            None => format!("--{}", id.replace('_', "-")),
        }
    }

    /// The environment variable option `id` was read from, if it was.
    pub fn variable_of(&self, id: &str) -> Option<&str> {
        self.from_env
            .iter()
            .find(|(arg, _)| arg == id)
            .map(|(_, var)| var.as_str())
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A test server: serve a script of events as an auto-configuration stream on 127.0.0.1
    /// until stopped.
    Serve {
        /// The script (JSON); default: the built-in demo story.
        #[arg(long)]
        script: Option<PathBuf>,
        /// The port (0 picks a free one; the address is printed on stderr).
        #[arg(long, default_value_t = 8030)]
        port: u16,
    },
}

/// How stderr's log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's format).
    Json,
}

/// The program's and the embedded component's versions, for `--version`.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (component sha256 {COMPONENT_SHA256})",
        env!("CARGO_PKG_VERSION")
    )
});

/// Parses the command line. `Err` is the exit code after `--help` or `--version` (0) or after
/// a usage error, written as one line that never shows an unexpected argument in full (it may
/// be a key pasted in the wrong place).
pub fn parse() -> Result<Cli, ExitCode> {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return Err(clap_error(&e)),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return Err(clap_error(&e)),
    };
    for arg in Cli::command().get_arguments() {
        let id = arg.get_id().as_str();
        match (matches.value_source(id), arg.get_env()) {
            (Some(ValueSource::CommandLine), _) => cli.in_argv.push(id.to_owned()),
            (Some(ValueSource::EnvVariable), Some(var)) => cli
                .from_env
                .push((id.to_owned(), var.to_string_lossy().into_owned())),
            _ => {}
        }
    }
    Ok(cli)
}

/// The environment variable a rejected value came from, when clap's error is about an option
/// (`--log-level <LOG_LEVEL>`) that was not on the command line but has its variable set.
fn env_source(e: &clap::Error) -> Option<(String, String)> {
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let command = Cli::command();
    let var = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_owned();
    let flag = format!("--{long}");
    let typed = std::env::args_os().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    if typed || std::env::var_os(&var).is_none() {
        return None;
    }
    Some((arg.clone(), var.to_string_lossy().into_owned()))
}

/// Prints a clap error: help and version as clap does; anything else as one line, exit 2.
fn clap_error(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    let rendered = e.render().to_string();
    // The first line, plus what clap puts on the next ones that names the problem (the missing
    // arguments, the possible values); not the usage and the tips.
    let mut parts: Vec<String> = Vec::new();
    for text in rendered.lines().map(str::trim) {
        if text.is_empty() || text.starts_with("Usage:") || text.starts_with("For more") {
            continue;
        }
        if text.starts_with("tip:") {
            continue;
        }
        parts.push(text.trim_start_matches("error: ").to_owned());
    }
    let mut line = parts.join(" ");
    if let Some((arg, var)) = env_source(e) {
        line = line.replace(
            &format!("'{arg}'"),
            &format!("{var} (environment variable)"),
        );
    }
    // A value that may be a secret pasted in the wrong place (a key given to another option,
    // or as a stray argument) is shown by its last 4 characters: anything long, and any stray
    // word that is not an option.
    for kind in [
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
        ContextKind::InvalidValue,
    ] {
        if let Some(ContextValue::String(arg)) = e.get(kind)
            && !arg.starts_with('-')
            && (kind != ContextKind::InvalidValue || looks_like_a_key(arg))
        {
            line = line.replace(arg.as_str(), &format!("…{}", Last4(arg.trim())));
        }
    }
    usage(&format!("{line} (see --help)"))
}

/// A duration of whole milliseconds or more (or 0): the component counts in milliseconds, so a
/// `1ns` would silently become 0.
fn parse_ms_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text).map_err(|e| e.to_string())?;
    if d > Duration::ZERO && d < Duration::from_millis(1) {
        return Err(format!("{text:?} is shorter than 1ms"));
    }
    Ok(d)
}

/// A log level (`error`, `warn`, `info`, `debug`, `trace`, `off`/`none`) or a `tracing` filter
/// with directives (`info,autoconfig=debug`). A misspelt level is refused: it would silence
/// every line, the fatal ones included.
pub fn parse_log_level(text: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let lower = text.trim().to_ascii_lowercase();
    let lower = if lower == "none" {
        "off".to_owned()
    } else {
        lower
    };
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    let directives: Vec<&str> = lower.split(',').map(str::trim).collect();
    let valid = directives.iter().all(|d| match d.split_once('=') {
        Some((target, level)) => !target.is_empty() && LEVELS.contains(&level),
        None => LEVELS.contains(d),
    });
    if valid && EnvFilter::try_new(&lower).is_ok() {
        Ok(lower)
    } else {
        Err(format!(
            "{:?} is not a log level: use error, warn, info, debug, trace or none (or a filter such as info,autoconfig=debug)",
            one_line(text)
        ))
    }
}

/// The log filter: `--log-level`/`LOG_LEVEL`, else `RUST_LOG`, else `info`.
pub fn log_filter(cli: &Cli) -> Result<String, String> {
    if let Some(level) = &cli.log_level {
        return Ok(level.clone());
    }
    match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => {
            parse_log_level(&text).map_err(|e| format!("RUST_LOG: {e}"))
        }
        _ => Ok("info".to_owned()),
    }
}

/// The key, from `--key`/`AUTO_CONFIG_KEY` or `--key-file`/`AUTO_CONFIG_KEY_FILE`; `Ok(None)`
/// when neither is given. An empty (or blank) key counts as not given, as `AUTO_CONFIG_KEY=`
/// from a compose file's `${AUTO_CONFIG_KEY}` is; both given is an error naming both.
pub fn key(cli: &Cli) -> Result<Option<String>, String> {
    resolve_key(cli, true)
}

/// The key for `--demo`: from the command line only. The variables are for a real stream; the
/// demo ignores them (with a warning, [`ignored_by_the_demo`]).
pub fn demo_key(cli: &Cli) -> Result<Option<String>, String> {
    resolve_key(cli, false)
}

/// The options `--demo` ignores because they came from the environment, by variable.
pub fn ignored_by_the_demo(cli: &Cli) -> Vec<&str> {
    ["stream_uri", "key", "key_file"]
        .into_iter()
        .filter_map(|id| cli.variable_of(id))
        .collect()
}

/// [`key`], from the environment too when `with_env`.
fn resolve_key(cli: &Cli, with_env: bool) -> Result<Option<String>, String> {
    let given = |id: &str| with_env || cli.on_command_line(id);
    let key = given_key(cli).filter(|_| given("key"));
    let key_file = cli.key_file.as_ref().filter(|_| given("key_file"));
    match (key, key_file) {
        (Some(_), Some(_)) => Err(format!(
            "{} and {} both give the key: give it once",
            cli.name_of("key"),
            cli.name_of("key_file")
        )),
        (Some(key), None) => Ok(Some(key)),
        (None, Some(path)) => read_key_file(path, &cli.name_of("key_file")).map(Some),
        (None, None) => Ok(None),
    }
}

/// `--key`/`AUTO_CONFIG_KEY` unless empty or blank.
fn given_key(cli: &Cli) -> Option<String> {
    cli.key.clone().filter(|k| !k.trim().is_empty())
}

/// The largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads the key file `path`; errors start with `option`, how the path was given.
fn read_key_file(path: &Path, option: &str) -> Result<String, String> {
    use std::io::Read;
    let fail = |why: &dyn std::fmt::Display| format!("{option} {}: {why}", shown_path(path));
    let file = autoconfig_host::state_file::open_for_reading(path).map_err(|e| fail(&e))?;
    if !file.metadata().map_err(|e| fail(&e))?.is_file() {
        return Err(fail(&"it is not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(&e))?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(fail(&"it is larger than 64 KiB: not a key"));
    }
    let key = text.trim_start_matches('\u{feff}').trim();
    if key.is_empty() {
        return Err(fail(&"it is empty"));
    }
    if key.contains(['\n', '\r']) {
        return Err(fail(&"it holds more than one line"));
    }
    Ok(key.to_owned())
}

/// Long and made of the characters keys are made of (letters, digits, `-`, `_`).
/// Surrounding whitespace does not count: a key pasted with a trailing space is still a key.
fn looks_like_a_key(text: &str) -> bool {
    let text = text.trim();
    text.chars().count() >= 16
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A path as given, unless it looks like a key pasted in its place (no `/` or `.`, long): then
/// only its last 4 characters.
fn shown_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if looks_like_a_key(&text) {
        format!("…{}", Last4(text.trim()))
    } else {
        text.into_owned()
    }
}

/// Warnings about how the key was given, once logging is set up.
pub fn key_warnings(cli: &Cli) {
    if cli.on_command_line("key") {
        tracing::warn!(
            "--key puts the key in the process's command line, where every user of this machine can read it (ps, /proc); give it in AUTO_CONFIG_KEY or with --key-file instead"
        );
    }
    #[cfg(unix)]
    if let Some(path) = &cli.key_file {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "The key file {} can be read by other users (mode {:o}); make it 0600",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
}

/// The compiled-component cache: `--cache-dir`, `none` for no cache, else the user's cache
/// directory.
pub fn cache_dir(cli: &Cli) -> Option<PathBuf> {
    match &cli.cache_dir {
        Some(dir) if dir.as_os_str() == "none" => None,
        Some(dir) => Some(dir.clone()),
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("autoconfig-host"))
        }
    }
}

/// The first line of a message, cut to 300 characters (wasmtime's errors can be long dumps).
pub fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or("");
    match first.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &first[..end]),
        None => first.to_owned(),
    }
}

/// One line on stderr, exit 2.
pub fn usage(message: &str) -> ExitCode {
    use std::io::Write;
    // Not `eprintln!`: it panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "autoconfig-host: {}", one_line(message));
    ExitCode::from(2)
}

/// A component option error in the words the operator used: `read-timeout-ms: ...` becomes
/// `--read-timeout: ...`, and `stream-uri: ...` becomes `STREAM_URI: ...` when the URI came
/// from that variable.
pub fn flag_names(cli: &Cli, reason: &str) -> String {
    let flags = [
        ("read-timeout-ms", "read_timeout"),
        ("initial-retry-delay-ms", "initial_retry_delay"),
        ("stream-uri", "stream_uri"),
        ("key", "key"),
    ];
    for (option, id) in flags {
        if let Some(rest) = reason.strip_prefix(option) {
            let name = match (id, &cli.key_file) {
                // The key was read from a file: name the file, not `--key`.
                ("key", Some(path)) if given_key(cli).is_none() => {
                    format!("{} {}", cli.name_of("key_file"), shown_path(path))
                }
                _ => cli.name_of(id),
            };
            // A key pasted in the place of the stream URI is shown by its last 4 characters.
            let uri = cli.stream_uri.as_str();
            let rest = if id == "stream_uri" && looks_like_a_key(uri) {
                rest.replace(uri, &format!("…{}", Last4(uri.trim())))
            } else {
                rest.to_owned()
            };
            return format!("{name}{rest}");
        }
    }
    reason.to_owned()
}
