//! The Event Grid event as it reaches the `MpeEvent` function: the Event Grid schema, with the data of
//! `Microsoft.Resources.*` events (the fields the approver reads). Typed once here; the handler decides
//! on the typed event. Fields are optional where Azure's sample payloads leave them out; the function
//! says which it needs.
//!
//! Shape: `functions/captures/event-grid-resource-write-success.json` (a Microsoft docs sample, copied in
//! `tests/fixtures/`); `data` may arrive as a JSON string (double-encoded) and is decoded either way.

use crate::functions::unwrap_json;
use serde::Deserialize;
use serde_json::Value;

/// One event (Event Grid schema).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub event_time: Option<String>,
    #[serde(default)]
    pub data: ResourceData,
}

/// `data` of a `Microsoft.Resources.ResourceWrite*` event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceData {
    #[serde(default)]
    pub operation_name: Option<String>,
    #[serde(default)]
    pub resource_uri: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl Event {
    /// Decode one event; `data` may be an object or a JSON string holding one. A string field holding
    /// another type is an error, not a silent default.
    pub fn from_value(v: &Value) -> Result<Event, String> {
        let obj = v.as_object().ok_or("event is not a JSON object")?;
        let mut obj = obj.clone();
        if let Some(d) = obj.get("data") {
            let decoded = unwrap_json(d);
            let decoded = if decoded.is_object() { decoded } else { Value::Object(Default::default()) };
            obj.insert("data".into(), decoded);
        }
        // Event Grid sends null for absent optional fields in some envelopes: treat null as absent.
        obj.retain(|_, v| !v.is_null());
        serde_json::from_value(Value::Object(obj))
            .map_err(|e| format!("event does not follow the Event Grid schema: {}", crate::logsafe::q(&e.to_string())))
    }

    /// The ARM operation: `data.operationName`, else `data.authorization.action`.
    pub fn operation(&self) -> &str {
        self.data
            .operation_name
            .as_deref()
            .or_else(|| self.data.authorization.as_ref().and_then(|a| a.action.as_deref()))
            .unwrap_or("")
    }

    /// The resource the event is about: `data.resourceUri`, else `subject`.
    pub fn resource(&self) -> Option<&str> {
        self.data.resource_uri.as_deref().or(self.subject.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_objects_and_double_encoded_data() {
        let data =
            json!({"operationName": "Microsoft.X/y/write", "resourceUri": "/subscriptions/s/x", "correlationId": "c"});
        let a = Event::from_value(&json!({"eventType": "T", "subject": "/s", "data": data})).unwrap();
        let b = Event::from_value(&json!({"eventType": "T", "subject": "/s", "data": data.to_string()})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.operation(), "Microsoft.X/y/write");
        assert_eq!(a.resource(), Some("/subscriptions/s/x"));
        let c =
            Event::from_value(&json!({"eventType": "T", "data": {"authorization": {"action": "A/write"}}})).unwrap();
        assert_eq!(c.operation(), "A/write");
        assert_eq!(c.resource(), None);
        assert!(Event::from_value(&json!("x")).is_err());
        assert!(Event::from_value(&json!({"eventType": 5})).is_err());
        assert!(Event::from_value(&json!({"eventType": "T", "data": {"resourceUri": ["x"]}})).is_err());
        assert!(Event::from_value(&json!({"eventType": null, "data": null})).is_ok());
    }
}
