//! Sending to and receiving from Service Bus over its documented REST protocol with an Entra ID token.
//!
//! `POST {endpoint}/{queue}/messages`, `Authorization: Bearer`, `BrokerProperties` (JSON) carrying
//! `MessageId`, `CorrelationId`, `TimeToLive` and `ScheduledEnqueueTimeUtc` (RFC 1123); every other
//! header is an application property. Behind [`QueueSender`] so the handler does not care where
//! messages go. The messages themselves are data in [`crate::queue_message`] (re-exported here); the
//! authorised call (bearer token, one fresh token after a 401) and the body cap are [`crate::http`]'s.

use crate::clock::{self, SharedClock};
use crate::http::{read_body_capped, BearerClient, BodyError, NoAnswer, Timeouts, TokenSource};
pub use crate::queue_message::{dead_letter_queue, props, LockedMessage, OutgoingMessage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("Service Bus send to {queue} failed: HTTP {status}: {}", crate::logsafe::q(.body))]
    Status { queue: String, status: u16, body: String },
    #[error("Service Bus send to {queue} failed: {message}")]
    Transport { queue: String, message: String },
    #[error(transparent)]
    Auth(#[from] crate::http::AuthError),
}

#[async_trait]
pub trait QueueSender: Send + Sync {
    async fn send(&self, queue: &str, msg: OutgoingMessage) -> Result<(), SendError>;
    /// The same client's peek-lock side, when it has one (the REST client does; test recorders that only
    /// send do not, and replaying queued messages then says so).
    fn as_receiver(&self) -> Option<&dyn QueueReceiver> {
        None
    }
}

/// Largest Service Bus error body we read (only its first 500 characters are kept).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

pub struct RestSender {
    bearer: BearerClient,
    endpoint: Url,
    clock: SharedClock,
}

impl RestSender {
    pub fn new(
        endpoint: Url,
        audience: String,
        tokens: Arc<dyn TokenSource>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::with_timeouts(endpoint, audience, tokens, clock, Timeouts::default())
    }

    /// As [`RestSender::new`], with explicit time limits (tests inject short ones).
    pub fn with_timeouts(
        endpoint: Url,
        audience: String,
        tokens: Arc<dyn TokenSource>,
        clock: SharedClock,
        timeouts: Timeouts,
    ) -> anyhow::Result<Self> {
        Ok(RestSender { bearer: BearerClient::new("Service Bus", audience, tokens, timeouts)?, endpoint, clock })
    }

    fn url(&self, queue: &str) -> String {
        format!("{}/{}/messages", self.endpoint.as_str().trim_end_matches('/'), queue)
    }
}

/// `BrokerProperties` JSON for a message.
pub fn broker_properties(msg: &OutgoingMessage) -> String {
    let mut bp = serde_json::Map::new();
    bp.insert("MessageId".into(), msg.message_id.clone().into());
    if let Some(c) = &msg.correlation_id {
        bp.insert("CorrelationId".into(), c.clone().into());
    }
    if let Some(t) = msg.time_to_live {
        bp.insert("TimeToLive".into(), t.as_secs().into());
    }
    if let Some(at) = msg.scheduled_enqueue_utc {
        bp.insert("ScheduledEnqueueTimeUtc".into(), httpdate::fmt_http_date(at.into()).into());
    }
    serde_json::Value::Object(bp).to_string()
}

/// An application-property header value: a JSON string of printable ASCII, at most 1024 characters.
pub fn property_value(v: &str) -> String {
    let clean: String = v.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(1024).collect();
    serde_json::Value::String(clean).to_string()
}

