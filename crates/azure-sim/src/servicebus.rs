//! The simulated Service Bus: queues with scheduled delivery, duplicate detection, dead-lettering, and
//! the REST send endpoint (`POST {base}/servicebus/{queue}/messages`).
//!
//! Time is the injected clock's. The Functions-host emulator takes messages from here (`take_due`) and
//! settles them (`redeliver`, `dead_letter`). This file must never panic on a request, and never deliver
//! a message before its scheduled time or twice within the duplicate-detection window.

use super::identity::SERVICEBUS_AUDIENCE;
use super::{lock, AppState};
use crate::clock::SharedClock;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Duplicate-detection window (simulated time).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// Deliveries before a message is dead-lettered (the queue's maxDeliveryCount).
pub const MAX_DELIVERY_COUNT: u32 = 10;

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingMessage {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub body: String,
    pub content_type: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub time_to_live: Option<Duration>,
    pub properties: BTreeMap<String, String>,
}

/// A message in a queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SbMessage {
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub body: String,
    pub content_type: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub enqueued_at: DateTime<Utc>,
    /// When it becomes visible (`ScheduledEnqueueTimeUtc`, or the enqueue time).
    pub visible_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub sequence_number: u64,
    /// Deliveries so far, including the one in progress once taken.
    pub delivery_count: u32,
    pub lock_token: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub message: SbMessage,
    pub reason: String,
    pub description: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    /// Same MessageId within the window: accepted but dropped.
    Duplicate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    #[error("no queue named {0}")]
    NoQueue(String),
}

#[derive(Default)]
struct Queue {
    name: String,
    messages: Vec<SbMessage>,
    dead: Vec<DeadLetter>,
    /// message id → when it was accepted.
    seen: HashMap<String, DateTime<Utc>>,
    sent: u64,
    duplicates: u64,
    delivered: u64,
    expired: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueReport {
    pub name: String,
    pub sent: u64,
    pub duplicates_dropped: u64,
    pub deliveries: u64,
    pub expired: u64,
    /// Visible now.
    pub active: usize,
    /// Scheduled for later.
    pub scheduled: usize,
    pub dead_lettered: usize,
}

/// Handle to the simulated namespace. Clones share the queues.
#[derive(Clone)]
pub struct ServiceBus {
    inner: Arc<Mutex<BusInner>>,
    clock: SharedClock,
}

#[derive(Default)]
struct BusInner {
    queues: BTreeMap<String, Queue>,
    sequence: u64,
}

impl ServiceBus {
    pub fn new(clock: SharedClock, queues: &[&str]) -> Self {
        let mut inner = BusInner::default();
        for q in queues {
            inner.queues.insert(q.to_ascii_lowercase(), Queue { name: q.to_string(), ..Default::default() });
        }
        ServiceBus { inner: Arc::new(Mutex::new(inner)), clock }
    }

    pub fn has_queue(&self, queue: &str) -> bool {
        lock(&self.inner).queues.contains_key(&queue.to_ascii_lowercase())
    }

    /// Enqueue, applying duplicate detection.
    pub fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, BusError> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        inner.sequence += 1;
        let seq = inner.sequence;
        let q = inner.queues.get_mut(&queue.to_ascii_lowercase()).ok_or_else(|| BusError::NoQueue(queue.into()))?;
        let window = chrono::Duration::from_std(DUPLICATE_WINDOW).unwrap_or(chrono::Duration::zero());
        q.seen.retain(|_, at| *at + window > now);
        let message_id = m.message_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        q.sent += 1;
        if q.seen.contains_key(&message_id) {
            q.duplicates += 1;
            tracing::debug!(target: "simulator", queue, %message_id, "duplicate dropped");
            return Ok(SendOutcome::Duplicate);
        }
        q.seen.insert(message_id.clone(), now);
        let expires_at =
            m.time_to_live.and_then(|t| chrono::Duration::from_std(t).ok()).and_then(|t| now.checked_add_signed(t));
        q.messages.push(SbMessage {
            message_id,
            correlation_id: m.correlation_id,
            body: m.body,
            content_type: m.content_type,
            properties: m.properties,
            enqueued_at: now,
            visible_at: m.scheduled_at.map_or(now, |s| s.max(now)),
            expires_at,
            sequence_number: seq,
            delivery_count: 0,
            lock_token: String::new(),
        });
        Ok(SendOutcome::Accepted)
    }

