//! The simulated Azure Resource Manager: MPE GETs, target PEC list/get/approve, parent resource GETs,
//! long-running operation status, injected throttling, and per-MPE call counting.
//!
//! Bodies follow the official ARM examples per target type (`tests/fixtures/arm-examples/` in the repository). This file must
//! never panic on a request (any path, method, header or body), serve anything without a valid ARM
//! bearer token and `api-version`, or change the world except through [`crate::state::World::approve`].

use crate::app_state::AppState;
use crate::arm_create;
use crate::arm_lists::{self, ListReq};
use crate::arm_mgmt;
use crate::arm_pls::{self, PlsReq};
use crate::arm_wire::{arm_error, json_body, method_not_allowed, not_found, paged, refusal};
use crate::faults::FaultKind;
use crate::id::ResourceId;
use crate::mpe::MpeType;
use crate::state::{ApproveOutcome, Operation, PecSnapshot, PecStatus, TargetKind, WorldError};
use crate::sync::lock;
use crate::throttle::Admission;
use crate::tokens::ARM_AUDIENCE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A 429 with ARM's error `code` and `message` and `Retry-After: <retry_after_secs>`.
fn too_many_requests(code: &str, message: String, retry_after_secs: u64) -> Response {
    let mut r = arm_error(StatusCode::TOO_MANY_REQUESTS, code, message);
    r.headers_mut().insert("retry-after", HeaderValue::from(retry_after_secs));
    r
}

/// The remaining count ARM reports with no budget rule on: a subscription's token bucket of reads
/// (250, Azure docs, "Understand how Azure Resource Manager throttles requests") less this call.
const UNTHROTTLED_REMAINING: u32 = 249;

/// Render one PEC as the target type's API does.
pub fn pec_json(target: &ResourceId, kind: TargetKind, p: &PecSnapshot) -> Value {
    let action_key = if kind == TargetKind::Storage { "actionRequired" } else { "actionsRequired" };
    let mut state = serde_json::Map::new();
    state.insert("status".into(), json!(p.status.as_str()));
    state.insert("description".into(), json!(p.description));
    state.insert(action_key.into(), json!("None"));
    let mut props = serde_json::Map::new();
    let provisioning = match (kind, p.updating) {
        (TargetKind::Sql, true) => Some("Approving"),
        (TargetKind::Sql, false) => Some("Ready"),
        (TargetKind::IotHub, true) => Some("Updating"),
        (TargetKind::IotHub, false) => None,
        (_, true) => Some("Updating"),
        (_, false) => Some("Succeeded"),
    };
    if let Some(ps) = provisioning {
        props.insert("provisioningState".into(), json!(ps));
    }
    props.insert("privateEndpoint".into(), json!({"id": p.endpoint_id}));
    props.insert("privateLinkServiceConnectionState".into(), Value::Object(state));
    let mut v = json!({
        "id": format!("{}/{}/{}", target.as_str(), kind.pec_segment(), p.name),
        "name": p.name,
        "type": format!("{}/{}", kind.resource_type(), kind.pec_segment()),
        "properties": Value::Object(props),
    });
    if kind == TargetKind::KeyVault {
        v["etag"] = json!(etag(p));
    }
    v
}

/// The ETag of a Key Vault PEC (the other simulated targets give none): a digest of what the PEC says
/// now, so an approval, a rejection or a removal gives a new one. A PUT whose `If-Match` names another
/// ETag is refused with 412.
pub fn etag(p: &PecSnapshot) -> String {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same PEC state gives the same ETag for the simulator's whole life.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (p.name.to_ascii_lowercase(), p.status.as_str(), &p.description, p.updating).hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

fn parent_json(target: &ResourceId, kind: TargetKind, pecs: &[PecSnapshot]) -> Value {
    let list: Vec<Value> = pecs.iter().map(|p| pec_json(target, kind, p)).collect();
    json!({
        "id": target.as_str(),
        "name": target.name(),
        "type": kind.resource_type(),
        "location": "westeurope",
        "properties": { "provisioningState": "Succeeded", "privateEndpointConnections": list },
    })
}

struct Req<'a> {
    method: &'a Method,
    path: &'a str,
    api_version: &'a str,
    /// `$skiptoken` of a list page (what our `nextLink`s carry): items to skip.
    skip: usize,
    if_match: Option<&'a str>,
    principal: String,
    body: &'a [u8],
    now: DateTime<Utc>,
}

