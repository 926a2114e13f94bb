//! Event Grid function: `Microsoft.Resources.ResourceWriteSuccess` for an MPE write → a work item on
//! the queue, scheduled for the first check. Other events are acknowledged with a debug log. A
//! malformed event is parked with the reason (retrying cannot fix it), and so is a work item the work
//! queue refuses for good; only a failed send (transient, or the parking queue refusing too) fails the
//! invocation, so Event Grid retries it.

use super::{enqueue, App, Reply};
use crate::decision::{ParkCode, ParkReason};
use crate::eventgrid::{Event, PlainEvent};
use crate::functions::{unwrap_json, InvocationRequest};
use crate::logsafe::{q, q_max};
use crate::providers;
use crate::resource_id::ResourceId;
use crate::workitem::{correlation_or_new, Origin, WorkItem};
use serde_json::Value;
use tracing::{Instrument, Level};

const WRITE_SUCCESS: &str = "Microsoft.Resources.ResourceWriteSuccess";

/// What to do with one event.
#[derive(Debug, PartialEq)]
pub(crate) enum EventAction {
    /// `event_id`: the event's id (empty when it has none), the key of the check chain it starts.
    Enqueue {
        mpe_id: ResourceId,
        correlation_id: String,
        event_id: String,
    },
    Ignore(String),
    Invalid(String),
}

/// Pure: classify one Event Grid event.
/// `refusal`: why the approver does not act on an MPE at all (its subscription, an opt-in type).
pub(crate) fn classify(raw: &Value, refusal: impl Fn(&ResourceId) -> Option<String>) -> EventAction {
    match Event::from_value(raw) {
        Ok(event) => classify_event(&event, refusal),
        Err(why) => EventAction::Invalid(why),
    }
}

/// Why an event is not the write of an MPE at all: most events (every other resource written in a
/// subscription), told from their type and operation alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NotMpeWrite<'a> {
    EventType(&'a str),
    Operation(&'a str),
}

impl std::fmt::Display for NotMpeWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotMpeWrite::EventType(t) => write!(f, "event type {} is not {WRITE_SUCCESS}", q(t)),
            NotMpeWrite::Operation(op) => write!(f, "operation {} is not an MPE write", q(op)),
        }
    }
}

/// Pure: the provider whose MPE write this is, or why the event is not one.
pub(crate) fn mpe_write<'a>(
    event_type: &'a str,
    operation: &'a str,
) -> Result<&'static dyn providers::Provider, NotMpeWrite<'a>> {
    if !event_type.eq_ignore_ascii_case(WRITE_SUCCESS) {
        return Err(NotMpeWrite::EventType(event_type));
    }
    providers::for_operation(operation).ok_or(NotMpeWrite::Operation(operation))
}

/// Pure: classify one typed event ([`classify`] once the event is read).
pub(crate) fn classify_event(event: &Event, refusal: impl Fn(&ResourceId) -> Option<String>) -> EventAction {
    let operation = event.operation();
    let provider = match mpe_write(&event.event_type, operation) {
        Ok(provider) => provider,
        Err(not) => return EventAction::Ignore(not.to_string()),
    };
    let Some(uri) = event.resource() else {
        return EventAction::Invalid(format!("operation {} event without data.resourceUri or subject", q(operation)));
    };
    let id = match ResourceId::parse(uri) {
        Ok(id) => id,
        Err(e) => return EventAction::Invalid(e.to_string()),
    };
    if !id.is_type(provider.resource_type()) {
        return EventAction::Invalid(format!(
            "operation {} does not match resource {id} (type {})",
            q(operation),
            id.resource_type()
        ));
    }
    if let Some(subject) = event.subject.as_deref() {
        if ResourceId::parse(subject).map(|s| s != id).unwrap_or(false) {
            return EventAction::Invalid(format!("subject {} and data.resourceUri {id} disagree", q(subject)));
        }
    }
    if let Some(why) = refusal(&id) {
        return EventAction::Ignore(why);
    }
    let correlation_id = correlation_or_new(event.data.correlation_id.as_deref());
    EventAction::Enqueue { mpe_id: id, correlation_id, event_id: event.id.clone().unwrap_or_default() }
}

/// The reply to an invocation whose one event is ignored, when the body is in the usual form
/// ([`Event::plain`]): the "ignored event" line of [`run`], without parsing the envelope into a JSON tree.
/// `None` for every other body and event; [`run`] then answers. `invocation` names the invocation in
/// the log span, made only when a debug line can be written.
pub(crate) fn ignored(app: &App, body: &[u8], invocation: impl FnOnce() -> String) -> Option<Reply> {
    let plain = PlainEvent::read(body)?;
    // Most events: not an MPE write, told without copying a field out of the body.
    if let Err(not) = mpe_write(plain.event_type(), plain.operation()) {
        return Some(ignored_reply(plain.id(), not, invocation));
    }
    let event = plain.into_event();
    // A source filter naming a management group is decided in `run`, with the group resolved.
    let groups_named = !app.config.source_subscriptions.groups().is_empty();
    let refusal = |id: &ResourceId| if groups_named { None } else { app.config.refusal(id) };
    let EventAction::Ignore(why) = classify_event(&event, refusal) else {
        return None;
    };
    Some(ignored_reply(event.id.as_deref(), why, invocation))
}