    /// Remove and return the messages visible now (a peek-lock receive), oldest first, each with its
    /// delivery count incremented and a fresh lock token. Expired messages are dropped.
    pub fn take_due(&self, queue: &str) -> Vec<SbMessage> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) else {
            return Vec::new();
        };
        let before = q.messages.len();
        q.messages.retain(|m| m.expires_at.is_none_or(|e| e > now));
        q.expired += (before - q.messages.len()) as u64;
        let (mut due, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut q.messages).into_iter().partition(|m| m.visible_at <= now);
        q.messages = rest;
        due.sort_by_key(|m| (m.visible_at, m.sequence_number));
        for m in &mut due {
            m.delivery_count += 1;
            m.lock_token = uuid::Uuid::new_v4().to_string();
        }
        q.delivered += due.len() as u64;
        due
    }

    /// Abandon a taken message: visible again at once.
    pub fn redeliver(&self, queue: &str, mut m: SbMessage) {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        if let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) {
            m.visible_at = now;
            q.messages.push(m);
        }
    }

    pub fn dead_letter(&self, queue: &str, m: SbMessage, reason: &str, description: &str) {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        if let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) {
            tracing::info!(target: "simulator", queue, message_id = %m.message_id, reason, "dead-lettered");
            q.dead.push(DeadLetter { message: m, reason: reason.into(), description: description.into(), at: now });
        }
    }

    /// Every message in the queue, visible or scheduled, without taking it.
    pub fn peek(&self, queue: &str) -> Vec<SbMessage> {
        let inner = lock(&self.inner);
        let mut v = inner.queues.get(&queue.to_ascii_lowercase()).map(|q| q.messages.clone()).unwrap_or_default();
        v.sort_by_key(|m| m.sequence_number);
        v
    }

    pub fn dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        let inner = lock(&self.inner);
        inner.queues.get(&queue.to_ascii_lowercase()).map(|q| q.dead.clone()).unwrap_or_default()
    }

    pub fn report(&self) -> Vec<QueueReport> {
        let now = self.clock.now();
        let inner = lock(&self.inner);
        inner
            .queues
            .values()
            .map(|q| QueueReport {
                name: q.name.clone(),
                sent: q.sent,
                duplicates_dropped: q.duplicates,
                deliveries: q.delivered,
                expired: q.expired,
                active: q.messages.iter().filter(|m| m.visible_at <= now).count(),
                scheduled: q.messages.iter().filter(|m| m.visible_at > now).count(),
                dead_lettered: q.dead.len(),
            })
            .collect()
    }
}

/// Headers that are transport, not application properties.
const NOT_PROPERTIES: &[&str] = &[
    "authorization",
    "brokerproperties",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "transfer-encoding",
    "expect",
    "x-ms-version",
    "x-ms-client-request-id",
    "traceparent",
    "tracestate",
];

/// `"abc"` → `abc`; anything else as is.
fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        if let Ok(serde_json::Value::String(s)) = serde_json::from_str::<serde_json::Value>(v) {
            return s;
        }
    }
    v.to_string()
}

fn sb_error(status: StatusCode, detail: &str) -> Response {
    let body =
        format!("<Error><Code>{}</Code><Detail>{}</Detail></Error>", status.as_u16(), detail.replace('<', "&lt;"));
    (status, [("content-type", "application/xml; charset=utf-8")], body).into_response()
}

/// Parse the `BrokerProperties` header into the message.
fn apply_broker_properties(raw: &str, m: &mut OutgoingMessage) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| format!("BrokerProperties is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("BrokerProperties is not a JSON object")?;
    let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
    m.message_id = text("MessageId");
    m.correlation_id = text("CorrelationId");
    if let Some(s) = obj.get("ScheduledEnqueueTimeUtc") {
        let s = s.as_str().ok_or("ScheduledEnqueueTimeUtc is not a string")?;
        let t = httpdate::parse_http_date(s)
            .map_err(|_| format!("ScheduledEnqueueTimeUtc {s:?} is not an RFC 1123 date"))?;
        m.scheduled_at = Some(DateTime::<Utc>::from(t));
    }
    if let Some(ttl) = obj.get("TimeToLive") {
        let secs = ttl
            .as_f64()
            .or_else(|| ttl.as_str().and_then(|s| s.parse().ok()))
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or("TimeToLive must be a positive number of seconds")?;
        m.time_to_live = Duration::try_from_secs_f64(secs).ok();
    }
    Ok(())
}