/// Every request under `{base}/arm/`.
pub async fn handler(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/arm").unwrap_or(uri.path());
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    {
        let mut world = lock(&st.world);
        world.count_arm_call(path);
        if method == Method::GET {
            world.arm_reads += 1;
        }
    }
    let principal = match lock(&st.tokens).check(&headers, ARM_AUDIENCE) {
        Ok(t) => t.principal(),
        Err(why) => {
            let mut r = arm_error(StatusCode::UNAUTHORIZED, why.code, why.message);
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer authorization_uri=\"https://login.microsoftonline.com/common\""),
            );
            return r;
        }
    };
    // A resource the identity's role does not reach (`Simulator::forbid`).
    if lock(&st.faults).forbids(path) {
        return arm_error(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{principal}' does not have authorization to perform action over scope '{path}' or the \
                 scope is invalid."
            ),
        );
    }
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let Some(api_version) = query.get("api-version").filter(|v| !v.is_empty()) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    {
        let mut f = lock(&st.faults);
        if f.remaining > 0 {
            f.remaining -= 1;
            f.injected += 1;
            let (status, code) = match f.kind.unwrap_or(FaultKind::Throttle) {
                FaultKind::Throttle => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
                FaultKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            };
            tracing::debug!(target: "simulator", %path, %status, "injected ARM fault");
            let mut r = arm_error(status, code, "Injected by the simulator. Please retry.");
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            return r;
        }
    }
    // Per-subscription throttling (`SimOptions::throttle`): a 429, or the reads/writes left.
    let remaining = match lock(&st.throttle).admit(path, st.clock.now()) {
        Some(Admission::Throttled { retry_after_secs, inside_wait }) => {
            tracing::debug!(target: "simulator", %method, %path, inside_wait, "ARM throttled the subscription");
            return too_many_requests(
                "SubscriptionRequestsThrottled",
                format!("Number of requests for this subscription exceeded the limit. Retry after {retry_after_secs} seconds."),
                retry_after_secs,
            );
        }
        Some(Admission::Pass { remaining }) => remaining,
        // No budget rule: ARM still reports its count on every answer, plenty left.
        None => UNTHROTTLED_REMAINING,
    };
    let remaining_header = |r: &mut Response| {
        let name = if method == Method::GET {
            "x-ms-ratelimit-remaining-subscription-reads"
        } else {
            "x-ms-ratelimit-remaining-subscription-writes"
        };
        r.headers_mut().insert(name, HeaderValue::from(remaining));
    };
    // Behind ARM, the resource provider's own throttling (`SimOptions::rp_throttle`): its 429 carries
    // ARM's remaining count (plenty), so nothing warned of it.
    if let Some(Admission::Throttled { retry_after_secs, inside_wait }) =
        lock(&st.throttle).admit_provider(path, st.clock.now())
    {
        tracing::debug!(target: "simulator", %method, %path, inside_wait, "resource provider throttled");
        let mut r = too_many_requests(
            "TooManyRequests",
            format!("The request is being throttled by the resource provider. Retry after {retry_after_secs} seconds."),
            retry_after_secs,
        );
        remaining_header(&mut r);
        return r;
    }
    let skip = query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let if_match = headers.get("if-match").and_then(|v| v.to_str().ok()).map(str::trim);
    let req = Req { method: &method, path, api_version, skip, if_match, principal, body: &body, now: st.clock.now() };
    let mut r = dispatch(&st, &req);
    tracing::trace!(target: "simulator::arm", at = %req.now.format("%H:%M:%S%.3f"), %method, %path, status = r.status().as_u16(), "ARM answered");
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        r.headers_mut().insert("x-ms-request-id", v);
    }
    remaining_header(&mut r);
    r
}

