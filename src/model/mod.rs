//! What Azure and the host show, as data: resource ids, the MPE providers' normalised views, private
//! endpoint connections, target types, a management group's descendants, work items and queue messages, Event Grid events, the
//! custom-handler envelope, and outside text made safe to log. Pure; imports nothing outside this
//! folder.

pub mod eventgrid;
pub mod functions;
pub mod hierarchy;
pub mod logsafe;
pub mod pec;
pub mod providers;
pub mod queue_message;
pub mod resource_id;
pub mod targets;
pub mod workitem;
