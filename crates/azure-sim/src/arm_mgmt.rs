//! The simulated ARM's management group route: `GET
//! /providers/Microsoft.Management/managementGroups/{groupId}/descendants` (`ManagementGroups_GetDescendants`,
//! api-version 2020-05-01, 2021-04-01 or 2023-04-01): `{"value": [...], "nextLink"}` with every group and
//! subscription under the group ([`crate::mgmt`]), paged like the other lists
//! ([`crate::SimOptions::list_page_size`], `$skiptoken`); `nextLink` is `null` on the last page, as the
//! example writes it. A group that does not exist answers 404. A 403 is the faults' (`Simulator::forbid`
//! of the group's id). This file must never panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::{arm_error, method_not_allowed, not_found, page_body};
use crate::sync::lock;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// The api-versions the descendants list answers.
pub const API_VERSIONS: &[&str] = &["2020-05-01", "2021-04-01", "2023-04-01"];

/// Answer the request if it is the descendants route; `None` leaves it to the other routes.
pub(crate) fn dispatch(st: &AppState, method: &Method, path: &str, api_version: &str, skip: usize) -> Option<Response> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is = |i: usize, s: &str| segs.get(i).is_some_and(|v| v.eq_ignore_ascii_case(s));
    if !(segs.len() == 5 && is(0, "providers") && is(1, "Microsoft.Management") && is(2, "managementGroups")) {
        return None;
    }
    if !is(4, "descendants") {
        return Some(not_found(path));
    }
    if *method != Method::GET {
        return Some(method_not_allowed(method));
    }
    if !API_VERSIONS.contains(&api_version) {
        return Some(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{api_version}' is invalid. The supported versions are '{}'.",
                API_VERSIONS.join(",")
            ),
        ));
    }
    let Some(items) = lock(&st.world).mgmt.descendants(segs[3]) else {
        return Some(not_found(path));
    };
    let mut body = page_body(items, st.options.list_page_size, skip, &st.arm_url(path, api_version));
    if let Some(obj) = body.as_object_mut() {
        obj.entry("nextLink").or_insert(Value::Null);
    }
    Some(Json(body).into_response())
}
