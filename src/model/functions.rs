//! The Azure Functions custom-handler envelope: `{Data, Metadata}` in, `{Outputs, Logs, ReturnValue}` out.
//!
//! The host JSON-serialises strings, numbers and booleans a second time (`"\"abc\""`, `"1"`), sends
//! byte arrays as base64 and objects as objects. Decoding here is liberal so the triggers see plain
//! values; nothing in this module knows about MPEs.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
pub struct InvocationRequest {
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Default, Serialize)]
pub struct InvocationResponse {
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

impl InvocationResponse {
    /// Record a line in the invocation's log (the host writes it to Application Insights as a trace of
    /// this invocation). Our own tracing gets it at debug level only (`RUST_LOG=debug`): the host also
    /// captures stdout, and a line written to both would appear twice. What a chain ended with is the
    /// `mpe.outcome` event, on stdout or stderr (see `handler::check`). Every line starts with the level
    /// and has anything unprintable escaped ([`crate::logsafe::scrub`]): no part of it can start a line.
    pub fn log(&mut self, level: tracing::Level, line: impl Into<String>) {
        let line = line.into();
        let line = crate::logsafe::scrub(&line);
        tracing::debug!(severity = %level, "{line}");
        let mut entry = String::with_capacity(level.as_str().len() + 2 + line.len());
        entry.push_str(level.as_str());
        entry.push_str(": ");
        entry.push_str(&line);
        self.logs.push(entry);
    }
}

/// Unwrap up to three layers of JSON-in-a-string: `"\"{\\\"a\\\":1}\""` → `{"a":1}`.
/// A string that is not JSON stays a string.
pub fn unwrap_json(v: &Value) -> Value {
    let mut cur = v.clone();
    for _ in 0..3 {
        match &cur {
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(inner) => cur = inner,
                Err(_) => break,
            },
            _ => break,
        }
    }
    cur
}

/// A binding value as text: a (possibly double-encoded) string; bytes sent as base64 when they decode
/// to UTF-8 JSON; objects and arrays as their JSON text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::String(inner)) => return Some(inner),
                Ok(Value::Object(_)) | Ok(Value::Array(_)) => return Some(s.clone()),
                _ => {}
            }
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s.trim()) {
                if let Ok(decoded) = String::from_utf8(bytes) {
                    if serde_json::from_str::<Value>(&decoded).map(|v| v.is_object()).unwrap_or(false) {
                        return Some(decoded);
                    }
                }
            }
            Some(s.clone())
        }
        Value::Object(_) | Value::Array(_) => Some(v.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
    }
}

/// A metadata number given as a number, `"3"` or `"\"3\""`.
pub fn number(v: Option<&Value>) -> Option<u64> {
    match unwrap_json(v?) {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A metadata string given plainly or double-encoded.
pub fn string(v: Option<&Value>) -> Option<String> {
    match unwrap_json(v?) {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An `http` output binding value.
pub fn http_response(status: u16, body: &Value) -> Value {
    serde_json::json!({
        "statusCode": status.to_string(),
        "body": body.to_string(),
        "headers": { "Content-Type": "application/json" }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_double_encoding() {
        assert_eq!(text(&json!("\"aaaaa\"")).as_deref(), Some("aaaaa"));
        assert_eq!(text(&json!("plain")).as_deref(), Some("plain"));
        assert_eq!(text(&json!("\"{\\\"v\\\":1}\"")).as_deref(), Some("{\"v\":1}"));
        assert_eq!(text(&json!({"v": 1})).as_deref(), Some("{\"v\":1}"));
        assert_eq!(text(&json!("eyJ2IjoxfQ==")).as_deref(), Some("{\"v\":1}"));
        assert_eq!(number(Some(&json!("1"))), Some(1));
        assert_eq!(number(Some(&json!("\"7\""))), Some(7));
        assert_eq!(number(Some(&json!(3))), Some(3));
        assert_eq!(number(Some(&json!("x"))), None);
        assert_eq!(string(Some(&json!("\"id\""))).as_deref(), Some("id"));
        assert_eq!(unwrap_json(&json!("\"{\\\"a\\\":1}\"")), json!({"a": 1}));
    }
}