fn property_name_ok(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl SendError {
    /// Service Bus refused the message for good: 401 (also to a fresh token: the identity lacks Azure
    /// Service Bus Data Sender), 400, 404/410 (no such queue), 413. Retrying will not help. 403 is not
    /// among them: Service Bus answers it for a full queue (quota exceeded) too, which drains.
    pub fn is_refused(&self) -> bool {
        matches!(self, SendError::Status { status, .. } if (400..500).contains(status) && !matches!(status, 403 | 408 | 429))
    }
}

#[async_trait]
impl QueueSender for RestSender {
    async fn send(&self, queue: &str, msg: OutgoingMessage) -> Result<(), SendError> {
        let url = self.url(queue);
        let bp = broker_properties(&msg);
        let mut last = None;
        let deadline = tokio::time::Instant::now() + self.bearer.timeouts().call;
        for attempt in 0..3u32 {
            if attempt > 0 {
                let wait = Duration::from_millis(250 << attempt);
                if tokio::time::Instant::now() + self.clock.real(wait) >= deadline {
                    break;
                }
                clock::sleep(self.clock.as_ref(), wait).await;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let build = |http: &reqwest::Client| {
                let mut req =
                    http.post(&url).header("Content-Type", "application/json").header("BrokerProperties", &bp);
                for (k, v) in &msg.properties {
                    if property_name_ok(k) {
                        req = req.header(k.as_str(), property_value(v));
                    }
                }
                req.body(msg.body.clone())
            };
            // Each attempt is a call of its own, with its own fresh token after a 401.
            match self.bearer.call(left).send(build).await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = Self::error_body(r).await;
                    let e = SendError::Status { queue: queue.to_string(), status, body };
                    // 401 (to a fresh token too), 403, 410 ... will not get better by retrying now.
                    if !(status == 429 || status >= 500) {
                        return Err(e);
                    }
                    last = Some(e);
                }
                Err(NoAnswer::Auth(e)) => return Err(e.into()),
                Err(NoAnswer::Transport(message)) => {
                    last = Some(SendError::Transport { queue: queue.to_string(), message })
                }
            }
        }
        Err(last.unwrap_or_else(|| SendError::Transport {
            queue: queue.to_string(),
            message: format!("no answer within {} ms", self.bearer.timeouts().call.as_millis()),
        }))
    }

    fn as_receiver(&self) -> Option<&dyn QueueReceiver> {
        Some(self)
    }
}

/// What to do with a locked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// `DELETE .../messages/{id}/{lock}`: remove it (after its replacement was sent).
    Complete,
    /// `PUT`: release the lock; the message is visible again at once.
    Unlock,
    /// `POST`: hold the lock for another lock duration.
    Renew,
}

