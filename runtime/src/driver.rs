//! Running one component instance: every export of the component, with `now` passed in, and
//! the handler's callbacks out.

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{ResourceLimiter, Store, StoreContextMut, StoreLimits, StoreLimitsBuilder};

use crate::bindings::relay::autoconfig::types as wit;
use crate::bindings::wasi::logging::logging;
use crate::bindings::{Autoconfig, AutoconfigPre};
use crate::error::{Error, Trap, report};
use crate::handler::Handler;
use crate::mirror::Mirror;
use crate::runtime::{Limits, Metering, Runtime};
use crate::{
    Directive, EnvironmentParams, Level, Request, Restored, Settings, Step, StopReason,
    StreamOptions,
};
use relay_autoconfig_types::CallLine;

/// The store's data: the user's handler, the copy of what it was told, and the limiter.
struct HostState<H> {
    handler: H,
    mirror: Mirror,
    limits: Limiter,
    /// During a restore: the mirror being rebuilt from its announcement, and whether the
    /// handler hears it.
    restoring: Option<(Mirror, bool)>,
    /// Whether `mirror` is kept (see [`Driver::set_recovery`]).
    recovery: bool,
    /// Callbacks delivered so far, plus changes of the stream's last event id.
    changes: u64,
    /// Callbacks delivered so far, by kind.
    callbacks: Callbacks,
}

/// Callbacks delivered to the handler, by kind (restores announced to the handler included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Callbacks {
    /// `add-environment`.
    pub add: u64,
    /// `update-environment`.
    pub update: u64,
    /// `delete-environment`.
    pub delete: u64,
    /// `received-all-environments`.
    pub ready: u64,
    /// `key-expired`.
    pub key_expired: u64,
    /// [`Handler::reset`]: the state was lost.
    pub reset: u64,
}

