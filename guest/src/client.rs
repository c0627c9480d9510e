//! The component's whole state: the [`Machine`] and, once started, the [`Stream`] feeding it.
//! Both WIT interfaces (`client` and `stream`) act on one [`Client`].

use alloc::string::String;

use crate::handler::{Handler, Level};
use crate::machine::{Directive, Kind, Log, Machine, Settings};
use crate::snapshot::SnapshotError;
use crate::stream::{Step, Stream, StreamOptions};

/// The machine and its optional stream client.
#[derive(Debug, Default, Clone)]
pub struct Client {
    machine: Machine,
    stream: Option<Stream>,
    /// A last event id restored from a snapshot, for the next `start` that gives none.
    resume_id: Option<String>,
}

/// What a restore brought back (the WIT `restored`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Live environments.
    pub environments: u32,
    /// Remembered deletions.
    pub tombstones: u32,
    /// Expiry timers still to fire.
    pub pending_expiries: u32,
    /// When `tick`/`on-timeout` is next needed.
    pub next_deadline: Option<u64>,
    /// The stream's last event id in the snapshot.
    pub last_event_id: Option<String>,
}

impl Client {
    /// An empty client: no environments, no stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state machine.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The stream client, once started.
    pub fn stream(&self) -> Option<&Stream> {
        self.stream.as_ref()
    }

    /// Replaces the settings (the size limit applies to the stream's parser too).
    pub fn configure(&mut self, settings: Settings) {
        self.machine.configure(settings);
        if let Some(stream) = self.stream.as_mut() {
            stream.set_max_event_bytes(settings.max_message_bytes);
        }
    }

    /// One SSE event from a host with its own SSE stack ([`Machine::on_event`]).
    pub fn on_event(
        &mut self,
        name: &str,
        data: &str,
        now: u64,
        h: &mut impl Handler,
    ) -> Directive {
        self.machine.on_event(name, data, now, h)
    }

    /// Events seen so far ([`Machine::counters`]).
    pub fn counters(&self) -> crate::machine::Counters {
        self.machine.counters()
    }

    /// Fires due timers ([`Machine::tick`]).
    pub fn tick(&mut self, now: u64, h: &mut impl Handler) -> Option<u64> {
        self.machine.tick(now, h)
    }

    /// The whole state as a snapshot ([`crate::snapshot`]).
    pub fn snapshot(&self) -> alloc::vec::Vec<u8> {
        self.machine.snapshot(self.last_event_id())
    }

    /// The length of [`Client::snapshot`], counted without building it.
    pub fn snapshot_len(&self) -> usize {
        self.machine.snapshot_len(self.last_event_id())
    }

    /// The stream's last event id, as a snapshot keeps it.
    fn last_event_id(&self) -> Option<&str> {
        match &self.stream {
            Some(stream) => stream.last_event_id(),
            None => self.resume_id.as_deref(),
        }
    }

    /// Replaces the state with a snapshot's ([`Machine::restore`]); its last event id is used by
    /// the next `start` that gives none. On error nothing changes.
    pub fn restore(
        &mut self,
        bytes: &[u8],
        announce: bool,
        h: &mut impl Handler,
    ) -> Result<Restored, SnapshotError> {
        let id = self.machine.restore(bytes, announce, h)?;
        self.resume_id = id.clone();
        let m = &self.machine;
        Ok(Restored {
            environments: u32::try_from(m.environments().count()).unwrap_or(u32::MAX),
            tombstones: u32::try_from(m.tombstones()).unwrap_or(u32::MAX),
            pending_expiries: u32::try_from(m.pending_timers()).unwrap_or(u32::MAX),
            next_deadline: m.next_deadline(),
            last_event_id: id,
        })
    }

    /// Starts or restarts the stream client; the environments and timers are kept.
    pub fn start(
        &mut self,
        options: &StreamOptions,
        now: u64,
        h: &mut impl Handler,
    ) -> Result<Step, String> {
        let max = self.machine.settings().max_message_bytes;
        let mut options = options.clone();
        if options.last_event_id.is_none() && self.stream.is_none() {
            options.last_event_id = self.resume_id.clone();
        }
        let previous = self.stream.as_ref();
        let (stream, step) = self.machine.logging(h, now, |machine, h| {
            let (mut stream, was_open) = Stream::start(&options, max, previous, now, h)?;
            let step = stream.first(was_open, machine, now, h);
            Ok::<_, String>((stream, step))
        })?;
        self.stream = Some(stream);
        self.resume_id = None;
        Ok(step)
    }

    /// [`Stream::on_response`].
    pub fn on_response(
        &mut self,
        status: u16,
        content_type: Option<&str>,
        location: Option<&str>,
        now: u64,
        h: &mut impl Handler,
    ) -> Step {
        match self.stream.as_mut() {
            Some(s) => s.on_response(status, content_type, location, &mut self.machine, now, h),
            None => self.not_started("on-response", now, h),
        }
    }

    /// [`Stream::on_body`].
    pub fn on_body(&mut self, chunk: &[u8], now: u64, h: &mut impl Handler) -> Step {
        match self.stream.as_mut() {
            Some(s) => s.on_body(chunk, &mut self.machine, now, h),
            None => self.not_started("on-body", now, h),
        }
    }

    /// [`Stream::on_closed`].
    pub fn on_closed(&mut self, error: Option<&str>, now: u64, h: &mut impl Handler) -> Step {
        match self.stream.as_mut() {
            Some(s) => s.on_closed(error, &mut self.machine, now, h),
            None => self.not_started("on-closed", now, h),
        }
    }

    /// [`Stream::on_timeout`]; without a stream, fires the timers only.
    pub fn on_timeout(&mut self, now: u64, h: &mut impl Handler) -> Step {
        match self.stream.as_mut() {
            Some(s) => s.on_timeout(&mut self.machine, now, h),
            None => Step {
                next_deadline: self.machine.tick(now, h),
                ..Step::default()
            },
        }
    }

    /// A stream call before `start`: logged (rate-limited) and ignored.
    fn not_started(&mut self, call: &str, now: u64, h: &mut impl Handler) -> Step {
        self.machine.logging(h, now, |machine, h| {
            h.limited(
                Kind::NotStarted,
                Level::Warn,
                format_args!("Ignoring stream.{call}: the stream client was not started"),
            );
            Step {
                next_deadline: machine.next_deadline(),
                ..Step::default()
            }
        })
    }
}
