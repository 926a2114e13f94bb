//! mpe-approver: approves Azure managed private endpoint connections automatically, race-safe.
//!
//! See ARCHITECTURE.md for the map. Functional core: [`resource_id`], [`providers`], [`pec`],
//! [`decision`], [`policy`], [`workitem`]. Imperative shell: [`arm`], [`servicebus`], [`auth`], [`functions`],
//! [`handler`]. The local Azure: [`simulator`], driven by [`demo`].

pub mod arm;
pub mod auth;
pub mod clock;
pub mod config;
pub mod decision;
pub mod demo;
pub mod deploy;
pub mod eventgrid;
pub mod functions;
pub mod handler;
pub mod pec;
pub mod policy;
pub mod providers;
pub mod resource_id;
pub mod servicebus;
pub mod simulator;
pub mod targets;
pub mod workitem;
