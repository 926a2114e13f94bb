//! The functional core: the decision of a check and its vocabulary, which PEC is the MPE's, the
//! approval policy, the check schedule, what a replayed message becomes, and what a deployment needs
//! from the code. Pure; imports only `model/`.

pub mod decision;
pub mod deploy;
pub mod evidence;
pub mod naming;
pub mod policy;
pub mod replay;
pub mod schedule;
pub mod verdict;
