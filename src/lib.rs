//! mpe-approver: approves Azure managed private endpoint connections automatically, race-safe.
//!
//! See ARCHITECTURE.md for the map. Functional core: [`resource_id`], [`providers`], [`pec`],
//! [`decision`], [`verdict`], [`evidence`], [`schedule`], [`policy`], [`workitem`], [`queue_message`], [`replay`], [`logsafe`]. Imperative
//! shell: [`http`] (under [`arm`], [`servicebus`] and [`auth`]), [`throttle`], [`functions`],
//! [`handler`]. The demo, which wires the handler to the local Azure of the `azure-sim` crate, is the
//! workspace's `mpe-demo` crate; this crate depends on neither.

pub mod arm;
pub mod auth;
pub mod clock;
pub mod config;
pub mod decision;
pub mod deploy;
pub mod eventgrid;
pub mod evidence;
pub mod functions;
pub mod handler;
pub mod http;
pub mod logsafe;
pub mod pec;
pub mod policy;
pub mod providers;
pub mod queue_message;
pub mod replay;
pub mod resource_id;
pub mod schedule;
pub mod servicebus;
pub mod targets;
pub mod throttle;
pub mod verdict;
pub mod workitem;