/// The store's memory limits, remembering the size of the guest's linear memory.
struct Limiter {
    inner: StoreLimits,
    memory_bytes: usize,
    /// A memory growth was refused since the last call began (a trap then is the memory limit).
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes = self.memory_bytes.max(desired);
        } else {
            self.refused = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// One running instance of the component and its handler.
///
/// Every call that depends on time takes `now`, wall-clock ms since the Unix epoch (the unit of
/// expiry timestamps on the wire), as the WIT does. If the guest traps, the call returns
/// [`Error::Trap`] and a fresh instance takes over, brought back to exactly what the handler
/// was told (a copy of every delivered environment is kept for this: see [`crate::mirror`]), so
/// the next `put` gives only the real differences and pending expiries still fire. Only
/// remembered deletions are lost. If even that fails, the handler's [`Handler::reset`] says the
/// state is gone.
pub struct Driver<H: Handler> {
    runtime: Runtime,
    pre: AutoconfigPre<HostState<H>>,
    store: Option<Store<HostState<H>>>,
    instance: Option<Autoconfig>,
    settings: Settings,
    next_deadline: Option<u64>,
    /// The options of the last successful `start`, to restart the stream after a trap.
    stream: Option<StreamOptions>,
    /// The limits of each call (the runtime's, unless changed with [`Driver::set_limits`]).
    limits: Limits,
    /// Traps so far (passed as `prior-failures` when the stream restarts after one).
    traps: u32,
    /// Body bytes pushed since the last response (what the guest's SSE parser may hold).
    body_bytes: usize,
    /// Whether the callbacks come back as one batch of JSON lines per call
    /// ([`Driver::set_batched`]).
    batched: bool,
}

impl<H: Handler> std::fmt::Debug for Driver<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("settings", &self.settings)
            .field("next_deadline", &self.next_deadline)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Driver<H> {
    /// A driver for one instance of `runtime`'s component, calling `handler`.
    pub fn new(runtime: &Runtime, handler: H) -> Result<Self, Error> {
        let mut linker = Linker::<HostState<H>>::new(runtime.engine());
        link_imports(&mut linker).map_err(|e| Error::Link(e.into()))?;
        let pre = linker
            .instantiate_pre(runtime.component())
            .map_err(|e| Error::Link(e.into()))?;
        let pre = AutoconfigPre::new(pre).map_err(|e| Error::Link(e.into()))?;
        let mut driver = Driver {
            runtime: runtime.clone(),
            pre,
            store: None,
            instance: None,
            settings: Settings::default(),
            next_deadline: None,
            stream: None,
            limits: runtime.limits(),
            traps: 0,
            body_bytes: 0,
            batched: false,
        };
        driver.store = Some(driver.new_store(handler, Mirror::default()));
        driver.ensure_instance()?;
        Ok(driver)
    }

    fn new_store(&self, handler: H, mirror: Mirror) -> Store<HostState<H>> {
        let inner = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory_bytes)
            .instances(4)
            .tables(8)
            .memories(2)
            .trap_on_grow_failure(false)
            .build();
        let limits = Limiter {
            inner,
            memory_bytes: 0,
            refused: false,
        };
        let state = HostState {
            handler,
            mirror,
            limits,
            restoring: None,
            recovery: true,
            changes: 0,
            callbacks: Callbacks::default(),
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|s| &mut s.limits);
        // What one call may hand the host (wasmtime's default: 128 MiB) is bounded by the guest's
        // memory instead: a snapshot of a large legal state is one `list<u8>` that can pass
        // 128 MiB, and the guest cannot return more than its memory holds.
        store.set_hostcall_fuel(self.limits.max_memory_bytes);
        store
    }

    /// The fuel for a call carrying `data_len` bytes: the runtime's budget plus room for work
    /// that grows with the state (forgetting every environment and tombstone, firing every
    /// expiry), so that no legal state size runs out of fuel.
    fn fuel(&self, data_len: usize) -> u64 {
        let entries = self.store.as_ref().map_or(0, |s| s.data().mirror.len())
            + self.settings.max_tombstones as usize;
        self.limits.fuel_for(data_len, entries)
    }

    /// Instantiates the component if there is no live instance, applying the settings.
    fn ensure_instance(&mut self) -> Result<(), Error> {
        if self.instance.is_some() {
            return Ok(());
        }
        let fuel = self.fuel(0);
        let metering = self.runtime.limits().metering;
        let store = self.store.as_mut().unwrap_or_else(|| unreachable_store());
        set_budget(store, metering, fuel)?;
        let instance = self
            .pre
            .instantiate(&mut *store)
            .map_err(|e| Error::Instantiate(e.into()))?;
        instance
            .relay_autoconfig_client()
            .call_configure(&mut *store, self.settings)
            .map_err(|e| Error::Instantiate(e.into()))?;
        if self.batched {
            set_batching(&instance, store, true).map_err(|e| Error::Instantiate(e.into()))?;
        }
        self.instance = Some(instance);
        Ok(())
    }

    /// Runs `f` on the live instance with a fuel budget for `data_len` bytes. A trap discards
    /// the instance and its store (the handler is kept).
    fn call<T>(
        &mut self,
        data_len: usize,
        f: impl FnOnce(&Autoconfig, &mut Store<HostState<H>>) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        let result = self.call_once(data_len, f);
        if let Some(store) = self.store.as_mut() {
            store.data_mut().handler.end_of_call();
        }
        result
    }

    /// [`Driver::call`] before the handler hears that the call ended.
    fn call_once<T>(
        &mut self,
        data_len: usize,
        f: impl FnOnce(&Autoconfig, &mut Store<HostState<H>>) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        self.ensure_instance()?;
        let fuel = self.fuel(data_len);
        let metering = self.runtime.limits().metering;
        let (Some(instance), Some(store)) = (self.instance.as_ref(), self.store.as_mut()) else {
            unreachable_store()
        };
        set_budget(store, metering, fuel)?;
        store.data_mut().limits.refused = false;
        let batched = self.batched;
        let result = f(instance, store).and_then(|value| {
            if batched {
                let batch = instance.relay_autoconfig_batch();
                let logs = batch.call_take_logs(&mut *store)?;
                let lines = batch.call_take(&mut *store)?;
                store.data_mut().dispatch_logs(&logs)?;
                store.data_mut().dispatch(&lines)?;
            }
            Ok(value)
        });
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                let trap = Trap::new(e, store.data().limits.refused);
                let message = report(&trap);
                self.replace_instance();
                self.traps = self.traps.saturating_add(1);
                let recovery = self.store.as_ref().is_some_and(|s| s.data().recovery);
                let recovered = if recovery { self.recover() } else { Ok(None) };
                match recovered {
                    Ok(Some(n)) => tracing::error!(
                        "the autoconfig component trapped; a fresh instance was brought back to the {n} environment(s) the proxy has: {message}"
                    ),
                    Ok(None) | Err(_) => {
                        let why = match &recovered {
                            Err(e) => report(e),
                            _ => "recovery is off".to_owned(),
                        };
                        tracing::error!(
                            "the autoconfig component trapped and its state could not be brought back ({why}); the proxy is told to reset: {message}"
                        );
                        self.replace_instance();
                        if let Some(store) = self.store.as_mut() {
                            let data = store.data_mut();
                            data.mirror.clear();
                            data.callbacks.reset += 1;
                            data.handler.reset();
                        }
                    }
                }
                Err(Error::Trap(trap))
            }
        }
    }

    /// Drops the instance and its store, keeping the handler and the mirror.
    fn replace_instance(&mut self) {
        self.instance = None;
        self.next_deadline = None;
        if let Some(old) = self.store.take() {
            let state = old.into_data();
            let (changes, callbacks, recovery) = (state.changes, state.callbacks, state.recovery);
            let mut store = self.new_store(state.handler, state.mirror);
            store.data_mut().changes = changes;
            store.data_mut().callbacks = callbacks;
            store.data_mut().recovery = recovery;
            self.store = Some(store);
        }
    }

    /// Brings a fresh instance back to what the handler was told; returns how many
    /// environments that is.
    fn recover(&mut self) -> Result<Option<usize>, Error> {
        self.ensure_instance()?;
        let store = self.store.as_ref().unwrap_or_else(|| unreachable_store());
        let mirror = &store.data().mirror;
        let n = mirror.len();
        if n == 0 {
            return Ok(Some(0));
        }
        let id = self
            .stream
            .as_ref()
            .and_then(|o| o.last_event_id.as_deref());
        let bytes = mirror.snapshot(id);
        // At least the runtime's budget, even if this driver's limits were lowered.
        let metering = self.runtime.limits().metering;
        let fuel = self.fuel(bytes.len()).max(
            self.runtime
                .limits()
                .fuel_for(bytes.len(), n + self.settings.max_tombstones as usize),
        );
        let (Some(instance), Some(store)) = (self.instance.as_ref(), self.store.as_mut()) else {
            unreachable_store()
        };
        set_budget(store, metering, fuel)?;
        let restored = instance
            .relay_autoconfig_state()
            .call_restore(&mut *store, &bytes, false)
            .map_err(|e| Trap::new(e, false))?
            .map_err(Error::Restart)?;
        self.next_deadline = restored.next_deadline;
        Ok(Some(n))
    }

    /// The whole state as a snapshot (format: `relay_autoconfig_types::snapshot`).
    ///
    /// Its work grows with the state's bytes, not its entries (a few huge environments), so its
    /// fuel budget is that of a call carrying the guest's whole memory: the state cannot be
    /// larger.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, Error> {
        let state_bound = self.memory_bytes();
        self.call(state_bound, |i, s| {
            i.relay_autoconfig_state().call_snapshot(s)
        })
    }

    /// Replaces the state with a snapshot's. `Ok(Err(reason))`: refused, nothing changed.
    /// With `announce`, the handler gets an `add` for every environment and `ready`.
    pub fn restore(
        &mut self,
        snapshot: &[u8],
        announce: bool,
    ) -> Result<Result<Restored, String>, Error> {
        // The component always announces, so the mirror learns the restored environments; the
        // handler hears them only if asked (a silent restore: the proxy already has them).
        self.set_restoring(Some((Mirror::default(), announce)));
        let restored = self.call(snapshot.len(), |i, s| {
            i.relay_autoconfig_state().call_restore(s, snapshot, true)
        });
        let rebuilt = self.set_restoring(None);
        let restored = restored?;
        if restored.is_ok()
            && let (Some(store), Some((mirror, _))) = (self.store.as_mut(), rebuilt)
        {
            store.data_mut().mirror = mirror;
        }
        if let Ok(r) = &restored {
            self.next_deadline = r.next_deadline;
        }
        Ok(restored)
    }

    /// Starts or ends a restore; returns the previous restore state.
    fn set_restoring(&mut self, restoring: Option<(Mirror, bool)>) -> Option<(Mirror, bool)> {
        let store = self.store.as_mut()?;
        std::mem::replace(&mut store.data_mut().restoring, restoring)
    }

    /// The size of the guest's linear memory, in bytes (it only grows).
    pub fn memory_bytes(&self) -> usize {
        self.store
            .as_ref()
            .map_or(0, |s| s.data().limits.memory_bytes)
    }

    /// Replaces the settings (kept across instance restarts).
    pub fn configure(&mut self, settings: Settings) -> Result<(), Error> {
        self.settings = settings;
        self.call(0, |i, s| {
            i.relay_autoconfig_client().call_configure(s, settings)
        })
    }

    /// Feeds one SSE event to the component at `now` (ms since the Unix epoch).
    pub fn on_event(&mut self, name: &str, data: &str, now: u64) -> Result<Directive, Error> {
        if is_parsed(name) && data.len() as u64 > self.settings.max_message_bytes {
            // Not even copied into the guest: reject it here, as the guest would.
            let message = format!(
                "Received streaming \"{name}\" event with malformed JSON data ({} bytes, over the limit of {}); will restart stream",
                data.len(),
                self.settings.max_message_bytes
            );
            self.handler_mut().log(Level::Error, &message);
            return Ok(Directive {
                restart: Some(crate::RestartReason::MalformedData),
                next_deadline: self.next_deadline,
            });
        }
        let directive = self.call(data.len(), |i, s| {
            i.relay_autoconfig_client()
                .call_on_event(s, name, data, now)
        })?;
        self.next_deadline = directive.next_deadline;
        Ok(directive)
    }

    /// Fires the expiry timers due at `now` (ms since the Unix epoch); returns the next deadline.
    pub fn tick(&mut self, now: u64) -> Result<Option<u64>, Error> {
        let next = self.call(0, |i, s| i.relay_autoconfig_client().call_tick(s, now))?;
        self.next_deadline = next;
        Ok(next)
    }

    /// Starts (or restarts) the component's stream client at `now` (ms since the Unix epoch):
    /// the returned step normally asks for the first connection. `Ok(Err(reason))` names an
    /// invalid option. See the WIT `stream-client` interface for the protocol.
    pub fn start(
        &mut self,
        options: &StreamOptions,
        now: u64,
    ) -> Result<Result<Step, String>, Error> {
        let wit_options = to_wit_options(options);
        let started = self.call(0, |i, s| {
            i.relay_autoconfig_stream_client()
                .call_start(s, &wit_options, now)
        })?;
        Ok(started.map(|step| {
            self.stream = Some(options.clone());
            self.take_step(step)
        }))
    }

    /// The open request got its response headers.
    pub fn on_response(
        &mut self,
        status: u16,
        content_type: Option<&str>,
        location: Option<&str>,
        now: u64,
    ) -> Result<Step, Error> {
        self.body_bytes = 0;
        let len = content_type.map_or(0, str::len) + location.map_or(0, str::len);
        self.stream_call(len, now, |i, s| {
            i.relay_autoconfig_stream_client().call_on_response(
                s,
                status,
                content_type,
                location,
                now,
            )
        })
    }

    /// The next chunk of the open stream's body.
    ///
    /// The chunk may complete an event whose earlier bytes came in earlier chunks (up to
    /// `max-message-bytes` of them: larger events are dropped), so the call's fuel covers those
    /// bytes too.
    pub fn on_body(&mut self, chunk: &[u8], now: u64) -> Result<Step, Error> {
        let data_len = self.body_data_len(chunk.len());
        self.stream_call(data_len, now, |i, s| {
            i.relay_autoconfig_stream_client()
                .call_on_body(s, chunk, now)
        })
    }

    /// [`Driver::on_body`] for a chunk of whole UTF-8 characters, passed as a WIT `string`
    /// (`stream-client.on-body-text`): the same outcome. For Rust hosts either is as cheap; it
    /// is here so that the component's text entry point is tested against the corpus.
    pub fn on_body_text(&mut self, chunk: &str, now: u64) -> Result<Step, Error> {
        let data_len = self.body_data_len(chunk.len());
        self.stream_call(data_len, now, |i, s| {
            i.relay_autoconfig_stream_client()
                .call_on_body_text(s, chunk, now)
        })
    }

    /// Counts `len` more body bytes; the data length the call's fuel must cover: this chunk
    /// and what the parser may still hold of earlier ones.
    fn body_data_len(&mut self, len: usize) -> usize {
        let earlier = self
            .body_bytes
            .min(usize::try_from(self.settings.max_message_bytes).unwrap_or(usize::MAX));
        self.body_bytes = self.body_bytes.saturating_add(len);
        len.saturating_add(earlier)
    }

    /// The open request ended (`error`: why; `None` for a clean end of the body).
    pub fn on_closed(&mut self, error: Option<&str>, now: u64) -> Result<Step, Error> {
        self.stream_call(error.map_or(0, str::len), now, |i, s| {
            i.relay_autoconfig_stream_client()
                .call_on_closed(s, error, now)
        })
    }

    /// The stream's deadline passed.
    pub fn on_timeout(&mut self, now: u64) -> Result<Step, Error> {
        self.stream_call(0, now, |i, s| {
            i.relay_autoconfig_stream_client().call_on_timeout(s, now)
        })
    }

    /// A stream call. After a trap the stream is started again on the fresh instance (its
    /// first connection delayed by the backoff for the traps so far, the last event id kept),
    /// and the step says to drop the connection: the host never sees the trap as an error.
    fn stream_call(
        &mut self,
        data_len: usize,
        now: u64,
        f: impl FnOnce(&Autoconfig, &mut Store<HostState<H>>) -> wasmtime::Result<wit::Step>,
    ) -> Result<Step, Error> {
        match self.call(data_len, f) {
            Ok(step) => Ok(self.take_step(step)),
            Err(Error::Trap(trap)) => {
                let Some(mut options) = self.stream.clone() else {
                    return Err(Error::Trap(trap));
                };
                options.prior_failures = self.traps;
                let wit_options = to_wit_options(&options);
                let started = self.call(0, |i, s| {
                    i.relay_autoconfig_stream_client()
                        .call_start(s, &wit_options, now)
                })?;
                let mut step = started
                    .map(|step| self.take_step(step))
                    .map_err(Error::Restart)?;
                step.disconnect = true;
                Ok(step)
            }
            Err(e) => Err(e),
        }
    }

    /// Converts a step, remembering its deadline and the stream's last event id.
    fn take_step(&mut self, step: wit::Step) -> Step {
        self.next_deadline = step.next_deadline;
        if let (Some(options), Some(id)) = (self.stream.as_mut(), step.last_event_id.as_ref()) {
            options.last_event_id = (!id.is_empty()).then(|| id.clone());
            if let Some(store) = self.store.as_mut() {
                store.data_mut().changes += 1;
            }
        }
        Step {
            disconnect: step.disconnect,
            connect: step.connect.map(|r| Request {
                url: r.url,
                headers: r.headers,
            }),
            stop: step
                .stop
                .map(|wit::StopReason::InvalidKey| StopReason::InvalidKey),
            next_deadline: step.next_deadline,
            last_event_id: step.last_event_id,
        }
    }

    /// Whether a trapped component is brought back to what the handler was told (default on).
    /// Keeping that possible costs a copy of every delivered environment (measured in the
    /// README: a few per cent on puts and patches); with it off, a trap loses the state and the
    /// handler gets [`Handler::reset`].
    pub fn set_recovery(&mut self, on: bool) {
        if let Some(store) = self.store.as_mut() {
            let data = store.data_mut();
            data.recovery = on;
            if !on {
                data.mirror.clear();
            }
        }
    }

    /// How many callbacks were delivered (plus changes of the stream's last event id): when it
    /// moved, the state changed.
    pub fn changes(&self) -> u64 {
        self.store.as_ref().map_or(0, |s| s.data().changes)
    }

    /// How many `received-all-environments` callbacks were delivered.
    pub fn readies(&self) -> u64 {
        self.callbacks().ready
    }

    /// The callbacks delivered so far, by kind.
    pub fn callbacks(&self) -> Callbacks {
        self.store
            .as_ref()
            .map_or_else(Callbacks::default, |s| s.data().callbacks)
    }

    /// Every environment the proxy was told about, by env id, as it serves it now (empty when
    /// recovery is off: see [`Driver::set_recovery`]).
    pub fn served(&self) -> Vec<crate::mirror::Served> {
        self.store
            .as_ref()
            .map_or_else(Vec::new, |s| s.data().mirror.served())
    }

    /// What this instance has seen (events by name, malformed ones, the last event's time); a
    /// fresh instance after a trap starts from zero.
    pub fn counters(&mut self) -> Result<crate::EventCounters, Error> {
        self.call(0, |i, s| i.relay_autoconfig_client().call_counters(s))
    }

    /// Whether the component returns each call's callbacks as one batch of JSON lines and its
    /// log lines as one batch of text (the WIT `batch` interface), which the driver parses and
    /// passes to the handler in order (the logs first), instead of calling into the host once
    /// per callback and per log line. The handler sees the same calls either way;
    /// for Rust hosts the per-callback form (the default) is the faster one. It is here so that
    /// both forms are tested and measured side by side. Batched, a call that traps has told
    /// the handler nothing.
    pub fn set_batched(&mut self, on: bool) -> Result<(), Error> {
        self.batched = on;
        self.call(0, |i, s| set_batching(i, s, on))
    }

    /// Changes the fuel budget of later calls (and the memory limit of instances created from
    /// now on, after a trap). Its `metering` is ignored: the [`Runtime`]'s compiled code decides.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Guest traps so far.
    pub fn traps(&self) -> u32 {
        self.traps
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// When `tick` is next needed (ms since the Unix epoch), as of the last call.
    pub fn next_deadline(&self) -> Option<u64> {
        self.next_deadline
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        match &self.store {
            Some(store) => &store.data().handler,
            None => unreachable_store(),
        }
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        match &mut self.store {
            Some(store) => &mut store.data_mut().handler,
            None => unreachable_store(),
        }
    }

    /// Fuel left after the last call: how much of its budget it did not use (`None` when the
    /// runtime does not meter calls, [`Metering::Off`]).
    pub fn fuel_left(&self) -> Option<u64> {
        self.store.as_ref().and_then(|s| s.get_fuel().ok())
    }
}

