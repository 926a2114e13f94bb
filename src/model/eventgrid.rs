//! The Event Grid event as it reaches the `MpeEvent` function: the Event Grid schema, with the data of
//! `Microsoft.Resources.*` events (the fields the approver reads). Typed once here; the handler decides
//! on the typed event. Fields are optional where Azure's sample payloads leave them out; the function
//! says which it needs.
//!
//! Shape: `functions/captures/event-grid-resource-write-success.json` (a Microsoft docs sample, copied in
//! `tests/fixtures/`); `data` may arrive as a JSON string (double-encoded) and is decoded either way.
//!
//! [`Event::from_value`] reads an event out of the parsed envelope, whatever its form; [`Event::plain`]
//! reads the usual form straight from the invocation body, in one pass and without building the JSON
//! tree, and declines everything else.

use crate::functions::unwrap_json;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::marker::PhantomData;

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

    /// The event of an Event Grid invocation body (`{"Data": {"event": {...}}, "Metadata": {...}}`) in
    /// its usual form, read in one pass: the body is JSON, `Metadata` (when there) an object, `Data` an
    /// object with one `event` key whose value is one event object, the event's `data` and
    /// `data.authorization` objects (or null), no key of those objects twice, and every field [`Event`]
    /// holds a string without escapes (or null). `None` for any other body; the caller then parses the
    /// envelope and reads the event with [`Event::from_value`], which gives the same event for every
    /// body this accepts.
    pub fn plain(body: &[u8]) -> Option<Event> {
        PlainEvent::read(body).map(PlainEvent::into_event)
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

/// The invocation body as [`Event::plain`] reads it: `Data.event` typed, `Metadata` and every other key
/// checked as JSON and skipped.
#[derive(Deserialize)]
struct PlainEnvelope<'a> {
    #[serde(rename = "Data", borrow)]
    data: PlainData<'a>,
    #[serde(rename = "Metadata", default)]
    _metadata: SkippedObject,
}

/// `Data`: an object whose `event` key (once) holds the event; its other keys are skipped.
struct PlainData<'a>(PlainEvent<'a>);

/// One event with the fields of [`Event`], borrowed from the invocation body: what [`Event::plain`]
/// reads, before its fields are copied out (the fields that say whether an event is an MPE write at
/// all are read here, without copying any).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlainEvent<'a> {
    #[serde(borrow)]
    id: Option<&'a str>,
    #[serde(borrow)]
    event_type: Option<&'a str>,
    #[serde(borrow)]
    subject: Option<&'a str>,
    #[serde(borrow)]
    topic: Option<&'a str>,
    #[serde(borrow)]
    event_time: Option<&'a str>,
    #[serde(borrow)]
    data: Option<ObjectOnly<PlainResourceData<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlainResourceData<'a> {
    #[serde(borrow)]
    operation_name: Option<&'a str>,
    #[serde(borrow)]
    resource_uri: Option<&'a str>,
    #[serde(borrow)]
    correlation_id: Option<&'a str>,
    #[serde(borrow)]
    status: Option<&'a str>,
    #[serde(borrow)]
    authorization: Option<ObjectOnly<PlainAuthorization<'a>>>,
}

#[derive(Deserialize)]
struct PlainAuthorization<'a> {
    #[serde(borrow)]
    action: Option<&'a str>,
    #[serde(borrow)]
    scope: Option<&'a str>,
}

impl<'a> PlainEvent<'a> {
    /// The event of an invocation body in the usual form ([`Event::plain`] says which), borrowed.
    pub fn read(body: &'a [u8]) -> Option<PlainEvent<'a>> {
        let envelope: ObjectOnly<PlainEnvelope<'a>> = serde_json::from_slice(body).ok()?;
        Some(envelope.0.data.0)
    }

    pub fn id(&self) -> Option<&'a str> {
        self.id
    }

    /// `eventType`, empty when absent (as [`Event::event_type`]).
    pub fn event_type(&self) -> &'a str {
        self.event_type.unwrap_or_default()
    }

    /// As [`Event::operation`].
    pub fn operation(&self) -> &'a str {
        let data = self.data.as_ref().map(|d| &d.0);
        data.and_then(|d| d.operation_name)
            .or_else(|| data.and_then(|d| d.authorization.as_ref()).and_then(|a| a.0.action))
            .unwrap_or_default()
    }

    pub fn into_event(self) -> Event {
        let owned = |s: Option<&str>| s.map(str::to_string);
        let data = self.data.map(|d| d.0).map_or_else(ResourceData::default, |d| ResourceData {
            operation_name: owned(d.operation_name),
            resource_uri: owned(d.resource_uri),
            correlation_id: owned(d.correlation_id),
            status: owned(d.status),
            authorization: d
                .authorization
                .map(|a| Authorization { action: owned(a.0.action), scope: owned(a.0.scope) }),
        });
        Event {
            id: owned(self.id),
            event_type: self.event_type.unwrap_or_default().to_string(),
            subject: owned(self.subject),
            topic: owned(self.topic),
            event_time: owned(self.event_time),
            data,
        }
    }
}

/// `T` read from a JSON object only: an array (which a derived struct would also take) or any other
/// value is an error.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A JSON object, read to its end and dropped; absent is empty.
#[derive(Default)]
struct SkippedObject;

impl<'de> Deserialize<'de> for SkippedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SkippedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(SkippedObject)
            }
        }
        d.deserialize_map(V)
    }
}

/// A key of `Data`: whether it is `event`.
struct IsEvent(bool);

