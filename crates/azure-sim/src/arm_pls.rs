//! The simulated ARM's Private Link Service routes (provider side), from the Network examples:
//!
//! - `GET /subscriptions/{sub}[/resourceGroups/{rg}]/providers/Microsoft.Network/privateLinkServices`
//!   (`PrivateLinkServices_ListBySubscription`, `PrivateLinkServices_List`): the PLSs there,
//!   `{"value": [...], "nextLink"?}`, paged like the other lists ([`crate::SimOptions::list_page_size`]).
//! - `GET {pls}` (`PrivateLinkServices_Get`): the PLS with `properties.privateEndpointConnections`.
//! - `GET {pls}/privateEndpointConnections` (`PrivateLinkServices_ListPrivateEndpointConnections`):
//!   paged like the targets' lists ([`crate::SimOptions::pec_page_size`]).
//! - `GET | PUT | DELETE {pls}/privateEndpointConnections/{name}`: the PUT sets the state the body's
//!   `properties.privateLinkServiceConnectionState` asks (Approved or Rejected, with its description;
//!   `If-Match` honoured with 412) and answers **200** with the connection reading
//!   `provisioningState: Updating` and an `Azure-AsyncOperation` header, as a recorded session shows;
//!   the change applies for [`crate::SimOptions::approval_lro`]. A DELETE answers 202 (204 when there is
//!   nothing to delete).
//!
//! The tags of a PLS (`{pls}/providers/Microsoft.Resources/tags/default`) are `arm.rs`'s tags route.
//! This file must never panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::{arm_error, json_body, method_not_allowed, not_found, paged, refusal};
use crate::id::ResourceId;
use crate::pls::{connection_json, ConnectionStatus, PlsError};
use crate::state::Operation;
use crate::sync::lock;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A request these routes answer (a view of `arm.rs`'s request).
pub(crate) struct PlsReq<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub api_version: &'a str,
    /// Items to skip (`$skiptoken`).
    pub skip: usize,
    pub if_match: Option<&'a str>,
    pub principal: &'a str,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
}

/// Answer the request if it is a PLS route; `None` leaves it to the other routes.
pub(crate) fn dispatch(st: &AppState, req: &PlsReq<'_>) -> Option<Response> {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let is = |i: usize, s: &str| segs.get(i).is_some_and(|v| v.eq_ignore_ascii_case(s));
    let pls_type = |i: usize| is(i, "Microsoft.Network") && is(i + 1, "privateLinkServices");
    // The lists by subscription and by resource group.
    match segs.len() {
        5 if is(0, "subscriptions") && is(2, "providers") && pls_type(3) => {
            return Some(only_get(req).unwrap_or_else(|| list(st, req, segs[1], None)));
        }
        7 if is(0, "subscriptions") && is(2, "resourceGroups") && is(4, "providers") && pls_type(5) => {
            return Some(only_get(req).unwrap_or_else(|| list(st, req, segs[1], Some(segs[3]))));
        }
        _ => {}
    }
    // `{pls}[/...]`.
    if segs.len() < 8 || !is(0, "subscriptions") || !is(2, "resourceGroups") || !is(4, "providers") || !pls_type(5) {
        return None;
    }
    let pls = match ResourceId::parse(&format!("/{}", segs[..8].join("/"))) {
        Ok(id) => id,
        Err(e) => return Some(arm_error(StatusCode::BAD_REQUEST, "InvalidResourceId", e.to_string())),
    };
    let rest = &segs[8..];
    let world = lock(&st.world);
    let Some(pls) = world.pls.find(&pls) else {
        return Some(not_found(req.path));
    };
    drop(world);
    Some(match rest {
        [] => only_get(req).unwrap_or_else(|| get_pls(st, req, &pls)),
        [c] if c.eq_ignore_ascii_case("privateEndpointConnections") => {
            only_get(req).unwrap_or_else(|| list_connections(st, req, &pls))
        }
        [c, name] if c.eq_ignore_ascii_case("privateEndpointConnections") => match *req.method {
            Method::GET => get_connection(st, req, &pls, name),
            Method::PUT => put_connection(st, req, &pls, name),
            Method::DELETE => delete_connection(st, req, &pls, name),
            _ => method_not_allowed(req.method),
        },
        _ => not_found(req.path),
    })
}

