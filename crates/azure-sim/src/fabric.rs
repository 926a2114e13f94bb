//! The simulated Fabric REST API's workspace managed private endpoints, at
//! `{base}/fabric/v1/workspaces/{workspace}/managedPrivateEndpoints[/{id}]`, standing for
//! `https://api.fabric.microsoft.com/v1/...` (the approver's `MPE_FABRIC_ENDPOINT` points at `{base}/fabric`),
//! written from `microsoft/fabric-rest-api-specs` (`platform/swagger.json`, the managed private endpoint
//! operations and examples).
//!
//! - `GET .../managedPrivateEndpoints`: `{"value": [...]}`, every MPE of the workspace that exists now, each
//!   as its GET renders it ([`crate::mpe`]); pages of [`crate::SimOptions::list_page_size`] with
//!   `continuationToken` and `continuationUri` (the next page at `?continuationToken=`).
//! - `GET .../{id}`: the MPE; an unknown one answers 404.
//! - `POST .../managedPrivateEndpoints` with `{"name", "targetPrivateLinkResourceId", "targetSubresourceType",
//!   "requestMessage"}`: creates an MPE as the service does (`Provisioning`, then its private endpoint and
//!   PEC carrying the request message, then `Succeeded`/`Pending`; no Azure event), answering 201 with the
//!   body and a `Location`.
//! - `DELETE .../{id}`: 200, the MPE gone and its PEC Disconnected.
//!
//! Errors are the API's `ErrorResponse` (`{"errorCode", "message", "requestId"}`). Every call needs a token
//! for `https://api.fabric.microsoft.com` ([`FABRIC_AUDIENCE`]); a workspace the world does not know
//! answers 404. Calls are counted with ARM's ([`crate::state::World::count_data_plane_call`]). This file must never
//! panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::data_plane_page;
use crate::id::ResourceId;
use crate::state::MpeSpec;
use crate::sync::lock;
use crate::tokens::FABRIC_AUDIENCE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The type of a workspace, as the approver files it (no Azure type exists).
pub const WORKSPACE_TYPE: &str = "MpeApprover.Fabric/workspaces";

/// A created MPE's private endpoint and PEC appear after this, and it reports `Succeeded`/`Pending` after
/// [`PENDING_AFTER`] (no timing is published; the other services' defaults).
pub const PEC_APPEARS_AFTER: Duration = Duration::from_secs(5);
pub const PENDING_AFTER: Duration = Duration::from_secs(10);

/// The API's `ErrorResponse`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let request = uuid::Uuid::new_v4().to_string();
    (status, Json(json!({"errorCode": code, "message": message.into(), "requestId": request}))).into_response()
}

/// Every request under `{base}/fabric/`.
pub async fn handler(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = lock(&st.tokens).check(&headers, FABRIC_AUDIENCE) {
        return error(StatusCode::UNAUTHORIZED, why.code, why.message);
    }
    let path = uri.path().strip_prefix("/fabric/").unwrap_or_default().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').collect();
    let shape_ok = matches!(segs.len(), 4 | 5)
        && segs[0] == "v1"
        && segs[1].eq_ignore_ascii_case("workspaces")
        && segs[3].eq_ignore_ascii_case("managedPrivateEndpoints");
    if !shape_ok {
        return error(StatusCode::NOT_FOUND, "EntityNotFound", format!("No API found for /{path}"));
    }
    let now = st.clock.now();
    let mut world = lock(&st.world);
    let Some(workspace) = world.api_parent(WORKSPACE_TYPE, &[segs[2]]) else {
        return error(StatusCode::NOT_FOUND, "WorkspaceNotFound", format!("The workspace {} was not found.", segs[2]));
    };
    let collection = format!("{workspace}/managedPrivateEndpoints");
    world.count_data_plane_call(&collection, segs.get(4).copied(), method == Method::GET);
    let Some(mpe) = segs.get(4) else {
        return match method {
            Method::GET => {
                let items = world.read_mpes_under(&workspace, now);
                let (page, next) = data_plane_page(items, st.options.list_page_size, uri.query(), "continuationToken");
                let mut v = json!({ "value": page });
                if let Some(token) = next {
                    v["continuationUri"] = json!(format!("{}/fabric/{path}?continuationToken={token}", st.base_url));
                    v["continuationToken"] = json!(token);
                }
                Json(v).into_response()
            }
            Method::POST => create(&mut world, &workspace, &body, now, &st.base_url, path),
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{method} is not allowed here")),
        };
    };
    let Ok(id) = ResourceId::parse(&format!("{collection}/{mpe}")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("'{mpe}' is not a managed private endpoint id."),
        );
    };
    let missing =
        || error(StatusCode::NOT_FOUND, "EntityNotFound", format!("The managed private endpoint {mpe} was not found."));
    match method {
        Method::GET => world.read_mpe(&id, now).map_or_else(missing, |b| Json(b).into_response()),
        Method::DELETE => match world.delete_mpe(&id, now) {
            Ok(()) => StatusCode::OK.into_response(),
            Err(_) => missing(),
        },
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{method} is not allowed here")),
    }
}

/// `POST .../managedPrivateEndpoints`: the MPE created now, answered 201 with its body and `Location`.
fn create(
    world: &mut crate::state::World,
    workspace: &ResourceId,
    body: &Bytes,
    now: chrono::DateTime<chrono::Utc>,
    base: &str,
    path: &str,
) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidInput", e.to_string()),
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let (Some(name), Some(target)) = (text("name"), text("targetPrivateLinkResourceId")) else {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "name and targetPrivateLinkResourceId are required.");
    };
    if name.chars().count() > 64 || text("requestMessage").is_some_and(|m| m.chars().count() > 140) {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "name is at most 64 characters, requestMessage 140.");
    }
    let taken = world.live_mpes_under(workspace, now).iter().any(|id| {
        world
            .mpe_body(id, now)
            .and_then(|b| b.get("name").and_then(Value::as_str).map(|n| n.eq_ignore_ascii_case(name)))
            == Some(true)
    });
    if taken {
        return error(StatusCode::CONFLICT, "Conflict", format!("A managed private endpoint named {name} exists."));
    }
    let mpe = uuid::Uuid::new_v4().to_string();
    let id = format!("{workspace}/managedPrivateEndpoints/{mpe}");
    let mut spec = MpeSpec::new(&id, target).timing(PEC_APPEARS_AFTER, PENDING_AFTER).named(name);
    if let Some(g) = text("targetSubresourceType") {
        spec = spec.group_id(g);
    }
    spec = spec.request_message(text("requestMessage").unwrap_or_default());
    if let Err(e) = world.add_mpe(spec, now) {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", e.to_string());
    }
    match ResourceId::parse(&id).ok().and_then(|id| world.mpe_body(&id, now)) {
        Some(b) => {
            let location = format!("{base}/fabric/{path}/{mpe}");
            (StatusCode::CREATED, [(header::LOCATION, location)], Json(b)).into_response()
        }
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", "the managed private endpoint was not kept"),
    }
}