impl<'de> Deserialize<'de> for IsEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IsEvent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<IsEvent, E> {
                Ok(IsEvent(key == "event"))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PlainData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = PlainData<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the Data object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut event = None;
                while let Some(IsEvent(is_event)) = map.next_key()? {
                    if !is_event {
                        map.next_value::<IgnoredAny>()?;
                    } else if event.is_some() {
                        return Err(de::Error::duplicate_field("event"));
                    } else {
                        event = Some(map.next_value::<ObjectOnly<PlainEvent<'a>>>()?.0);
                    }
                }
                event.map(PlainData).ok_or_else(|| de::Error::missing_field("event"))
            }
        }
        d.deserialize_map(V(PhantomData))
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

    /// The event as the general path reads it: the envelope parsed, `Data.event` (else the first value)
    /// unwrapped, one object, [`Event::from_value`].
    fn general(body: &str) -> Option<Event> {
        let req: crate::functions::InvocationRequest = serde_json::from_str(body).ok()?;
        let raw = req.data.get("event").or_else(|| req.data.values().next())?;
        match unwrap_json(raw) {
            v @ Value::Object(_) => Event::from_value(&v).ok(),
            _ => None,
        }
    }

    #[test]
    fn plain_reads_the_usual_form_as_the_general_path_and_declines_the_rest() {
        let event = json!({"subject": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
            "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2026-11-23T09:59:59Z", "id": "e-1",
            "data": {"authorization": {"scope": "/subscriptions/s", "action": "Microsoft.Storage/storageAccounts/write",
                                       "evidence": {"role": "Contributor"}},
                     "claims": {"_claim_names": "{\"groups\":\"src1\"}", "ver": "1.0"}, "correlationId": "c-1",
                     "resourceUri": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
                     "operationName": "Microsoft.Storage/storageAccounts/write", "status": "Succeeded"},
            "dataVersion": "2", "metadataVersion": "1", "topic": "/subscriptions/s"});
        let envelope = |event: Value| json!({"Data": {"event": event.clone()}, "Metadata": {"data": event["data"], "sys": {"MethodName": "MpeEvent"}}});
        let with = |k: &str, v: Value| {
            let mut e = event.clone();
            e[k] = v;
            envelope(e)
        };
        let data_with = |k: &str, v: Value| {
            let mut e = event.clone();
            e["data"][k] = v;
            envelope(e)
        };
        let read: Vec<String> = vec![
            envelope(event.clone()).to_string(),
            json!({"Data": {"event": event, "other": [1, {"x": null}]}, "Extra": true}).to_string(),
            with("eventType", Value::Null).to_string(),
            with("data", Value::Null).to_string(),
            with("data", json!({})).to_string(),
            with("id", Value::Null).to_string(),
            with("subject", Value::Null).to_string(),
            data_with("authorization", Value::Null).to_string(),
            data_with("authorization", json!({})).to_string(),
            data_with("operationName", Value::Null).to_string(),
            format!(" \n{} \n", envelope(event.clone())),
            with("subject", json!("/subscriptions/s\u{e9}")).to_string(),
        ];
        for body in &read {
            let plain = Event::plain(body.as_bytes());
            assert!(plain.is_some(), "the usual form is read: {body}");
            assert_eq!(plain, general(body), "{body}");
            // The borrowed fields say what the owned event says.
            let (borrowed, owned) = (PlainEvent::read(body.as_bytes()).unwrap(), plain.unwrap());
            assert_eq!(borrowed.event_type(), owned.event_type, "{body}");
            assert_eq!(borrowed.operation(), owned.operation(), "{body}");
            assert_eq!(borrowed.id(), owned.id.as_deref(), "{body}");
        }
        let declined: Vec<String> = vec![
            String::new(),
            "not json".into(),
            format!("{} x", envelope(event.clone())),
            format!("[{}]", json!({"event": event})),
            json!({"Metadata": {}}).to_string(),
            json!({"Data": null}).to_string(),
            json!({"Data": {"event": event}, "Metadata": 5}).to_string(),
            json!({"Data": {"event": event}, "Metadata": null}).to_string(),
            json!({"Data": {"events": event}}).to_string(),
            json!({"Data": {"event": event.to_string()}}).to_string(),
            json!({"Data": {"event": [event]}}).to_string(),
            json!({"Data": {"event": null}}).to_string(),
            format!(r#"{{"Data": {{"event": {event}, "event": {event}}}}}"#),
            format!(r#"{{"Data": {{"event": {event}}}, "Data": {{"event": {event}}}}}"#),
            format!(r#"{{"Data": {{"event": {{"id": "a", "id": "b"}}}}}}"#),
            with("data", json!(event["data"].to_string())).to_string(),
            with("data", json!([1])).to_string(),
            with("eventType", json!(5)).to_string(),
            with("topic", json!(["x"])).to_string(),
            with("subject", json!("/subscriptions/s\nmpe.audit")).to_string(),
            format!(r#"{{"Data": {{"event": {{"subject": "/subscriptions/s\u00e9"}}}}}}"#),
            data_with("authorization", json!(["A/write", "scope"])).to_string(),
            data_with("authorization", json!("A/write")).to_string(),
            data_with("resourceUri", json!({"x": 1})).to_string(),
        ];
        for body in &declined {
            assert_eq!(Event::plain(body.as_bytes()), None, "{body}");
        }
        // Bytes that are not UTF-8 inside a string.
        let mut bad = envelope(event).to_string().into_bytes();
        let at = bad.windows(3).position(|w| w == b"e-1").unwrap();
        bad[at] = 0xff;
        assert_eq!(Event::plain(&bad), None);
    }
}