/// The store is only ever absent inside `call`, between `take` and the replacement.
fn unreachable_store() -> ! {
    unreachable!("the driver's store is always present between calls")
}

/// Gives the store `fuel` for the next call, if its engine meters calls ([`Metering::Fuel`]).
fn set_budget<T>(store: &mut Store<T>, metering: Metering, fuel: u64) -> Result<(), Error> {
    if metering == Metering::Fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| Error::Instantiate(e.into()))?;
    }
    Ok(())
}

/// Turns the batching of the instance's callbacks and log lines on or off (the WIT `batch`).
fn set_batching<H: Handler>(
    instance: &Autoconfig,
    store: &mut Store<HostState<H>>,
    on: bool,
) -> wasmtime::Result<()> {
    let batch = instance.relay_autoconfig_batch();
    batch.call_set_enabled(&mut *store, on)?;
    batch.call_set_logs_batched(store, on)
}

/// Whether the component parses this event's data (and so the size limit applies).
fn is_parsed(name: &str) -> bool {
    matches!(name, "put" | "patch" | "delete")
}

impl<H: Handler> HostState<H> {
    /// Makes the callbacks of a batch (the WIT `batch.take`), in order.
    fn dispatch(&mut self, lines: &str) -> wasmtime::Result<()> {
        for line in lines.lines() {
            let line: CallLine = serde_json::from_str(line).map_err(|e| {
                wasmtime::Error::msg(format!("a batch line is not a callback: {e}"))
            })?;
            match line {
                CallLine::Add { env } => self.add_environment(env),
                CallLine::Update { env } => self.update_environment(env),
                CallLine::Delete { env_id } => self.delete_environment(env_id),
                CallLine::Ready => self.received_all_environments(),
                CallLine::KeyExpired { env_id, old_key } => self.key_expired(env_id, old_key),
                CallLine::Reset => {
                    return Err(wasmtime::Error::msg("a batch line is a reset"));
                }
            }
        }
        Ok(())
    }

