//! The WebAssembly component: translates between the WIT contract and [`crate::Machine`].
//! Nothing here decides anything.

use alloc::string::String;
use core::cell::RefCell;
use core::fmt::{self, Write};

use crate::batch::Callbacks;
use crate::{
    Batch, Client, Directive, EnvironmentParams, ExpiringKey, Handler, Level, RestartReason,
    Settings, Step, StopReason, StreamOptions,
};

wit_bindgen::generate!({
    path: "../wit",
    world: "autoconfig",
    generate_all,
});

use exports::relay::autoconfig::batch::Guest as BatchGuest;
use exports::relay::autoconfig::client::Guest as ClientGuest;
use exports::relay::autoconfig::state::Guest as StateGuest;
use exports::relay::autoconfig::stream_client::Guest as StreamGuest;
use relay::autoconfig::{handler, types};
use wasi::logging::logging;

// The memory primitives (`memcpy`, `memcmp`, ...) that `core` expects come from wasi-libc's
// static library, which ships with the target; nothing else of libc is linked, so it adds no
// imports.
#[link(name = "c")]
unsafe extern "C" {}

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The component model's allocation entry point, which the host calls to pass strings and lists
/// in. Without `std`, nothing else provides it on `wasm32-wasip2`.
///
/// # Safety
/// Called by the canonical ABI only, with a pointer and length it got from an earlier call.
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        return align as *mut u8;
    }
    let ptr = match Layout::from_size_align(old_len.max(new_len), align) {
        // SAFETY: the layout is valid and non-zero-sized; a non-zero `old_len` means `old_ptr`
        // came from this allocator with that size and alignment.
        Ok(_) if old_len == 0 => unsafe {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        },
        Ok(_) => unsafe {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        },
        Err(_) => core::ptr::null_mut(),
    };
    if ptr.is_null() {
        // Out of memory (or a host-side memory limit): trap, the host sees an error.
        core::arch::wasm32::unreachable();
    }
    ptr
}

/// The log context of every line the component writes.
const LOG_CONTEXT: &str = "autoconfig";

/// A panic is a bug: report it through the host's log, then trap.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut message = String::new();
    let _ = write!(message, "relay-autoconfig component panicked: {info}");
    logging::log(logging::Level::Critical, LOG_CONTEXT, &message);
    core::arch::wasm32::unreachable()
}

/// A component instance runs on one thread; the client lives for the instance's lifetime.
struct State(RefCell<Option<Client>>);

// SAFETY: a component instance is single-threaded (no wasm threads are enabled), so `State` is
// never accessed from two threads at once.
unsafe impl Sync for State {}

static STATE: State = State(RefCell::new(None));

fn with_client<T>(f: impl FnOnce(&mut Client) -> T) -> T {
    let mut slot = STATE.0.borrow_mut();
    f(slot.get_or_insert_with(Client::new))
}

/// The instance's batch buffer (the WIT `batch` interface).
struct Lines(RefCell<Batch>);

// SAFETY: as for `State`.
unsafe impl Sync for Lines {}

static LINES: Lines = Lines(RefCell::new(Batch::new()));

