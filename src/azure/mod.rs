//! The Azure clients: the HTTP plumbing under them ([`http`]: timeouts, capped bodies, the authorised
//! call), Entra ID tokens ([`auth`]), ARM ([`arm`]) with its per-subscription throttling
//! ([`throttle`]) and the reads concurrent checks share ([`shared`]), the data planes that keep MPEs outside ARM ([`dataplane`]), and Service Bus REST ([`servicebus`]). They import `model/` and `core/`, never the
//! handlers.

pub mod arm;
pub mod auth;
pub mod dataplane;
pub mod http;
pub mod servicebus;
pub mod shared;
pub mod throttle;