/// `POST {base}/servicebus/{queue}/messages`.
pub async fn send_handler(
    State(st): State<Arc<AppState>>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = lock(&st.tokens).check(&headers, SERVICEBUS_AUDIENCE) {
        return sb_error(StatusCode::UNAUTHORIZED, why);
    }
    if !st.bus.has_queue(&queue) {
        return sb_error(StatusCode::GONE, &format!("no queue named {queue}"));
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return sb_error(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };
    let mut m = OutgoingMessage { body: text, ..Default::default() };
    if let Some(bp) = headers.get("brokerproperties") {
        let Ok(raw) = bp.to_str() else {
            return sb_error(StatusCode::BAD_REQUEST, "BrokerProperties is not ASCII");
        };
        if let Err(why) = apply_broker_properties(raw, &mut m) {
            return sb_error(StatusCode::BAD_REQUEST, &why);
        }
    }
    m.content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    for (name, value) in &headers {
        let n = name.as_str();
        if NOT_PROPERTIES.contains(&n) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            m.properties.insert(n.to_string(), unquote(v));
        }
    }
    match st.bus.send(&queue, m) {
        Ok(_) => StatusCode::CREATED.into_response(),
        Err(e) => sb_error(StatusCode::GONE, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ScaledClock;

    fn bus() -> ServiceBus {
        ServiceBus::new(Arc::new(ScaledClock::new(Utc::now(), 1000.0)), &["work", "parked"])
    }

    #[test]
    fn duplicates_are_dropped_within_the_window() {
        let b = bus();
        let m = OutgoingMessage { message_id: Some("m1".into()), body: "a".into(), ..Default::default() };
        assert_eq!(b.send("work", m.clone()).unwrap(), SendOutcome::Accepted);
        assert_eq!(b.send("WORK", m.clone()).unwrap(), SendOutcome::Duplicate);
        assert_eq!(b.peek("work").len(), 1);
        assert_eq!(b.send("nope", m).unwrap_err(), BusError::NoQueue("nope".into()));
        // 10 simulated minutes = 600 ms real at factor 1000: too slow for a unit test, so check the window via retain math.
        assert_eq!(b.report()[1].duplicates_dropped, 1);
    }

    /// A clock that moves only when told.
    struct Manual(Mutex<DateTime<Utc>>);
    impl crate::clock::Clock for Manual {
        fn now(&self) -> DateTime<Utc> {
            *lock(&self.0)
        }
        fn real(&self, d: Duration) -> Duration {
            d
        }
    }

    #[test]
    fn duplicate_window_expires_after_ten_minutes() {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let b = ServiceBus::new(clock.clone(), &["work"]);
        let m = OutgoingMessage { message_id: Some("m1".into()), body: "a".into(), ..Default::default() };
        assert_eq!(b.send("work", m.clone()).unwrap(), SendOutcome::Accepted);
        *lock(&clock.0) += chrono::Duration::seconds(599);
        assert_eq!(b.send("work", m.clone()).unwrap(), SendOutcome::Duplicate);
        *lock(&clock.0) += chrono::Duration::seconds(2);
        assert_eq!(b.send("work", m).unwrap(), SendOutcome::Accepted);
        assert_eq!(b.peek("work").len(), 2);
    }

    #[test]
    fn expired_messages_are_dropped() {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let b = ServiceBus::new(clock.clone(), &["work"]);
        let m = OutgoingMessage { body: "a".into(), time_to_live: Some(Duration::from_secs(60)), ..Default::default() };
        b.send("work", m).unwrap();
        *lock(&clock.0) += chrono::Duration::seconds(61);
        assert!(b.take_due("work").is_empty());
        assert_eq!(b.report()[0].expired, 1);
    }

    #[test]
    fn scheduled_messages_wait() {
        let b = bus();
        let later = b.clock.now() + chrono::Duration::seconds(60);
        b.send("work", OutgoingMessage { body: "later".into(), scheduled_at: Some(later), ..Default::default() })
            .unwrap();
        b.send("work", OutgoingMessage { body: "now".into(), ..Default::default() }).unwrap();
        let due = b.take_due("work");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "now");
        assert_eq!(due[0].delivery_count, 1);
        std::thread::sleep(Duration::from_millis(70)); // 70 s simulated
        let due = b.take_due("work");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "later");
        b.redeliver("work", due[0].clone());
        assert_eq!(b.take_due("work")[0].delivery_count, 2);
    }

    #[test]
    fn broker_properties_parse() {
        let mut m = OutgoingMessage::default();
        apply_broker_properties(
            r#"{"MessageId":"x","CorrelationId":"c","ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","TimeToLive":86400}"#,
            &mut m,
        )
        .unwrap();
        assert_eq!(m.message_id.as_deref(), Some("x"));
        assert_eq!(m.scheduled_at.unwrap().to_rfc3339(), "1994-11-06T08:49:37+00:00");
        assert_eq!(m.time_to_live, Some(Duration::from_secs(86400)));
        assert!(apply_broker_properties(r#"{"ScheduledEnqueueTimeUtc":"yesterday"}"#, &mut m).is_err());
        assert!(apply_broker_properties("[", &mut m).is_err());
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
    }
}