fn only_get(req: &PlsReq<'_>) -> Option<Response> {
    (req.method != Method::GET).then(|| method_not_allowed(req.method))
}

fn error(e: PlsError) -> Response {
    match e {
        PlsError::NoConnection(name) => arm_error(
            StatusCode::NOT_FOUND,
            "PrivateEndpointConnectionNotFound",
            format!("Private endpoint connection '{name}' was not found."),
        ),
        e @ PlsError::EtagMismatch { .. } => {
            arm_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", e.to_string())
        }
        e @ PlsError::NotAllowed { .. } => {
            arm_error(StatusCode::BAD_REQUEST, "PrivateEndpointConnectionStateTransitionNotAllowed", e.to_string())
        }
        e @ (PlsError::NoPls(_) | PlsError::NotPls(_)) => not_found(&e.to_string()),
    }
}

fn list(st: &AppState, req: &PlsReq<'_>, subscription: &str, resource_group: Option<&str>) -> Response {
    let world = lock(&st.world);
    let items: Vec<Value> = world
        .pls
        .ids_in(subscription, resource_group)
        .iter()
        .filter_map(|id| world.pls.pls_json(id, req.now).ok())
        .collect();
    drop(world);
    paged(items, st.options.list_page_size, req.skip, &st.arm_url(req.path, req.api_version))
}

fn get_pls(st: &AppState, req: &PlsReq<'_>, pls: &ResourceId) -> Response {
    match lock(&st.world).pls.pls_json(pls, req.now) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(e),
    }
}

fn list_connections(st: &AppState, req: &PlsReq<'_>, pls: &ResourceId) -> Response {
    let items = match lock(&st.world).pls.connections(pls, req.now) {
        Ok(cs) => cs.iter().map(|c| connection_json(pls, c)).collect(),
        Err(e) => return error(e),
    };
    paged(items, st.options.pec_page_size, req.skip, &st.arm_url(req.path, req.api_version))
}

fn get_connection(st: &AppState, req: &PlsReq<'_>, pls: &ResourceId, name: &str) -> Response {
    match lock(&st.world).pls.connection(pls, name, req.now) {
        Ok(c) => Json(connection_json(pls, &c)).into_response(),
        Err(e) => error(e),
    }
}

fn put_connection(st: &AppState, req: &PlsReq<'_>, pls: &ResourceId, name: &str) -> Response {
    let refused = lock(&st.faults).refused_put();
    if let Some((status, code, message)) = refused {
        return refusal(status, &code, message);
    }
    let body = match json_body(req.body) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let state = body.pointer("/properties/privateLinkServiceConnectionState");
    let asked = state.and_then(|s| s.get("status")).and_then(Value::as_str).unwrap_or("");
    let Some(status) = ConnectionStatus::settable(asked) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidPrivateEndpointConnectionStatus",
            format!("A private link service's provider sets a connection Approved or Rejected, not {asked:?}."),
        );
    };
    let description = state.and_then(|s| s.get("description")).and_then(Value::as_str).unwrap_or("");
    let mut world = lock(&st.world);
    let applying = st.options.approval_lro;
    let c = match world.pls.set_state(pls, name, status, description, req.principal, req.if_match, req.now, applying) {
        Ok(c) => c,
        Err(e) => return error(e),
    };
    tracing::info!(target: "simulator", connection = name, by = %req.principal, status = status.as_str(), "PLS connection PUT");
    let op = world.start_operation(Operation {
        target_key: pls.key(),
        pec_name: None,
        started_at: req.now,
        done_at: req.now + chrono::Duration::from_std(applying).unwrap_or_default(),
    });
    drop(world);
    let status_url = format!(
        "{}/subscriptions/{}/providers/Microsoft.Network/locations/simulated/operationStatuses/{op}?api-version={}",
        st.arm_base(),
        pls.subscription(),
        req.api_version
    );
    let mut r = (StatusCode::OK, Json(connection_json(pls, &c))).into_response();
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        r.headers_mut().insert("azure-asyncoperation", v);
    }
    r
}

fn delete_connection(st: &AppState, _req: &PlsReq<'_>, pls: &ResourceId, name: &str) -> Response {
    match lock(&st.world).pls.remove(pls, name) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => StatusCode::NO_CONTENT.into_response(),
    }
}
