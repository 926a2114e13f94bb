//! The simulated Service Bus's REST runtime API under `{base}/servicebus/`: send (`POST
//! {queue}/messages`), peek-lock (`POST {queuePath}/messages/head`), complete (`DELETE
//! {queuePath}/messages/{messageId}/{lockToken}`), unlock (`PUT` the same) and renew-lock (`POST` the
//! same), where `{queuePath}` is `{queue}` or its dead-letter sub-queue `{queue}/$DeadLetterQueue`. It
//! translates each request into an operation of the queue model ([`super::queues`], through the
//! [`super::ServiceBus`] handle) and its outcome into the status, headers and body Service Bus answers.
//!
//! Written from Microsoft's Service Bus REST reference: "Send Message", "Peek-Lock Message
//! (Non-Destructive Read)", "Unlock Message", "Delete Message" and "Renew-Lock for a Message"
//! (<https://learn.microsoft.com/rest/api/servicebus/peek-lock-message-non-destructive-read> and its
//! siblings), and the runtime API's message properties (`BrokerProperties`, RFC 1123 dates, custom
//! properties as headers). This file must never panic on a request.

use crate::app_state::AppState;
use crate::servicebus::{dead_letter_path, BusError, OutgoingMessage, Received, DEAD_LETTER_QUEUE};
use crate::sync::lock;
use crate::tokens::SERVICEBUS_AUDIENCE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// What Service Bus reports as `TimeToLive` for a message sent without one (the queue's default
/// `defaultMessageTimeToLive`, `TimeSpan.MaxValue`), in seconds.
const DEFAULT_TTL_SECS: f64 = 922_337_203_685.477_5;

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

/// Every request under `{base}/servicebus/`: the runtime REST API on `{queuePath}` = `{queue}` or
/// `{queue}/$DeadLetterQueue`.
///
/// - `POST {queue}/messages`: send ("Send Message"): 201.
/// - `POST {queuePath}/messages/head?timeout=N`: peek-lock ("Peek-Lock Message (Non-Destructive
///   Read)"): 201 with the body, `BrokerProperties`, one header per application property (a JSON
///   value) and `Location: {base}/servicebus/{queuePath}/messages/{messageId}/{lockToken}`; 204 at
///   once when nothing is available (the simulator never waits out `timeout`).
/// - `DELETE {queuePath}/messages/{messageId}/{lockToken}`: complete ("Delete Message"); `PUT`:
///   unlock ("Unlock Message"); `POST`: renew the lock ("Renew-Lock for a Message"). 200, or 404 when
///   no such lock is held (wrong token, settled, or expired).
///
/// 401 without a bearer token for Service Bus's audience; 410 Gone for an unknown queue.
pub async fn handler(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = lock(&st.tokens).check(&headers, SERVICEBUS_AUDIENCE) {
        return sb_error(StatusCode::UNAUTHORIZED, &format!("{}: {}", why.code, why.message));
    }
    let rest = uri.path().strip_prefix("/servicebus/").unwrap_or_default();
    let Some(segs) = rest.split('/').map(percent_decode).collect::<Option<Vec<String>>>() else {
        return sb_error(StatusCode::BAD_REQUEST, "the path is not valid percent-encoded UTF-8");
    };
    let dlq = segs.get(1).is_some_and(|s| s.eq_ignore_ascii_case(DEAD_LETTER_QUEUE));
    let (queue_segs, op) = segs.split_at(if dlq { 2 } else { 1 }.min(segs.len()));
    let Some(queue) = queue_segs.first().filter(|q| !q.is_empty()) else {
        return sb_error(StatusCode::NOT_FOUND, "no entity path");
    };
    let Some(name) = st.bus.queue_name(queue) else {
        return sb_error(StatusCode::GONE, &format!("no queue named {queue}"));
    };
    let path = if dlq { dead_letter_path(&name) } else { name };
    let op: Vec<&str> = op.iter().map(String::as_str).collect();
    match (op.as_slice(), &method) {
        (["messages"], &Method::POST) if !dlq => send(&st, &path, &headers, body),
        (["messages"], &Method::POST) => sb_error(StatusCode::BAD_REQUEST, "cannot send to a dead-letter queue"),
        (["messages", "head"], &Method::POST) => peek_lock(&st, &path),
        (["messages", message_id, token], m) if [Method::DELETE, Method::PUT, Method::POST].contains(m) => {
            settle(&st, &path, m, message_id, token)
        }
        (["messages"] | ["messages", "head"] | ["messages", _, _], m) => {
            sb_error(StatusCode::METHOD_NOT_ALLOWED, &format!("{m} is not supported here"))
        }
        _ => sb_error(StatusCode::NOT_FOUND, &format!("no such resource {}", uri.path())),
    }
}

/// `POST {queue}/messages`.
fn send(st: &AppState, queue: &str, headers: &HeaderMap, body: Bytes) -> Response {
    if let Some(status) = st.bus.with(|ns| ns.send_refusal(queue)) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
        // Service Bus's words for a token without the Send claim (its REST error body is XML).
        let detail = match status.as_u16() {
            401 => format!("Unauthorized access. 'Send' claim(s) are required to perform this operation. Resource: 'sb://sim/{queue}'."),
            403 => format!("The maximum entity size has been reached or exceeded for Queue: '{queue}'. QuotaExceeded."),
            _ => format!("refused by the simulator for {queue}"),
        };
        return sb_error(status, &detail);
    }
    if st.bus.with(|ns| ns.take_send_fault(queue)) {
        tracing::debug!(target: "simulator", queue, "injected Service Bus send fault");
        return sb_error(StatusCode::SERVICE_UNAVAILABLE, "Injected by the simulator. Please retry.");
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
    for (name, value) in headers {
        let n = name.as_str();
        if NOT_PROPERTIES.contains(&n) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            m.properties.insert(n.to_string(), unquote(v));
        }
    }
    match st.bus.send(queue, m) {
        Ok(_) => StatusCode::CREATED.into_response(),
        Err(e) => sb_error(StatusCode::GONE, &e.to_string()),
    }
}

