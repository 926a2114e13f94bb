//! Creating an MPE through ARM (`PUT {mpe id}`), as a deployment or `az rest` does: the service creates it
//! as the world's lifecycle says (its private endpoint and PEC following, then pending; the race rule
//! applies), ARM answers `201 Created` with the MPE as its service renders it then, and the write is noted
//! for its `ResourceWriteSuccess` event ([`crate::Simulator::take_created`]: whoever runs the host
//! delivers it).
//!
//! What the MPE connects to is read from the create body where its service's API names it: the first of
//! `privateLinkResourceId` (Data Factory, Data Explorer, SignalR, Web PubSub, AI Search, Grafana),
//! `privateLinkServiceId` (Stream Analytics, a private endpoint's manual connection) and `privateLink.id`
//! (a Front Door origin), wherever it sits in the body; its group from `groupId` (or the first of
//! `groupIds`), its request message from `requestMessage`. A PUT of an MPE that exists answers it as it is
//! (the simulated services take no updates). This file must never panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::{arm_error, json_body};
use crate::id::ResourceId;
use crate::state::MpeSpec;
use crate::sync::lock;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The first string found under `key` anywhere in `v` (depth first, objects in order, arrays in order).
fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key).or_else(|| m.values().find_map(|x| find(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    find(v, key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `PUT {mpe id}` of a served MPE type kept in ARM.
pub(crate) fn create_mpe(st: &AppState, id: &ResourceId, body: &[u8], now: DateTime<Utc>) -> Response {
    let mut world = lock(&st.world);
    if let Some(b) = world.read_mpe(id, now) {
        return Json(b).into_response();
    }
    let v: Value = match json_body(body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let target = text(&v, "privateLinkResourceId")
        .or_else(|| text(&v, "privateLinkServiceId"))
        .or_else(|| find(&v, "privateLink").and_then(|p| p.get("id")).and_then(Value::as_str));
    let Some(target) = target else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request names no resource to connect to (privateLinkResourceId, privateLinkServiceId or privateLink.id).",
        );
    };
    let mut spec = MpeSpec::new(id.as_str(), target);
    let group = text(&v, "groupId")
        .or_else(|| find(&v, "groupIds").and_then(|g| g.get(0)).and_then(Value::as_str).filter(|s| !s.is_empty()));
    if let Some(g) = group {
        spec = spec.group_id(g);
    }
    if let Some(m) = text(&v, "requestMessage") {
        spec = spec.request_message(m);
    }
    if let Err(e) = world.add_mpe(spec, now) {
        return arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", e.to_string());
    }
    lock(&st.created).push(id.to_string());
    match world.mpe_body(id, now) {
        Some(b) => (StatusCode::CREATED, Json(b)).into_response(),
        None => arm_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "the MPE was not kept"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_target_is_found_where_each_service_names_it() {
        let t = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";
        for body in [
            json!({"properties": {"privateLinkResourceId": t, "groupId": "blob"}}),
            json!({"properties": {"manualPrivateLinkServiceConnections": [{"properties": {"privateLinkServiceId": t, "groupIds": ["blob"]}}]}}),
            json!({"properties": {"sharedPrivateLinkResource": {"privateLink": {"id": t}, "groupId": "blob"}}}),
        ] {
            let found = text(&body, "privateLinkResourceId")
                .or_else(|| text(&body, "privateLinkServiceId"))
                .or_else(|| find(&body, "privateLink").and_then(|p| p.get("id")).and_then(Value::as_str));
            assert_eq!(found, Some(t), "{body}");
        }
    }
}