/// The reply to an invocation whose one event is ignored, and its "ignored event" line as [`run`] writes
/// it (the event's id quoted, escaped and bounded).
fn ignored_reply(event_id: Option<&str>, why: impl std::fmt::Display, invocation: impl FnOnce() -> String) -> Reply {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(160);
    let _ = match event_id {
        Some(id) => write!(line, "ignored event {}: {why}", q_max(id, 64)),
        None => write!(line, "ignored event -: {why}"),
    };
    let mut reply = Reply::new();
    // The line goes to our own tracing at debug level only ([`crate::functions::InvocationResponse::log`]):
    // the span it is written in (the one `run` opens) is made only when some target logs at debug.
    if tracing::level_filters::LevelFilter::current() >= Level::DEBUG {
        let invocation = invocation();
        let invocation = invocation.as_str();
        let event_id = event_id.map_or_else(|| "-".into(), |id| q_max(id, 64).to_string());
        tracing::info_span!("event", invocation, event_id = %event_id).in_scope(|| reply.resp.log(Level::DEBUG, line));
    } else {
        reply.resp.log(Level::DEBUG, line);
    }
    reply
}

pub(crate) async fn run(app: &App, req: InvocationRequest, invocation: &str) -> Reply {
    let mut reply = Reply::new();
    let raw = req.data.get("event").or_else(|| req.data.values().next()).cloned().unwrap_or(Value::Null);
    let events = match unwrap_json(&raw) {
        Value::Array(a) => a,
        Value::Null => {
            reply.resp.log(Level::ERROR, "Event Grid invocation without an event in Data.event");
            return reply;
        }
        other => vec![other],
    };
    // The management groups the source filter names, resolved once for the invocation's events.
    let groups = app.filter_groups(tokio::time::Instant::now() + app.config.budgets.event / 2).await;
    for event in events {
        // The event's id, as it is logged: quoted, escaped and bounded (it is the sender's text).
        let event_id =
            event.get("id").and_then(Value::as_str).map_or_else(|| "-".into(), |id| q_max(id, 64).to_string());
        let span = tracing::info_span!("event", invocation, event_id = %event_id);
        async {
            match classify(&event, |id| app.config.refusal_in(id, &groups)) {
                EventAction::Ignore(why) => reply.resp.log(Level::DEBUG, format!("ignored event {event_id}: {why}")),
                EventAction::Invalid(why) => {
                    let reason = ParkReason::new(ParkCode::InvalidInput, format!("invalid event: {why}"));
                    let what = format!("event {event_id}");
                    app.park_or_fail(&mut reply, &what, event.to_string(), &reason, None, super::EVENT_FUNCTION).await;
                }
                EventAction::Enqueue { mpe_id, correlation_id, event_id } => {
                    let item = WorkItem::new(mpe_id, app.clock.now(), correlation_id, Origin::EventGrid)
                        .with_event_chain(&event_id);
                    let span = tracing::info_span!("mpe", mpe_id = %item.mpe_id, correlation_id = %item.correlation_id);
                    // At least MPE_FIRST_CHECK_DELAY from now, on the grid its parent's checks keep.
                    let first = app.config.schedule.on_grid(
                        app.config.schedule.interval(0),
                        app.clock.now(),
                        crate::schedule::phase_of(&item.mpe_id),
                        app.config.first_check_delay,
                    );
                    async {
                        match enqueue(app, &item, first).await {
                            Ok(msg) => reply.resp.log(
                                Level::INFO,
                                format!(
                                    "mpe={} correlation={} queued first check in {first:?} (message {})",
                                    item.mpe_id, item.correlation_id, msg.message_id
                                ),
                            ),
                            // Refused for good (a missing role, no such queue): parked with the reason,
                            // as retrying the event would be refused again.
                            Err(e) if e.is_refused() => {
                                let reason = ParkReason::new(
                                    ParkCode::QueueRefused,
                                    format!("the first check could not be queued: {e}"),
                                );
                                let what = format!("mpe={} first check", item.mpe_id);
                                app.park_or_fail(
                                    &mut reply,
                                    &what,
                                    item.to_json(),
                                    &reason,
                                    Some(&item),
                                    super::EVENT_FUNCTION,
                                )
                                .await;
                            }
                            Err(e) => {
                                reply.resp.log(Level::ERROR, format!("mpe={} could not enqueue: {e}", item.mpe_id));
                                reply.fail = true;
                            }
                        }
                    }
                    .instrument(span)
                    .await
                }
            }
        }
        .instrument(span)
        .await;
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(op: &str, uri: &str) -> Value {
        json!({"eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": uri,
               "data": {"operationName": op, "resourceUri": uri, "correlationId": "c-1"}})
    }

    #[test]
    fn classifies() {
        let id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe";
        assert!(matches!(
            classify(&ev("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", id), |_| None),
            EventAction::Enqueue { .. }
        ));
        assert!(matches!(
            classify(&ev("MICROSOFT.STREAMANALYTICS/CLUSTERS/PRIVATEENDPOINTS/WRITE", id), |_| None),
            EventAction::Enqueue { .. }
        ));
        assert!(matches!(
            classify(&ev("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", id), |_| Some("refused".into())),
            EventAction::Ignore(_)
        ));
        assert!(matches!(
            classify(&ev("Microsoft.Storage/storageAccounts/write", id), |_| None),
            EventAction::Ignore(_)
        ));
        assert!(matches!(
            classify(&ev("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", "/subscriptions/x/../y"), |_| {
                None
            }),
            EventAction::Invalid(_)
        ));
        let sa = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a";
        assert!(matches!(
            classify(&ev("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", sa), |_| None),
            EventAction::Invalid(_)
        ));
        assert!(matches!(classify(&json!("x"), |_| None), EventAction::Invalid(_)));
        assert!(matches!(
            classify(&json!({"eventType": "Microsoft.Resources.ResourceDeleteSuccess"}), |_| None),
            EventAction::Ignore(_)
        ));
    }
}