    /// Passes on the log lines of a batch (the WIT `batch.take-logs`: `LEVEL MESSAGE`), in order.
    fn dispatch_logs(&mut self, logs: &str) -> wasmtime::Result<()> {
        for line in logs.lines() {
            let (level, message) = line.split_once(' ').unwrap_or((line, ""));
            let level = match level {
                "debug" => Level::Debug,
                "info" => Level::Info,
                "warn" => Level::Warn,
                "error" => Level::Error,
                _ => return Err(wasmtime::Error::msg("a batched log line has no level")),
            };
            self.handler.log(level, message);
        }
        Ok(())
    }

    fn add_environment(&mut self, params: EnvironmentParams) {
        self.changes += 1;
        match &mut self.restoring {
            Some((mirror, announce)) => {
                mirror.told(&params);
                if *announce {
                    self.callbacks.add += 1;
                    self.handler.add_environment(params);
                }
            }
            None => {
                if self.recovery {
                    self.mirror.told(&params);
                }
                self.callbacks.add += 1;
                self.handler.add_environment(params);
            }
        }
    }

    fn update_environment(&mut self, params: EnvironmentParams) {
        self.changes += 1;
        if self.recovery {
            self.mirror.told(&params);
        }
        self.callbacks.update += 1;
        self.handler.update_environment(params);
    }