/// RFC 1123, as the REST API writes dates (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn rfc1123(t: DateTime<Utc>) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// `BrokerProperties` of a received message (the REST reference's receive example: `DeliveryCount`,
/// `EnqueuedSequenceNumber`, `EnqueuedTimeUtc`, `LockToken`, `LockedUntilUtc`, `MessageId`,
/// `SequenceNumber`, `State`, `TimeToLive`; `CorrelationId` and `ScheduledEnqueueTimeUtc` when set).
fn broker_properties(r: &Received) -> serde_json::Value {
    let m = &r.message;
    let ttl = m.expires_at.map(|e| (e - m.enqueued_at).num_milliseconds() as f64 / 1000.0).unwrap_or(DEFAULT_TTL_SECS);
    let mut bp = serde_json::json!({
        "DeliveryCount": m.delivery_count,
        "EnqueuedSequenceNumber": 0,
        "EnqueuedTimeUtc": rfc1123(m.enqueued_at),
        "LockToken": m.lock_token,
        "LockedUntilUtc": rfc1123(r.locked_until),
        "MessageId": m.message_id,
        "SequenceNumber": m.sequence_number,
        "State": "Active",
        "TimeToLive": ttl,
    });
    if let Some(c) = &m.correlation_id {
        bp["CorrelationId"] = serde_json::json!(c);
    }
    if m.visible_at > m.enqueued_at {
        bp["ScheduledEnqueueTimeUtc"] = serde_json::json!(rfc1123(m.visible_at));
    }
    bp
}

/// JSON text in printable ASCII (non-ASCII characters as `\uXXXX`), so it fits in a header value.
fn ascii_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `%XX` decoding of one path segment; `None` when malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encode a path segment (everything but RFC 3986's unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `POST {queuePath}/messages/head`.
fn peek_lock(st: &AppState, path: &str) -> Response {
    let r = match st.bus.lock(path) {
        Ok(Some(r)) => r,
        Ok(None) => return StatusCode::NO_CONTENT.into_response(),
        Err(e) => return sb_error(StatusCode::GONE, &e.to_string()),
    };
    let m = &r.message;
    let content_type = m.content_type.clone().unwrap_or_else(|| "application/atom+xml;type=entry;charset=utf-8".into());
    let mut resp = (StatusCode::CREATED, m.body.clone()).into_response();
    let h = resp.headers_mut();
    let mut put = |name: &str, value: String| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            h.insert(n, v);
        }
    };
    put("content-type", content_type);
    put("brokerproperties", ascii_json(&broker_properties(&r)));
    let location = format!(
        "{}/servicebus/{}/messages/{}/{}",
        st.base_url,
        path.split('/').map(percent_encode).collect::<Vec<_>>().join("/").replace("%24", "$"),
        percent_encode(&m.message_id),
        m.lock_token
    );
    put("location", location);
    // Application properties: one header each, string values as JSON strings.
    for (k, v) in &m.properties {
        if !NOT_PROPERTIES.contains(&k.to_ascii_lowercase().as_str()) && !k.eq_ignore_ascii_case("location") {
            put(k, ascii_json(&serde_json::Value::String(v.clone())));
        }
    }
    if let (Some(reason), Some(description)) = (&r.dead_letter_reason, &r.dead_letter_description) {
        put("DeadLetterReason", ascii_json(&serde_json::Value::String(reason.clone())));
        put("DeadLetterErrorDescription", ascii_json(&serde_json::Value::String(description.clone())));
    }
    resp
}

/// `DELETE` (complete), `PUT` (unlock) or `POST` (renew) `{queuePath}/messages/{messageId}/{lockToken}`.
fn settle(st: &AppState, path: &str, method: &Method, message_id: &str, token: &str) -> Response {
    let result = match *method {
        Method::DELETE => {
            let queue = path.split('/').next().unwrap_or(path);
            if st.bus.with(|ns| ns.take_complete_fault(queue)) {
                tracing::debug!(target: "simulator", path, "injected Service Bus complete fault");
                return sb_error(StatusCode::SERVICE_UNAVAILABLE, "Injected by the simulator. Please retry.");
            }
            st.bus.complete(path, message_id, token).map(|_| None)
        }
        Method::PUT => st.bus.unlock(path, message_id, token).map(|_| None),
        _ => st.bus.renew_lock(path, message_id, token).map(Some),
    };
    match result {
        Ok(None) => StatusCode::OK.into_response(),
        Ok(Some(until)) => {
            let mut r = StatusCode::OK.into_response();
            let bp = serde_json::json!({"LockedUntilUtc": rfc1123(until)});
            if let Ok(v) = HeaderValue::from_str(&bp.to_string()) {
                r.headers_mut().insert("brokerproperties", v);
            }
            r
        }
        Err(e @ BusError::NoLock { .. }) => sb_error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => sb_error(StatusCode::GONE, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_codecs() {
        assert_eq!(percent_decode("%24DeadLetterQueue").as_deref(), Some("$DeadLetterQueue"));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert!(percent_decode("%zz").is_none() && percent_decode("%f").is_none() && percent_decode("%ff").is_none());
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(ascii_json(&serde_json::json!("é\n")), r#""\u00e9\n""#);
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
