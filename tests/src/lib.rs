//! The component tests' corpus runners: the shared scenario corpus (`tests/scenarios/`, through
//! `client`) and stream corpus (`tests/streams/`, through `stream-client`), run on the real
//! compiled component. The recording handler and the builders are `autoconfig-test-support`'s.

pub mod scenario;
pub mod streams;
