//! The simulated Synapse data plane: a workspace's managed private endpoints, at
//! `{base}/synapse/{workspace}/managedVirtualNetworks/{vnet}/managedPrivateEndpoints[/{name}]`, standing
//! for `https://{workspace}.dev.azuresynapse.net/...` (the approver's `MPE_SYNAPSE_ENDPOINT` points here).
//!
//! - `GET .../managedPrivateEndpoints`: `{"value": [...]}`, the workspace's two reserved MPEs and every
//!   MPE of it that exists now, each as its GET renders it (`ListManagedPrivateEndpoints.json`; the
//!   recorded list showed the reserved ones).
//! - `GET .../{name}`: the MPE ([`crate::mpe`]); an unknown one answers 404 with the body the recorded
//!   session showed after a delete (`UnknownError`, the data plane's 404 inside its message).
//! - `PUT .../{name}` with `{"properties": {"privateLinkResourceId", "groupId"}}`: creates the MPE as the
//!   service does (`Provisioning`, its private endpoint and PEC following; no ARM event), answering 200
//!   with the body (the recording); a name in use answers its body unchanged.
//! - `DELETE .../{name}`: 202, the MPE gone and its PEC Disconnected.
//!
//! Calls are counted with ARM's ([`crate::state::World::count_data_plane_call`], under the ARM-shaped id each
//! concerns). Every call needs a token for `https://dev.azuresynapse.net` ([`SYNAPSE_AUDIENCE`]) and an api-version;
//! a workspace the world does not know answers 404 as a host that does not resolve cannot. This file must
//! never panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::{arm_error, json_body, method_not_allowed};
use crate::id::ResourceId;
use crate::mpe::synapse_reserved;
use crate::state::MpeSpec;
use crate::sync::lock;
use crate::tokens::SYNAPSE_AUDIENCE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The type of a Synapse MPE.
pub const MPE_TYPE: &str = "Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints";

/// A created MPE's private endpoint and PEC appear after this, and it reports `Succeeded`/`Pending` after
/// [`PENDING_AFTER`] (92 s in the recorded session; shortened as the other services' defaults are).
pub const PEC_APPEARS_AFTER: Duration = Duration::from_secs(5);
pub const PENDING_AFTER: Duration = Duration::from_secs(10);

fn not_found(name: &str) -> Response {
    let inner = json!({
        "CorrelationId": "",
        "StatusCode": 404,
        "Message": format!("Resource not found: Message=PrivateEndpoint has been deleted: ReferenceName={name}."),
    });
    arm_error(StatusCode::NOT_FOUND, "UnknownError", inner.to_string())
}

/// Every request under `{base}/synapse/`.
pub async fn handler(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = lock(&st.tokens).check(&headers, SYNAPSE_AUDIENCE) {
        return arm_error(StatusCode::UNAUTHORIZED, why.code, why.message);
    }
    let api_version = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());
    if api_version.is_none() {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter is required.",
        );
    }
    let path = uri.path().strip_prefix("/synapse/").unwrap_or_default().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').collect();
    let shape_ok = matches!(segs.len(), 4 | 5)
        && segs[1].eq_ignore_ascii_case("managedVirtualNetworks")
        && segs[3].eq_ignore_ascii_case("managedPrivateEndpoints");
    if !shape_ok {
        return arm_error(StatusCode::NOT_FOUND, "NotFound", format!("No such data-plane path: /{path}"));
    }
    let now = st.clock.now();
    let mut world = lock(&st.world);
    let Some(workspace) = world.data_plane_parent(segs[0]) else {
        return arm_error(StatusCode::NOT_FOUND, "WorkspaceNotFound", format!("Workspace '{}' not found.", segs[0]));
    };
    let collection = format!("{workspace}/managedVirtualNetworks/{}/managedPrivateEndpoints", segs[2]);
    // Counted with ARM's calls, under the resource each concerns (the reports count calls to Azure).
    world.count_data_plane_call(&collection, segs.get(4).copied(), method == Method::GET);
    let Some(name) = segs.get(4) else {
        if method != Method::GET {
            return method_not_allowed(&method);
        }
        let mut value = synapse_reserved(&workspace);
        let Ok(parent) = ResourceId::parse(collection.rsplit_once('/').map(|(p, _)| p).unwrap_or_default()) else {
            return Json(json!({ "value": value })).into_response();
        };
        for id in world.live_mpes_under(&parent, now) {
            if let Some(b) = world.read_mpe(&id, now) {
                value.push(b);
            }
        }
        return Json(json!({ "value": value })).into_response();
    };
    let Ok(id) = ResourceId::parse(&format!("{collection}/{name}")) else {
        return arm_error(StatusCode::BAD_REQUEST, "InvalidName", format!("'{name}' is not a valid name."));
    };
    if let Some(r) = synapse_reserved(&workspace)
        .into_iter()
        .find(|r| r["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    {
        return match method {
            Method::GET => Json(r).into_response(),
            _ => arm_error(
                StatusCode::BAD_REQUEST,
                "ReservedManagedPrivateEndpoint",
                "A reserved MPE cannot be changed.",
            ),
        };
    }
    match method {
        Method::GET => match world.read_mpe(&id, now) {
            Some(b) => Json(b).into_response(),
            None => not_found(name),
        },
        Method::PUT => {
            if let Some(b) = world.read_mpe(&id, now) {
                return Json(b).into_response();
            }
            let v: Value = match json_body(&body) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let props = v.get("properties");
            let target = props.and_then(|p| p.get("privateLinkResourceId")).and_then(Value::as_str).unwrap_or_default();
            let mut spec = MpeSpec::new(id.as_str(), target).timing(PEC_APPEARS_AFTER, PENDING_AFTER);
            if let Some(g) = props.and_then(|p| p.get("groupId")).and_then(Value::as_str) {
                spec = spec.group_id(g);
            }
            if let Err(e) = world.add_mpe(spec, now) {
                return arm_error(StatusCode::BAD_REQUEST, "InvalidRequest", e.to_string());
            }
            match world.mpe_body(&id, now) {
                Some(b) => Json(b).into_response(),
                None => not_found(name),
            }
        }
        Method::DELETE => match world.delete_mpe(&id, now) {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(_) => not_found(name),
        },
        _ => method_not_allowed(&method),
    }
}
