//! The functional core: the decision of a check and its vocabulary, which PEC is the MPE's, the
//! approval policy, the check schedule, what a replayed message becomes, what a deployment needs
//! from the code, and what to do with a Private Link Service's connections. Pure; imports only `model/`
//! and `core/`.

pub mod decision;
pub mod deploy;
pub mod evidence;
pub mod naming;
pub mod pls;
pub mod policy;
pub mod readiness;
pub mod replay;
pub mod schedule;
pub mod verdict;
