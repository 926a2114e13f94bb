//! The simulated Databricks account API's private endpoint rules, at
//! `{base}/databricks/api/2.0/accounts/{account}/network-connectivity-configs/{ncc}/private-endpoint-rules[/{rule}]`,
//! standing for `https://accounts.azuredatabricks.net/...` (the approver's `MPE_DATABRICKS_ENDPOINT` points
//! at `{base}/databricks`), written from its documentation (docs.databricks.com, networking/v1: "List",
//! "Get", "Create" and "Delete" of `NccPrivateEndpointRule`).
//!
//! - `GET .../private-endpoint-rules`: `{"items": [...]}`, every rule of the NCC that exists now, each as its
//!   GET renders it ([`crate::mpe`]); pages of [`crate::SimOptions::list_page_size`] with `next_page_token`
//!   (the next page at `?page_token=`).
//! - `GET .../{rule}`: the rule; an unknown one answers 404 `RESOURCE_DOES_NOT_EXIST`.
//! - `POST .../private-endpoint-rules` with `{"resource_id", "group_id"}`: creates a rule as the service
//!   does (`CREATING`, then its private endpoint and PEC, then `PENDING`; no Azure event), answering it.
//! - `DELETE .../{rule}`: the rule gone, its PEC Disconnected; answered with the rule.
//!
//! Every call needs a token for the Azure Databricks application ([`DATABRICKS_AUDIENCE`]); an NCC the world
//! does not know answers 404. Calls are counted with ARM's ([`crate::state::World::count_data_plane_call`]). This
//! file must never panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::data_plane_page;
use crate::id::ResourceId;
use crate::state::MpeSpec;
use crate::sync::lock;
use crate::tokens::DATABRICKS_AUDIENCE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A created rule's private endpoint and PEC appear after this, and it reports `PENDING` after
/// [`PENDING_AFTER`].
pub const PEC_APPEARS_AFTER: Duration = Duration::from_secs(5);
pub const PENDING_AFTER: Duration = Duration::from_secs(10);

/// The account API's error body: `{"error_code", "message"}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({"error_code": code, "message": message.into()}))).into_response()
}

/// Every request under `{base}/databricks/`.
pub async fn handler(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = lock(&st.tokens).check(&headers, DATABRICKS_AUDIENCE) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", format!("{}: {}", why.code, why.message));
    }
    let path = uri.path().strip_prefix("/databricks/").unwrap_or_default().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').collect();
    let shape_ok = matches!(segs.len(), 7 | 8)
        && segs[0] == "api"
        && segs[1] == "2.0"
        && segs[2] == "accounts"
        && segs[4] == "network-connectivity-configs"
        && segs[6] == "private-endpoint-rules";
    if !shape_ok {
        return error(StatusCode::NOT_FOUND, "ENDPOINT_NOT_FOUND", format!("No API found for /{path}"));
    }
    let now = st.clock.now();
    let mut world = lock(&st.world);
    let Some(ncc) = world.ncc(segs[3], segs[5]) else {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            format!("Network connectivity config {} does not exist.", segs[5]),
        );
    };
    world.count_data_plane_call(&format!("{ncc}/privateEndpointRules"), segs.get(7).copied(), method == Method::GET);
    let Some(rule) = segs.get(7) else {
        return match method {
            Method::GET => {
                let items = world.read_mpes_under(&ncc, now);
                let (page, next) = data_plane_page(items, st.options.list_page_size, uri.query(), "page_token");
                let mut v = json!({ "items": page });
                if let Some(token) = next {
                    v["next_page_token"] = json!(token);
                }
                Json(v).into_response()
            }
            Method::POST => {
                let v: Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => return error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", e.to_string()),
                };
                let target = v.get("resource_id").and_then(Value::as_str).unwrap_or_default();
                let rule = uuid::Uuid::new_v4().to_string();
                let id = format!("{ncc}/privateEndpointRules/{rule}");
                let mut spec = MpeSpec::new(&id, target).timing(PEC_APPEARS_AFTER, PENDING_AFTER);
                if let Some(g) = v.get("group_id").and_then(Value::as_str) {
                    spec = spec.group_id(g);
                }
                if let Err(e) = world.add_mpe(spec, now) {
                    return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", e.to_string());
                }
                match ResourceId::parse(&id).ok().and_then(|id| world.mpe_body(&id, now)) {
                    Some(b) => Json(b).into_response(),
                    None => error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "the rule was not kept"),
                }
            }
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", format!("{method} is not allowed here")),
        };
    };
    let Ok(id) = ResourceId::parse(&format!("{ncc}/privateEndpointRules/{rule}")) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", format!("'{rule}' is not a rule id."));
    };
    let missing = || {
        error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", format!("Private endpoint rule {rule} does not exist."))
    };
    match method {
        Method::GET => world.read_mpe(&id, now).map_or_else(missing, |b| Json(b).into_response()),
        Method::DELETE => {
            let Some(b) = world.mpe_body(&id, now) else { return missing() };
            match world.delete_mpe(&id, now) {
                Ok(()) => Json(b).into_response(),
                Err(_) => missing(),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", format!("{method} is not allowed here")),
    }
}