fn dispatch(st: &AppState, req: &Req<'_>) -> Response {
    // Management groups: their descendants (arm_mgmt.rs).
    if let Some(r) = arm_mgmt::dispatch(st, req.method, req.path, req.api_version, req.skip) {
        return r;
    }
    let list =
        ListReq { method: req.method, path: req.path, api_version: req.api_version, skip: req.skip, now: req.now };
    if let Some(r) = arm_lists::dispatch(st, &list) {
        return r; // lists per MPE type, Service Bus queues (arm_lists.rs)
    }
    let segs: Vec<&str> = req.path.split('/').collect();
    if segs.len() >= 3 {
        let kind = segs[segs.len() - 2];
        let op = segs[segs.len() - 1];
        if kind.eq_ignore_ascii_case("operationStatuses") || kind.eq_ignore_ascii_case("operationResults") {
            if req.method != Method::GET {
                return method_not_allowed(req.method);
            }
            return operation(st, req, op, kind.eq_ignore_ascii_case("operationResults"));
        }
    }
    let lower = req.path.to_ascii_lowercase();
    // `{target}/providers/Microsoft.Resources/tags/default` (Tags - Get At Scope): the target's tags.
    if let Some(prefix_len) = lower.strip_suffix("/providers/microsoft.resources/tags/default").map(str::len) {
        if req.method != Method::GET {
            return method_not_allowed(req.method);
        }
        let Ok(target) = ResourceId::parse(&req.path[..prefix_len]) else {
            return not_found(req.path);
        };
        let world = lock(&st.world);
        return match world.target_tags(&target) {
            Some(tags) => Json(json!({
                "id": req.path,
                "name": "default",
                "type": "Microsoft.Resources/tags",
                "properties": { "tags": tags },
            }))
            .into_response(),
            None => not_found(target.as_str()),
        };
    }
    // Private Link Services, their connections (arm_pls.rs).
    let pls = PlsReq {
        method: req.method,
        path: req.path,
        api_version: req.api_version,
        skip: req.skip,
        if_match: req.if_match,
        principal: &req.principal,
        body: req.body,
        now: req.now,
    };
    if let Some(r) = arm_pls::dispatch(st, &pls) {
        return r;
    }
    // `{target}/privateEndpointConnections`: the list.
    if let Some(prefix_len) = lower.strip_suffix("/privateendpointconnections").map(str::len) {
        let Ok(target) = ResourceId::parse(&req.path[..prefix_len]) else {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidResourceId",
                format!("'{}' is not a valid resource id", req.path),
            );
        };
        if req.method != Method::GET {
            return method_not_allowed(req.method);
        }
        return list_pecs(st, req, &target);
    }
    // `POST {parent}/{action}`: a service's refresh of its MPEs (Grafana's `refreshManagedPrivateEndpoints`).
    if *req.method == Method::POST {
        if let Some(r) = refresh(st, req) {
            return r;
        }
    }
    let id = match ResourceId::parse(req.path) {
        Ok(id) => id,
        Err(e) => return arm_error(StatusCode::BAD_REQUEST, "InvalidResourceId", e.to_string()),
    };
    if let Some(t) = MpeType::of(&id) {
        if t.data_plane() {
            return arm_lists::invalid_type(&id.resource_type(), req.api_version);
        }
        return match *req.method {
            Method::GET => match lock(&st.world).read_mpe(&id, req.now) {
                Some(b) => Json(b).into_response(),
                None => not_found(id.as_str()),
            },
            Method::PUT => arm_create::create_mpe(st, &id, req.body, req.now),
            _ => method_not_allowed(req.method),
        };
    }
    if let Some(parent) = id.parent() {
        let is_pec =
            id.resource_type().rsplit('/').next().is_some_and(|t| t.eq_ignore_ascii_case("privateEndpointConnections"));
        if is_pec && parent.parent().is_none() {
            return match *req.method {
                Method::GET => get_pec(st, req, &parent, id.name()),
                Method::PUT => put_pec(st, req, &parent, id.name()),
                Method::DELETE => delete_pec(st, req, &parent, id.name()),
                _ => method_not_allowed(req.method),
            };
        }
        return not_found(id.as_str());
    }
    if req.method != Method::GET {
        return method_not_allowed(req.method);
    }
    let world = lock(&st.world);
    match world.target(&id) {
        Some((tid, kind)) => {
            let pecs = world.pecs(&tid, req.now).unwrap_or_default();
            Json(parent_json(&tid, kind, &pecs)).into_response()
        }
        None => not_found(id.as_str()),
    }
}

