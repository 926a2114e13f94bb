//! mpe-approver: approves Azure managed private endpoint connections automatically, race-safe.
//!
//! The folders are the layers (ARCHITECTURE.md's code map follows them):
//! - [`model`](crate::model): what Azure and the host show, as data (ids, MPE views, PECs, work items, queue
//!   messages, events, the envelope, log-safe text);
//! - [`core`](crate::core): the functional core (the decision of a check, which PEC, the policy, the schedule,
//!   replay's rules, what a deployment needs);
//! - [`azure`](crate::azure): the clients (HTTP plumbing, identity, ARM and its throttling, Service Bus);
//! - [`handler`]: the four functions and the router, over the clients and the core;
//! - `src/cli/`: the `mpe-approver` binary.
//!
//! [`config`] (the settings) and [`clock`] (injected time) serve every layer above `model`. Each module is
//! also re-exported here under its own name (`mpe_approver::decision`, `crate::arm`), so a path names the
//! module and the folder says what it may import (`tests/workspace_layout.rs` checks it). The demo, which
//! wires the handler to the local Azure of the `azure-sim` crate, is the workspace's `mpe-demo` crate;
//! this crate depends on neither.

pub mod azure;
pub mod clock;
pub mod config;
pub mod core;
pub mod handler;
pub mod model;

pub use self::azure::{arm, auth, dataplane, http, servicebus, shared, throttle};
pub use self::core::{decision, deploy, evidence, naming, pls, policy, readiness, replay, schedule, verdict};
pub use self::model::{
    eventgrid, functions, hierarchy, logsafe, pec, providers, queue_message, resource_id, targets, workitem,
};
