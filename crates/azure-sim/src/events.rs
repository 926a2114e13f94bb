//! Event Grid `Microsoft.Resources.ResourceWriteSuccess` events, shaped exactly like the Microsoft docs
//! sample (`tests/fixtures/functions/captures/event-grid-resource-write-success.json`), one event object each.
//!
//! Pure builders: this file must never do I/O or read a clock (the caller passes the event time).

use crate::id::ResourceId;
use crate::mpe::MpeType;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Tenant the simulated events come from.
pub const SIM_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The write event for an MPE (operation `<mpe type>/write`, in the type's documented casing) or any
/// other resource (operation `<resource type>/write`).
pub fn write_success_event(resource: impl AsRef<str>, now: DateTime<Utc>) -> Value {
    let resource = resource.as_ref();
    let parsed = ResourceId::parse(resource).ok();
    let operation = match parsed.as_ref().map(|id| (MpeType::of(id), id)) {
        Some((Some(t), _)) => t.write_operation(),
        Some((None, id)) => format!("{}/write", id.resource_type()),
        None => "Microsoft.Resources/write".to_string(),
    };
    resource_write_success_event(resource, &operation, now)
}

/// The segment after `name` in an id-like path (case-insensitive), or "".
fn segment_after<'a>(path: &'a str, name: &str) -> &'a str {
    let mut it = path.split('/');
    while let Some(s) = it.next() {
        if s.eq_ignore_ascii_case(name) {
            return it.next().unwrap_or_default();
        }
    }
    ""
}

/// A ResourceWriteSuccess event for `resource` with the given `operationName`, fresh `id` and
/// `correlationId`. Use it for non-MPE writes (e.g. `Microsoft.Storage/storageAccounts/write`).
pub fn resource_write_success_event(resource: impl AsRef<str>, operation: &str, now: DateTime<Utc>) -> Value {
    let resource = resource.as_ref();
    let sub = segment_after(resource, "subscriptions");
    let provider = segment_after(resource, "providers");
    let id = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let t = now.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    json!({
        "subject": resource,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": t,
        "id": id,
        "data": {
            "authorization": {
                "scope": resource,
                "action": operation,
                "evidence": { "role": "Contributor" }
            },
            "claims": {
                "aud": "https://management.azure.com/",
                "iss": format!("https://sts.windows.net/{SIM_TENANT}/"),
                "iat": now.timestamp().to_string(),
                "nbf": now.timestamp().to_string(),
                "exp": (now.timestamp() + 3600).to_string(),
                "http://schemas.microsoft.com/claims/authnclassreference": "1",
                "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "appidacr": "0",
                "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation",
                "http://schemas.microsoft.com/identity/claims/tenantid": SIM_TENANT,
                "name": "Simulated Operator",
                "ver": "1.0"
            },
            "correlationId": correlation,
            "resourceProvider": provider,
            "resourceUri": resource,
            "operationName": operation,
            "status": "Succeeded",
            "subscriptionId": sub,
            "tenantId": SIM_TENANT
        },
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": format!("/subscriptions/{sub}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaped_like_the_capture() {
        let id = ResourceId::parse(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m",
        )
        .unwrap();
        let e = write_success_event(&id, Utc::now());
        assert_eq!(e["data"]["resourceProvider"], "Microsoft.Kusto");
        assert_eq!(e["subject"], id.as_str());
        assert_eq!(e["data"]["resourceUri"], id.as_str());
        assert_eq!(e["data"]["operationName"], "Microsoft.Kusto/clusters/managedPrivateEndpoints/write");
        assert_eq!(e["topic"], "/subscriptions/s1");
        assert_ne!(e["id"], write_success_event(&id, Utc::now())["id"]);
        let st = ResourceId::parse("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a")
            .unwrap();
        assert_eq!(
            write_success_event(&st, Utc::now())["data"]["operationName"],
            "Microsoft.Storage/storageAccounts/write"
        );
        // Same keys as the Microsoft docs sample (a verbatim copy in the repository's test fixtures).
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/functions/captures/event-grid-resource-write-success.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let sample: Value = serde_json::from_str(&text).unwrap();
        let sample = &sample[0];
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&e), keys(sample));
        assert_eq!(keys(&e["data"]), keys(&sample["data"]));
    }
}