fn list_pecs(st: &AppState, req: &Req<'_>, target: &ResourceId) -> Response {
    let world = lock(&st.world);
    let Some((tid, kind)) = world.target(target) else {
        return not_found(target.as_str());
    };
    let items: Vec<Value> =
        world.pecs(&tid, req.now).unwrap_or_default().iter().map(|p| pec_json(&tid, kind, p)).collect();
    if kind == TargetKind::IotHub {
        // IoT Hub answers a bare array: no paging.
        return Json(Value::Array(items)).into_response();
    }
    paged(items, st.options.pec_page_size, req.skip, &st.arm_url(req.path, req.api_version))
}

fn get_pec(st: &AppState, req: &Req<'_>, target: &ResourceId, name: &str) -> Response {
    let world = lock(&st.world);
    let Some((tid, kind)) = world.target(target) else {
        return not_found(target.as_str());
    };
    match world.pec(&tid, name, req.now) {
        Some(p) => Json(pec_json(&tid, kind, &p)).into_response(),
        None if kind == TargetKind::KeyVault => StatusCode::NO_CONTENT.into_response(),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "PrivateEndpointConnectionNotFound",
            format!("Private endpoint connection '{name}' was not found."),
        ),
    }
}

fn put_pec(st: &AppState, req: &Req<'_>, target: &ResourceId, name: &str) -> Response {
    let refused = lock(&st.faults).refused_put();
    if let Some((status, code, message)) = refused {
        return refusal(status, &code, message);
    }
    let body = match json_body(req.body) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let state = body.pointer("/properties/privateLinkServiceConnectionState");
    let status = state.and_then(|s| s.get("status")).and_then(Value::as_str).unwrap_or("");
    if !status.eq_ignore_ascii_case("Approved") {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidPrivateEndpointConnectionStatus",
            format!("The simulator accepts only approvals (properties.privateLinkServiceConnectionState.status = Approved), got {status:?}."),
        );
    }
    let description = state.and_then(|s| s.get("description")).and_then(Value::as_str).unwrap_or("");
    let mut world = lock(&st.world);
    let Some((tid, kind)) = world.target(target) else {
        return not_found(target.as_str());
    };
    // Key Vault honours If-Match (the targets without ETags ignore it).
    if let (TargetKind::KeyVault, Some(want)) = (kind, req.if_match) {
        let current = world.pec(&tid, name, req.now).map(|p| etag(&p));
        if want != "*" && current.as_deref() != Some(want) {
            return arm_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                format!("The ETag {want} does not match private endpoint connection '{name}' any more."),
            );
        }
    }
    let outcome = match world.approve(&tid, name, &req.principal, description, req.now) {
        Ok(o) => o,
        Err(WorldError::NotApprovable { name, status }) => {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "PrivateEndpointConnectionStateTransitionNotAllowed",
                format!("Private endpoint connection '{name}' is {status} and cannot be approved."),
            )
        }
        Err(e) => return arm_error(StatusCode::NOT_FOUND, "PrivateEndpointConnectionNotFound", e.to_string()),
    };
    tracing::info!(target: "simulator", pec = name, by = %req.principal, ?outcome, "PEC approval PUT");
    let Some(snap) = world.pec(&tid, name, req.now) else {
        return not_found(name);
    };
    let pec_body = pec_json(&tid, kind, &snap);
    let done_at = match outcome {
        ApproveOutcome::Approved { settles_at } => settles_at,
        ApproveOutcome::AlreadyApproved => req.now,
    };
    if !kind.approval_is_async() || snap.status != PecStatus::Approved {
        return Json(pec_body).into_response();
    }
    let op = world.start_operation(Operation {
        target_key: tid.key(),
        pec_name: Some(snap.name.clone()),
        started_at: req.now,
        done_at,
    });
    drop(world);
    let op_base = format!(
        "{}/subscriptions/{}/providers/{}/locations/simulated",
        st.arm_base(),
        tid.subscription(),
        tid.namespace()
    );
    let status_url = format!("{op_base}/operationStatuses/{op}?api-version={}", req.api_version);
    let result_url = format!("{op_base}/operationResults/{op}?api-version={}", req.api_version);
    let mut r = match kind {
        TargetKind::Sql => StatusCode::ACCEPTED.into_response(),
        _ => (StatusCode::ACCEPTED, Json(pec_body)).into_response(),
    };
    let h = r.headers_mut();
    if kind != TargetKind::Sql {
        if let Ok(v) = HeaderValue::from_str(&status_url) {
            h.insert("azure-asyncoperation", v);
        }
    }
    if kind != TargetKind::Web {
        if let Ok(v) = HeaderValue::from_str(&result_url) {
            h.insert("location", v);
        }
    }
    h.insert("retry-after", HeaderValue::from_static("1"));
    r
}