impl Settle {
    fn verb(self) -> &'static str {
        match self {
            Settle::Complete => "complete",
            Settle::Unlock => "unlock",
            Settle::Renew => "renew-lock",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("Service Bus {op} on {queue} failed: HTTP {status}: {}", crate::logsafe::q(.body))]
    Status { op: &'static str, queue: String, status: u16, body: String },
    #[error("Service Bus {op} on {queue} failed: {message}")]
    Transport { op: &'static str, queue: String, message: String },
    #[error("Service Bus {op} on {queue}: {}", crate::logsafe::q(.message))]
    Malformed { op: &'static str, queue: String, message: String },
    /// The message was locked, but its body is over [`MAX_RECEIVED_BODY`]: `locked` holds its lock and
    /// properties with an empty body (the caller settles it like any other).
    #[error("Service Bus peek-lock on {}: message {:?} has a body over the {cap}-byte receive cap", .locked.queue, .locked.message_id)]
    TooLarge { locked: Box<LockedMessage>, cap: usize },
    #[error(transparent)]
    Auth(#[from] crate::http::AuthError),
}

/// Peek-lock receive and settlement. Behind a trait so the replay can be tested without a bus.
#[async_trait]
pub trait QueueReceiver: Send + Sync {
    /// Lock the next available message of `queue` (a queue or `<queue>/$DeadLetterQueue`); `None`
    /// when none is available.
    async fn lock_next(&self, queue: &str) -> Result<Option<LockedMessage>, ReceiveError>;
    async fn settle(&self, msg: &LockedMessage, how: Settle) -> Result<(), ReceiveError>;
}

/// Headers of a received message that are the protocol's, not application properties.
const PROTOCOL_HEADERS: &[&str] = &[
    "brokerproperties",
    "content-type",
    "content-length",
    "date",
    "server",
    "location",
    "transfer-encoding",
    "strict-transport-security",
    "connection",
    "keep-alive",
];

/// Read a peek-lock answer's headers (`BrokerProperties`, application properties) and body.
pub fn locked_message(
    queue: &str,
    headers: &reqwest::header::HeaderMap,
    body: String,
) -> Result<LockedMessage, String> {
    let bp = headers
        .get("brokerproperties")
        .and_then(|v| v.to_str().ok())
        .ok_or("the answer has no BrokerProperties header")?;
    let bp: serde_json::Value = serde_json::from_str(bp).map_err(|e| format!("BrokerProperties is not JSON: {e}"))?;
    let text = |k: &str| bp.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let number = |k: &str| bp.get(k).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    let date = |k: &str| {
        text(k).and_then(|s| httpdate::parse_http_date(&s).ok().map(DateTime::<Utc>::from).or_else(|| s.parse().ok()))
    };
    let message_id = text("MessageId").filter(|s| !s.is_empty()).ok_or("BrokerProperties has no MessageId")?;
    let lock_token = text("LockToken").filter(|s| !s.is_empty()).ok_or("BrokerProperties has no LockToken")?;
    let mut properties = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        if PROTOCOL_HEADERS.contains(&name.as_str()) || name.starts_with("x-ms-") {
            continue;
        }
        let Ok(v) = value.to_str() else { continue };
        // Service Bus sends string properties JSON-quoted; numbers and booleans bare.
        let v = serde_json::from_str::<String>(v).unwrap_or_else(|_| v.to_string());
        properties.insert(name, v);
    }
    Ok(LockedMessage {
        queue: queue.to_string(),
        body,
        message_id,
        lock_token,
        sequence_number: number("SequenceNumber"),
        delivery_count: number("DeliveryCount").and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        enqueued_at: date("EnqueuedTimeUtc"),
        locked_until: date("LockedUntilUtc"),
        correlation_id: text("CorrelationId"),
        properties,
    })
}

/// Largest body of a received message we read: ours are < 1 KiB; a parked unreadable input can be
/// larger (the Functions host caps what it forwards at a few hundred KiB).
pub const MAX_RECEIVED_BODY: usize = 1024 * 1024;

impl RestSender {
    fn settle_url(&self, msg: &LockedMessage) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "{}/{}/messages/{}/{}",
            self.endpoint.as_str().trim_end_matches('/'),
            msg.queue,
            enc(&msg.message_id),
            enc(&msg.lock_token)
        )
    }

    async fn error_body(r: reqwest::Response) -> String {
        match read_body_capped(r, MAX_ERROR_BODY).await {
            Ok(b) => String::from_utf8_lossy(&b).chars().take(500).collect(),
            Err(e) => format!("({e})"),
        }
    }
}

#[async_trait]
impl QueueReceiver for RestSender {
    async fn lock_next(&self, queue: &str) -> Result<Option<LockedMessage>, ReceiveError> {
        const OP: &str = "peek-lock";
        let url = format!("{}/messages/head?timeout=1", self.url(queue).trim_end_matches("/messages"));
        let transport = |e: &dyn std::fmt::Display| ReceiveError::Transport {
            op: OP,
            queue: queue.to_string(),
            message: e.to_string(),
        };
        let r = self
            .bearer
            .call(self.bearer.timeouts().call)
            .send(|http| http.post(&url).header("Content-Length", "0"))
            .await
            .map_err(|e| match e {
                NoAnswer::Auth(e) => ReceiveError::Auth(e),
                NoAnswer::Transport(m) => transport(&m),
            })?;
        match r.status().as_u16() {
            204 => Ok(None),
            200 | 201 => {
                let headers = r.headers().clone();
                // The lock is in the headers: read them first, so a body too large to read still
                // leaves a message the scan can hold and move past.
                let mut msg = locked_message(queue, &headers, String::new())
                    .map_err(|message| ReceiveError::Malformed { op: OP, queue: queue.to_string(), message })?;
                match read_body_capped(r, MAX_RECEIVED_BODY).await {
                    Ok(body) => msg.body = String::from_utf8_lossy(&body).into_owned(),
                    Err(BodyError::TooLarge { cap, .. }) => {
                        return Err(ReceiveError::TooLarge { locked: Box::new(msg), cap })
                    }
                    Err(e) => return Err(transport(&e)),
                }
                Ok(Some(msg))
            }
            status => {
                Err(ReceiveError::Status { op: OP, queue: queue.to_string(), status, body: Self::error_body(r).await })
            }
        }
    }

