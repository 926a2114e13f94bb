//! Sending to Service Bus over its documented REST protocol with an Entra ID token.
//!
//! `POST {endpoint}/{queue}/messages`, `Authorization: Bearer`, `BrokerProperties` (JSON) carrying
//! `MessageId`, `CorrelationId`, `TimeToLive` and `ScheduledEnqueueTimeUtc` (RFC 1123); every other
//! header is an application property. Behind [`QueueSender`] so the handler does not care where
//! messages go.

use crate::arm::{read_body_capped, Timeouts};
use crate::auth::TokenSource;
use crate::clock::{self, SharedClock};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Application property names we set. They travel as HTTP headers, whose names HTTP clients lower-case
/// (HTTP/2 requires it), so Service Bus stores them lower-case: name them as they will be read.
pub mod props {
    /// Why an item was parked.
    pub const PARK_REASON: &str = "parkreason";
    /// Its stable code (`decision::ParkCode`), for filters and replays.
    pub const PARK_CODE: &str = "parkcode";
    /// The function that parked it.
    pub const PARKED_BY: &str = "parkedby";
    /// When (RFC 3339).
    pub const PARKED_AT: &str = "parkedat";
    /// The MPE the message is about.
    pub const MPE_ID: &str = "mpeid";
    /// The check number of a work item.
    pub const ATTEMPT: &str = "attempt";
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub body: String,
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub scheduled_enqueue_utc: Option<DateTime<Utc>>,
    pub time_to_live: Option<Duration>,
    /// Application properties, sent as HTTP headers; names are lower-case on the wire (see [`props`]).
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("Service Bus send to {queue} failed: HTTP {status}: {body}")]
    Status { queue: String, status: u16, body: String },
    #[error("Service Bus send to {queue} failed: {message}")]
    Transport { queue: String, message: String },
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

#[async_trait]
pub trait QueueSender: Send + Sync {
    async fn send(&self, queue: &str, msg: OutgoingMessage) -> Result<(), SendError>;
}

/// Largest Service Bus error body we read (only its first 500 characters are kept).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

pub struct RestSender {
    http: reqwest::Client,
    endpoint: Url,
    audience: String,
    tokens: Arc<dyn TokenSource>,
    clock: SharedClock,
    timeouts: Timeouts,
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
        let http = crate::arm::http_client_with(&timeouts)?;
        Ok(RestSender { http, endpoint, audience, tokens, clock, timeouts })
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

#[async_trait]
impl QueueSender for RestSender {
    async fn send(&self, queue: &str, msg: OutgoingMessage) -> Result<(), SendError> {
        let url = self.url(queue);
        let bp = broker_properties(&msg);
        let mut last = None;
        let deadline = tokio::time::Instant::now() + self.timeouts.call;
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
            let token = crate::auth::token_within(self.tokens.as_ref(), &self.audience, left).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let mut req = self
                .http
                .post(&url)
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .header("BrokerProperties", &bp)
                .timeout(self.timeouts.request.min(left));
            for (k, v) in &msg.properties {
                if property_name_ok(k) {
                    req = req.header(k.as_str(), property_value(v));
                }
            }
            match req.body(msg.body.clone()).send().await {
                Ok(r) if r.status().as_u16() == 201 || r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: String = match read_body_capped(r, MAX_ERROR_BODY).await {
                        Ok(b) => String::from_utf8_lossy(&b).chars().take(500).collect(),
                        Err(e) => format!("({e})"),
                    };
                    let e = SendError::Status { queue: queue.to_string(), status, body };
                    // 401/403/410 will not get better by retrying now.
                    if !(status == 429 || status >= 500) {
                        return Err(e);
                    }
                    last = Some(e);
                }
                Err(e) => last = Some(SendError::Transport { queue: queue.to_string(), message: e.to_string() }),
            }
        }
        Err(last.unwrap_or_else(|| SendError::Transport {
            queue: queue.to_string(),
            message: format!("no answer within {} ms", self.timeouts.call.as_millis()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
