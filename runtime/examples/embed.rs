//! The README's Rust embedding example: load the embedded component, feed it a `put`, and drive
//! its timer. Run with `cargo run -p autoconfig-runtime --example embed`.

use autoconfig_runtime::{Driver, EnvironmentParams, Handler, Limits, Runtime};

/// The proxy's side: what to do with each callback.
struct Proxy;

impl Handler for Proxy {
    fn add_environment(&mut self, p: EnvironmentParams) {
        println!("add {} at version {}", p.env_id, p.version);
    }
    fn update_environment(&mut self, p: EnvironmentParams) {
        println!("update {} to version {}", p.env_id, p.version);
    }
    fn delete_environment(&mut self, env_id: String) {
        println!("delete {env_id}");
    }
    fn received_all_environments(&mut self) {
        println!("ready");
    }
    fn key_expired(&mut self, env_id: String, _old_key: String) {
        println!("the old SDK key of {env_id} expired");
    }
}

fn main() -> Result<(), autoconfig_runtime::Error> {
    let runtime = Runtime::embedded(Limits::default())?; // or Runtime::from_file(path, limits)
    let mut driver = Driver::new(&runtime, Proxy)?;
    let now = 1_800_000_000_000; // wall-clock ms since the Unix epoch: the caller's clock
    let put = r#"{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-0001"},"version":1}}}}"#;
    let directive = driver.on_event("put", put, now)?;
    if let Some(reason) = directive.restart {
        println!("restart the stream: {reason:?}");
    }
    if let Some(deadline) = directive.next_deadline {
        println!("call driver.tick(now) at {deadline} ms since the Unix epoch");
    }
    Ok(())
}