    async fn settle(&self, msg: &LockedMessage, how: Settle) -> Result<(), ReceiveError> {
        let op = how.verb();
        let url = self.settle_url(msg);
        let build = |http: &reqwest::Client| {
            let req = match how {
                Settle::Complete => http.delete(&url),
                Settle::Unlock => http.put(&url),
                Settle::Renew => http.post(&url),
            };
            req.header("Content-Length", "0")
        };
        let r = self.bearer.call(self.bearer.timeouts().call).send(build).await.map_err(|e| match e {
            NoAnswer::Auth(e) => ReceiveError::Auth(e),
            NoAnswer::Transport(message) => ReceiveError::Transport { op, queue: msg.queue.clone(), message },
        })?;
        if r.status().is_success() {
            return Ok(());
        }
        let status = r.status().as_u16();
        Err(ReceiveError::Status { op, queue: msg.queue.clone(), status, body: Self::error_body(r).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_messages_read_broker_and_application_properties() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "brokerproperties",
            r#"{"MessageId":"m1","LockToken":"l1","SequenceNumber":7,"DeliveryCount":3,"EnqueuedTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","LockedUntilUtc":"Sun, 06 Nov 1994 08:50:37 GMT"}"#.parse().unwrap(),
        );
        h.insert("parkcode", "\"policy-refused\"".parse().unwrap());
        h.insert("deadletterreason", "MaxDeliveryCountExceeded".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-ms-request-id", "abc".parse().unwrap());
        let m = locked_message("q/$DeadLetterQueue", &h, "{}".into()).unwrap();
        assert_eq!((m.message_id.as_str(), m.lock_token.as_str(), m.delivery_count), ("m1", "l1", 3));
        assert_eq!(m.sequence_number, Some(7));
        assert_eq!(m.enqueued_at.unwrap().to_rfc3339(), "1994-11-06T08:49:37+00:00");
        assert_eq!(m.property("ParkCode"), Some("policy-refused"));
        assert_eq!(m.property("deadletterreason"), Some("MaxDeliveryCountExceeded"));
        assert_eq!(m.properties.len(), 2, "{:?}", m.properties);
        h.remove("brokerproperties");
        assert!(locked_message("q", &h, String::new()).unwrap_err().contains("BrokerProperties"));
    }

    #[test]
    fn broker_properties_use_rfc1123() {
        let m = OutgoingMessage {
            body: "{}".into(),
            message_id: "m1".into(),
            correlation_id: Some("c1".into()),
            scheduled_enqueue_utc: Some("1994-11-06T08:49:37Z".parse().unwrap()),
            time_to_live: Some(Duration::from_secs(86400)),
            properties: vec![],
        };
        let v: serde_json::Value = serde_json::from_str(&broker_properties(&m)).unwrap();
        assert_eq!(v["ScheduledEnqueueTimeUtc"], "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(v["MessageId"], "m1");
        assert_eq!(v["CorrelationId"], "c1");
        assert_eq!(v["TimeToLive"], 86400);
    }

    #[test]
    fn property_values_are_header_safe() {
        assert_eq!(property_value("a\nb\u{e9}"), "\"a?b?\"");
        assert_eq!(property_value("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
