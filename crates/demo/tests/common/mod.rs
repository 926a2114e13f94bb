//! Helpers for the tests that drive the handler through the harness: the repository's shared helpers
//! (`tests/common/`: resource ids, test doubles, simulated MPE bodies), [`services`] (the registry's
//! providers, picked by what their MPE reports), [`sim`] (what the simulated Azure saw, polling), and
//! [`compressed`], the simulator's clock as the approver's.
#![allow(dead_code)]

#[path = "../../../../tests/common/doubles.rs"]
pub mod doubles;
#[path = "../../../../tests/common/ids.rs"]
mod ids;
pub mod services;
pub mod sim;
#[path = "../../../../tests/common/sim_mpe.rs"]
mod sim_mpe;

#[allow(unused_imports)] // not every test uses the id helpers
pub use ids::*;
#[allow(unused_imports)]
pub use sim_mpe::*;

/// The simulator's compressed clock (`factor` times real time) as the approver's `Clock`, through the
/// harness's adapter: retry sleeps of seconds play out in milliseconds.
pub fn compressed(factor: f64) -> mpe_demo::SimTime {
    mpe_demo::SimTime(std::sync::Arc::new(azure_sim::ScaledClock::new(chrono::Utc::now(), factor)))
}
