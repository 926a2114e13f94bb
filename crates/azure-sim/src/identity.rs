//! The App Service managed-identity endpoint of the simulated Azure, and the token book ARM and
//! Service Bus check bearer tokens against.
//!
//! Tokens are opaque random strings remembered with their audience and client id. This file must never
//! panic on a request, issue a token without the right `X-IDENTITY-HEADER`, or accept a token for
//! another audience.

use super::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub const ARM_AUDIENCE: &str = "https://management.azure.com";
pub const SERVICEBUS_AUDIENCE: &str = "https://servicebus.azure.net";

/// Who a token was issued to.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub audience: String,
    pub client_id: Option<String>,
    pub issued_at: DateTime<Utc>,
}

impl TokenInfo {
    /// The principal, for "approved by" records.
    pub fn principal(&self) -> String {
        match &self.client_id {
            Some(c) => format!("managed identity {c}"),
            None => "system-assigned managed identity".to_string(),
        }
    }
}

#[derive(Default)]
pub struct TokenBook {
    tokens: HashMap<String, TokenInfo>,
}

/// `https://management.azure.com/`, `https://management.azure.com/.default` → `https://management.azure.com`.
pub fn normalise_audience(a: &str) -> String {
    let a = a.trim();
    let a = a.strip_suffix("/.default").unwrap_or(a);
    a.trim_end_matches('/').to_ascii_lowercase()
}

impl TokenBook {
    pub fn issue(&mut self, audience: &str, client_id: Option<String>, now: DateTime<Utc>) -> String {
        let token = format!("sim-{}", uuid::Uuid::new_v4().simple());
        self.tokens
            .insert(token.clone(), TokenInfo { audience: normalise_audience(audience), client_id, issued_at: now });
        token
    }
    pub fn issued(&self) -> usize {
        self.tokens.len()
    }
    /// The token's holder if `headers` carry `Authorization: Bearer <token>` for `audience`.
    pub fn check(&self, headers: &HeaderMap, audience: &str) -> Result<TokenInfo, &'static str> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or("missing Authorization header")?
            .to_str()
            .map_err(|_| "Authorization header is not ASCII")?;
        let (scheme, token) = value.split_once(' ').ok_or("Authorization header is not 'Bearer <token>'")?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err("Authorization scheme is not Bearer");
        }
        let info = self.tokens.get(token.trim()).ok_or("unknown token")?;
        if info.audience != normalise_audience(audience) {
            return Err("token was issued for another audience");
        }
        Ok(info.clone())
    }
}

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
    let token = super::lock(&st.tokens).issue(resource, client_id, now);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_normalised_and_checked() {
        let mut b = TokenBook::default();
        let t = b.issue("https://management.azure.com/", None, Utc::now());
        let mut h = HeaderMap::new();
        assert!(b.check(&h, ARM_AUDIENCE).is_err());
        h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_ok());
        assert!(b.check(&h, "https://management.azure.com/.default").is_ok());
        assert_eq!(b.check(&h, SERVICEBUS_AUDIENCE).unwrap_err(), "token was issued for another audience");
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_err());
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_err());
    }
}