    fn delete_environment(&mut self, env_id: String) {
        self.changes += 1;
        self.mirror.deleted(&env_id);
        self.callbacks.delete += 1;
        self.handler.delete_environment(env_id);
    }

    fn received_all_environments(&mut self) {
        self.changes += 1;
        if matches!(self.restoring, None | Some((_, true))) {
            self.callbacks.ready += 1;
            self.handler.received_all_environments();
        }
    }

    fn key_expired(&mut self, env_id: String, old_key: String) {
        self.changes += 1;
        self.mirror.expired(&env_id);
        self.callbacks.key_expired += 1;
        self.handler.key_expired(env_id, old_key);
    }
}

/// The component's imports. `handler` is linked by hand so that its callbacks lift the
/// environment record straight into [`EnvironmentParams`] (its fields are checked against the
/// WIT here, at link time); `types` and `wasi:logging` come from `bindgen!`.
fn link_imports<H: Handler>(linker: &mut Linker<HostState<H>>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    logging::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    let mut handler = linker.instance("relay:autoconfig/handler@0.2.0")?;
    handler.func_wrap(
        "add-environment",
        |mut cx: StoreContextMut<'_, HostState<H>>, (params,): (EnvironmentParams,)| {
            cx.data_mut().add_environment(params);
            Ok(())
        },
    )?;
    handler.func_wrap(
        "update-environment",
        |mut cx: StoreContextMut<'_, HostState<H>>, (params,): (EnvironmentParams,)| {
            cx.data_mut().update_environment(params);
            Ok(())
        },
    )?;
    handler.func_wrap(
        "delete-environment",
        |mut cx: StoreContextMut<'_, HostState<H>>, (env_id,): (String,)| {
            cx.data_mut().delete_environment(env_id);
            Ok(())
        },
    )?;
    handler.func_wrap(
        "received-all-environments",
        |mut cx: StoreContextMut<'_, HostState<H>>, (): ()| {
            cx.data_mut().received_all_environments();
            Ok(())
        },
    )?;
    handler.func_wrap(
        "key-expired",
        |mut cx: StoreContextMut<'_, HostState<H>>, (env_id, old_key): (String, String)| {
            cx.data_mut().key_expired(env_id, old_key);
            Ok(())
        },
    )?;
    Ok(())
}

impl<H: Handler> wit::Host for HostState<H> {}

impl<H: Handler> logging::Host for HostState<H> {
    fn log(&mut self, level: Level, _context: String, message: String) {
        self.handler.log(level, &message);
    }
}

/// The stream records are ours rather than `bindgen!`'s (whose `Debug` would print the key and
/// the `Authorization` header in full): these two moves are their only conversions.
fn to_wit_options(o: &StreamOptions) -> wit::StreamOptions {
    wit::StreamOptions {
        key: o.key.clone(),
        stream_uri: o.stream_uri.clone(),
        initial_retry_delay_ms: o.initial_retry_delay_ms,
        read_timeout_ms: o.read_timeout_ms,
        jitter_seed: o.jitter_seed,
        last_event_id: o.last_event_id.clone(),
        prior_failures: o.prior_failures,
    }
}
