//! mpe-demo: the one crate that knows both the approver (`mpe-approver`, what we decide) and the local
//! Azure (`azure-sim`, what Azure answers). [`harness`] wires them together in process; [`demo`] runs
//! the seed cases on that wiring and renders the summary the `mpe-demo` binary prints (`cargo demo`).
//! Neither the deployed package nor the approver depends on this crate.

pub mod demo;
pub mod harness;
pub mod playground;

pub use demo::{render, run, CaseResult, DemoOptions, DemoReport, Expect};
pub use harness::{serve_handler, Harness, IdentityEndpointTokens, SimTime};