/// Runs `f` with the client and the handler of this call: the imports, or the batch buffer
/// when batching is on.
fn with_handler<T>(f: impl FnOnce(&mut Client, &mut Callbacks<'_, Imports>) -> T) -> T {
    let mut batch = LINES.0.borrow_mut();
    let mut callbacks = batch.callbacks(Imports);
    with_client(|c| f(c, &mut callbacks))
}

/// The buffer each log line is formatted into.
struct LogLine(RefCell<String>);

// SAFETY: as for `State`.
unsafe impl Sync for LogLine {}

static LOG_LINE: LogLine = LogLine(RefCell::new(String::new()));

/// Forwards the machine's callbacks to the imported `handler` and `wasi:logging`.
struct Imports;

impl Handler for Imports {
    fn add_environment(&mut self, params: EnvironmentParams) {
        handler::add_environment(&to_wit(params));
    }

    fn update_environment(&mut self, params: EnvironmentParams) {
        handler::update_environment(&to_wit(params));
    }

    fn delete_environment(&mut self, env_id: &str) {
        handler::delete_environment(env_id);
    }

    fn received_all_environments(&mut self) {
        handler::received_all_environments();
    }

    fn key_expired(&mut self, env_id: &str, old_key: &str) {
        handler::key_expired(env_id, old_key);
    }

    fn log(&mut self, level: Level, message: fmt::Arguments<'_>) {
        let level = match level {
            Level::Debug => logging::Level::Debug,
            Level::Info => logging::Level::Info,
            Level::Warn => logging::Level::Warn,
            Level::Error => logging::Level::Error,
        };
        // One buffer for every line, kept at its capacity: no allocation or growth per line
        // (a `put` logs a line per environment).
        let mut text = LOG_LINE.0.borrow_mut();
        text.clear();
        let _ = text.write_fmt(message);
        logging::log(level, LOG_CONTEXT, &text);
    }
}

fn to_wit(p: EnvironmentParams) -> types::EnvironmentParams {
    types::EnvironmentParams {
        env_id: p.env_id,
        env_key: p.env_key,
        env_name: p.env_name,
        project_key: p.project_key,
        project_name: p.project_name,
        sdk_key: p.sdk_key,
        mobile_key: p.mobile_key,
        expiring_sdk_key: p
            .expiring_sdk_key
            .map(|ExpiringKey { key, expires_at }| types::ExpiringKey { key, expires_at }),
        default_ttl_minutes: p.default_ttl_minutes,
        secure_mode: p.secure_mode,
        version: p.version,
    }
}

struct Component;

impl ClientGuest for Component {
    fn configure(settings: types::Settings) {
        with_client(|m| {
            m.configure(Settings {
                max_tombstones: settings.max_tombstones,
                max_state_bytes: settings.max_state_bytes,
                max_message_bytes: settings.max_message_bytes,
                log_level: match settings.log_level {
                    logging::Level::Trace | logging::Level::Debug => Level::Debug,
                    logging::Level::Info => Level::Info,
                    logging::Level::Warn => Level::Warn,
                    logging::Level::Error | logging::Level::Critical => Level::Error,
                },
            })
        });
    }

    fn on_event(name: String, data: String, now: u64) -> types::Directive {
        let Directive {
            restart,
            next_deadline,
        } = with_handler(|m, h| m.on_event(&name, &data, now, h));
        types::Directive {
            restart: restart.map(|r| match r {
                RestartReason::ReconnectRequested => types::RestartReason::ReconnectRequested,
                RestartReason::MalformedData => types::RestartReason::MalformedData,
            }),
            next_deadline,
        }
    }

    fn tick(now: u64) -> Option<u64> {
        with_handler(|m, h| m.tick(now, h))
    }

    fn counters() -> types::EventCounters {
        let c = with_client(|m| m.counters());
        types::EventCounters {
            put_events: c.put_events,
            patch_events: c.patch_events,
            delete_events: c.delete_events,
            reconnect_events: c.reconnect_events,
            other_events: c.other_events,
            malformed_events: c.malformed_events,
            last_event_at: c.last_event_at,
        }
    }
}

fn to_wit_step(step: Step) -> types::Step {
    types::Step {
        disconnect: step.disconnect,
        connect: step.connect.map(|r| types::Request {
            url: r.url,
            headers: r.headers,
        }),
        stop: step
            .stop
            .map(|StopReason::InvalidKey| types::StopReason::InvalidKey),
        next_deadline: step.next_deadline,
        last_event_id: step.last_event_id,
    }
}

impl StreamGuest for Component {
    fn start(options: types::StreamOptions, now: u64) -> Result<types::Step, String> {
        let options = StreamOptions {
            key: options.key,
            stream_uri: options.stream_uri,
            initial_retry_delay_ms: options.initial_retry_delay_ms,
            read_timeout_ms: options.read_timeout_ms,
            jitter_seed: options.jitter_seed,
            last_event_id: options.last_event_id,
            prior_failures: options.prior_failures,
        };
        with_handler(|c, h| c.start(&options, now, h)).map(to_wit_step)
    }

    fn on_response(
        status: u16,
        content_type: Option<String>,
        location: Option<String>,
        now: u64,
    ) -> types::Step {
        to_wit_step(with_handler(|c, h| {
            c.on_response(status, content_type.as_deref(), location.as_deref(), now, h)
        }))
    }

    fn on_body(chunk: alloc::vec::Vec<u8>, now: u64) -> types::Step {
        to_wit_step(with_handler(|c, h| c.on_body(&chunk, now, h)))
    }

    fn on_body_text(chunk: String, now: u64) -> types::Step {
        to_wit_step(with_handler(|c, h| c.on_body(chunk.as_bytes(), now, h)))
    }

    fn on_closed(error: Option<String>, now: u64) -> types::Step {
        to_wit_step(with_handler(|c, h| c.on_closed(error.as_deref(), now, h)))
    }

    fn on_timeout(now: u64) -> types::Step {
        to_wit_step(with_handler(|c, h| c.on_timeout(now, h)))
    }
}

impl StateGuest for Component {
    fn snapshot() -> alloc::vec::Vec<u8> {
        with_client(|c| c.snapshot())
    }

    fn snapshot_size() -> u64 {
        // Counted element by element: no snapshot is built.
        with_client(|c| c.snapshot_len() as u64)
    }

    fn restore(snapshot: alloc::vec::Vec<u8>, announce: bool) -> Result<types::Restored, String> {
        with_handler(|c, h| c.restore(&snapshot, announce, h))
            .map(|r| types::Restored {
                environments: r.environments,
                tombstones: r.tombstones,
                pending_expiries: r.pending_expiries,
                next_deadline: r.next_deadline,
                last_event_id: r.last_event_id,
            })
            .map_err(|e| alloc::format!("{e}"))
    }
}

impl BatchGuest for Component {
    fn set_enabled(enabled: bool) {
        LINES.0.borrow_mut().set_enabled(enabled);
    }

    fn take() -> String {
        LINES.0.borrow_mut().take()
    }

    fn set_logs_batched(enabled: bool) {
        LINES.0.borrow_mut().set_logs_batched(enabled);
    }

    fn take_logs() -> String {
        LINES.0.borrow_mut().take_logs()
    }
}

export!(Component);
