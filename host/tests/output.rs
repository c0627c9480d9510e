//! The JSON-lines handler writes the lines of one call into the component together: one write
//! and one flush per call, whatever the number of callbacks.

use std::io::Write;
use std::sync::{Arc, Mutex};

use autoconfig_host::output::JsonLines;
use autoconfig_host::{Driver, report};
use autoconfig_test_support::events::put_of;
use autoconfig_test_support::runtime;

/// A writer that records every write and flush.
#[derive(Clone, Default)]
struct Writes(Arc<Mutex<Vec<String>>>);

impl Write for Writes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push("<flush>".to_owned());
        Ok(())
    }
}

#[test]
fn one_write_and_one_flush_per_call() {
    let writes = Writes::default();
    let mut driver = Driver::new(runtime(), JsonLines::new(writes.clone()))
        .unwrap_or_else(|e| panic!("{}", report(&e)));
    let now = 1_800_000_000_000;
    driver.on_event("put", &put_of(500), now).expect("no trap");
    {
        let log = writes.0.lock().expect("lock");
        assert_eq!(log.len(), 2, "one write, one flush");
        assert_eq!(log[0].lines().count(), 501, "500 adds and the ready");
        assert!(log[0].ends_with("{\"op\":\"ready\"}\n"));
        assert_eq!(log[1], "<flush>");
    }
    // A call without callbacks writes nothing.
    driver.on_event("put", &put_of(500), now).expect("no trap");
    driver.tick(now).expect("no trap");
    let log = writes.0.lock().expect("lock");
    assert_eq!(log.len(), 4, "only the ready of the unchanged put: {log:?}");
    assert_eq!(log[2], "{\"op\":\"ready\"}\n");
}