/// `POST {parent}/{action}` where `action` is an MPE type's refresh: 202 with `Azure-AsyncOperation`, as
/// `ManagedPrivateEndpoints_Refresh.json` answers; the MPEs show what the refresh read once it is done.
/// `None` when the path is no refresh.
fn refresh(st: &AppState, req: &Req<'_>) -> Option<Response> {
    let (parent, action) = req.path.rsplit_once('/')?;
    let parent = ResourceId::parse(parent).ok()?;
    let mut world = lock(&st.world);
    world.refresh_mpes(&parent, action, req.now)?;
    let op = world.start_operation(Operation {
        target_key: parent.key(),
        pec_name: None,
        started_at: req.now,
        done_at: req.now + chrono::Duration::from_std(crate::state::REFRESH_TAKES).unwrap_or_default(),
    });
    drop(world);
    let status_url = format!(
        "{}/subscriptions/{}/providers/{}/locations/simulated/operationStatuses/{op}?api-version={}",
        st.arm_base(),
        parent.subscription(),
        parent.namespace(),
        req.api_version
    );
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        r.headers_mut().insert("azure-asyncoperation", v);
    }
    r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    Some(r)
}

/// `DELETE` of a PEC (the target's owner removes the connection): 200 when it was there, 204 when
/// there was nothing to delete, as ARM answers deletes.
fn delete_pec(st: &AppState, req: &Req<'_>, target: &ResourceId, name: &str) -> Response {
    let mut world = lock(&st.world);
    let Some((tid, _)) = world.target(target) else {
        return not_found(target.as_str());
    };
    match world.remove_connection(&tid, name, req.now) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::NO_CONTENT.into_response(),
    }
}

fn operation(st: &AppState, req: &Req<'_>, op: &str, result: bool) -> Response {
    let world = lock(&st.world);
    let Some(o) = world.operation(op).cloned() else {
        return not_found(req.path);
    };
    let done = req.now >= o.done_at;
    if !result {
        let mut v = json!({"id": op, "name": op, "status": if done { "Succeeded" } else { "InProgress" },
            "startTime": o.started_at.to_rfc3339()});
        if done {
            v["endTime"] = json!(o.done_at.to_rfc3339());
        }
        return Json(v).into_response();
    }
    if !done {
        let mut r = StatusCode::ACCEPTED.into_response();
        r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        if let Ok(v) = HeaderValue::from_str(&st.arm_url(req.path, req.api_version)) {
            r.headers_mut().insert("location", v);
        }
        return r;
    }
    let Some(pec_name) = &o.pec_name else {
        return StatusCode::OK.into_response();
    };
    let Ok(tid) = ResourceId::parse(&o.target_key) else {
        return not_found(&o.target_key);
    };
    match world.target(&tid) {
        Some((tid, kind)) => match world.pec(&tid, pec_name, req.now) {
            Some(p) => Json(pec_json(&tid, kind, &p)).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
        None => not_found(&o.target_key),
    }
}
