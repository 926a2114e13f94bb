//! The App Service managed-identity endpoint of the simulated Azure (`GET /msi/token`): issues tokens
//! into the token book ([`crate::tokens`]) ARM and Service Bus check bearer tokens against.
//!
//! This file must never panic on a request, or issue a token without the right `X-IDENTITY-HEADER`.

use crate::app_state::AppState;
use crate::sync::lock;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::tokens::{ARM_AUDIENCE, SERVICEBUS_AUDIENCE};

/// `GET /msi/token?api-version=2019-08-01&resource=<aud>[&client_id=..]` with `X-IDENTITY-HEADER`.
pub async fn token(State(st): State<Arc<AppState>>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let secret_ok =
        headers.get("x-identity-header").and_then(|v| v.to_str().ok()).is_some_and(|v| v == st.identity_secret);
    if !secret_ok {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_request", "error_description": "missing or wrong X-IDENTITY-HEADER"})),
        )
            .into_response();
    }
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes()).into_owned().collect();
    let Some(resource) = params.get("resource").filter(|r| !r.trim().is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "resource is required"})),
        )
            .into_response();
    };
    if !params.contains_key("api-version") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "api-version is required"})),
        )
            .into_response();
    }
    let client_id =
        params.get("client_id").or_else(|| params.get("mi_res_id")).or_else(|| params.get("principal_id")).cloned();
    let now = st.clock.now();
    let token = lock(&st.tokens).issue(resource, client_id, now);
    // Expire a day after the later of real and virtual now, so real-time token caches never refresh early.
    let expires_on = now.max(Utc::now()) + chrono::Duration::hours(24);
    tracing::debug!(target: "simulator", %resource, "issued token");
    Json(json!({
        "access_token": token,
        "expires_on": expires_on.timestamp().to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": params.get("client_id").cloned().unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".into()),
    }))
    .into_response()
}
