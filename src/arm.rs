//! Azure Resource Manager over reqwest with an Entra ID token.
//!
//! Retries 429 and 5xx honouring `Retry-After` (bounded), maps 404 and 204 to "absent", never panics on
//! a response body, refuses to follow a `nextLink` to another host (our token goes only to ARM), and
//! counts calls. Resource ids were validated by `ResourceId`, so paths need no escaping.

use crate::auth::TokenSource;
use crate::clock::{self, SharedClock};
use crate::resource_id::ResourceId;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

const MAX_BODY: usize = 8 * 1024 * 1024;
const MAX_RETRIES: u32 = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// Worth retrying later: throttling, server errors, network, tokens.
    #[error("ARM {method} {path}: transient failure: {message}")]
    Transient { method: &'static str, path: String, message: String },
    /// Will not succeed by retrying: 400, 403 (missing role), 409 ...
    #[error("ARM {method} {path}: HTTP {status} {code}: {message}")]
    Refused { method: &'static str, path: String, status: u16, code: String, message: String },
    #[error("ARM {method} {path}: unreadable response: {message}")]
    BadBody { method: &'static str, path: String, message: String },
}

impl ArmError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ArmError::Transient { .. })
    }
}

/// A response to a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub status: u16,
    pub body: Option<Value>,
}

pub struct ArmClient {
    http: reqwest::Client,
    endpoint: String,
    audience: String,
    tokens: Arc<dyn TokenSource>,
    clock: SharedClock,
    calls: AtomicU64,
}

fn arm_error_parts(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&v);
    let code = e.get("code").and_then(Value::as_str).unwrap_or("").to_string();
    let msg = e
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    (code, msg)
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get("retry-after")?.to_str().ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    at.duration_since(std::time::SystemTime::now()).ok()
}

/// The HTTP client for Azure calls: 30 s timeout, our user agent.
pub(crate) fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("mpe-approver/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl ArmClient {
    pub fn new(
        endpoint: &Url,
        audience: String,
        tokens: Arc<dyn TokenSource>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let http = http_client()?;
        Ok(ArmClient {
            http,
            endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
            audience,
            tokens,
            clock,
            calls: AtomicU64::new(0),
        })
    }

    /// ARM requests made so far (each retry counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str, api_version: &str) -> String {
        format!("{}{}?api-version={}", self.endpoint, path, api_version)
    }

    /// GET a resource; `None` when it does not exist (404, or 204 as Key Vault answers).
    pub async fn get(&self, id: &ResourceId, api_version: &str) -> Result<Option<Value>, ArmError> {
        self.get_path(id.as_str(), api_version).await
    }

    /// GET `{id}/{suffix}` (e.g. a `privateEndpointConnections` collection).
    pub async fn get_path(&self, path: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        let url = self.url(path, api_version);
        self.send("GET", path, &url, None).await.map(|w| w.body.filter(|_| w.status != 204 && w.status != 404))
    }

    /// GET a `nextLink` page, only when it points at our ARM endpoint.
    pub async fn get_next(&self, next_link: &str) -> Result<Option<Value>, ArmError> {
        if !next_link.starts_with(&format!("{}/", self.endpoint)) {
            return Err(ArmError::BadBody {
                method: "GET",
                path: next_link.chars().take(200).collect(),
                message: "nextLink points outside the ARM endpoint; not followed".into(),
            });
        }
        self.send("GET", next_link, next_link, None).await.map(|w| w.body)
    }

    /// PUT a resource body, once: no retry here, so a caller can re-read before trying again (a retried
    /// PUT without `If-Match` could overwrite a change made in between). `if_match` is sent as `If-Match`;
    /// a resource changed since it was read then answers 412 ([`ArmError::Refused`]).
    pub async fn put(
        &self,
        id: &ResourceId,
        api_version: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Written, ArmError> {
        let url = self.url(id.as_str(), api_version);
        self.send("PUT", id.as_str(), &url, Some((body, if_match))).await
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        url: &str,
        body: Option<(&Value, Option<&str>)>,
    ) -> Result<Written, ArmError> {
        let max_retries = if body.is_some() { 0 } else { MAX_RETRIES };
        let transient = |message: String| ArmError::Transient { method, path: path.to_string(), message };
        let mut attempt = 0;
        loop {
            let token = self.tokens.token(&self.audience).await.map_err(|e| transient(e.to_string()))?;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let mut req = match method {
                "PUT" => self.http.put(url),
                _ => self.http.get(url),
            }
            .bearer_auth(token);
            if let Some((b, if_match)) = body {
                req = req.json(b);
                if let Some(etag) = if_match {
                    req = req.header(reqwest::header::IF_MATCH, etag);
                }
            }
            let wait = match req.send().await {
                Err(e) => {
                    tracing::warn!(method, path, error = %e, attempt, "ARM request failed");
                    if attempt >= max_retries {
                        return Err(transient(e.to_string()));
                    }
                    Duration::from_millis(500 << attempt)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let ra = retry_after(resp.headers());
                    if let Some(len) = resp.content_length() {
                        if len as usize > MAX_BODY {
                            return Err(ArmError::BadBody {
                                method,
                                path: path.into(),
                                message: format!("{len} byte body"),
                            });
                        }
                    }
                    let bytes = resp.bytes().await.map_err(|e| transient(e.to_string()))?;
                    if bytes.len() > MAX_BODY {
                        return Err(ArmError::BadBody {
                            method,
                            path: path.into(),
                            message: format!("{} byte body", bytes.len()),
                        });
                    }
                    match status {
                        200..=299 => {
                            let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                                None
                            } else {
                                Some(serde_json::from_slice(&bytes).map_err(|e| ArmError::BadBody {
                                    method,
                                    path: path.into(),
                                    message: format!("not JSON: {e}"),
                                })?)
                            };
                            return Ok(Written { status, body });
                        }
                        404 if method == "GET" => return Ok(Written { status, body: None }),
                        408 | 429 | 500..=599 => {
                            let (code, msg) = arm_error_parts(&bytes);
                            tracing::warn!(method, path, status, code, attempt, "ARM throttled or failed; retrying");
                            if attempt >= max_retries {
                                return Err(transient(format!("HTTP {status} {code}: {msg}")));
                            }
                            ra.unwrap_or(Duration::from_millis(500 << attempt)).min(MAX_RETRY_AFTER)
                        }
                        _ => {
                            let (code, message) = arm_error_parts(&bytes);
                            if status == 401 {
                                return Err(transient(format!("HTTP 401 {code}: {message}")));
                            }
                            return Err(ArmError::Refused { method, path: path.into(), status, code, message });
                        }
                    }
                }
            };
            attempt += 1;
            clock::sleep(self.clock.as_ref(), wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;

    struct CountingTokens(std::sync::atomic::AtomicU32);
    #[async_trait::async_trait]
    impl TokenSource for CountingTokens {
        async fn token(&self, _: &str) -> Result<String, AuthError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok("secret".into())
        }
    }

    #[tokio::test]
    async fn next_link_off_the_arm_host_is_not_followed() {
        let tokens = Arc::new(CountingTokens(Default::default()));
        let arm = ArmClient::new(
            &Url::parse("https://management.azure.com").unwrap(),
            "https://management.azure.com".into(),
            tokens.clone(),
            Arc::new(crate::clock::SystemClock),
        )
        .unwrap();
        for link in [
            "https://evil.example.com/subscriptions/x?api-version=1",
            "https://management.azure.com.evil.example.com/x",
            "http://management.azure.com/x",
        ] {
            let e = arm.get_next(link).await.unwrap_err();
            assert!(matches!(e, ArmError::BadBody { .. }), "{link}: {e}");
        }
        assert_eq!(tokens.0.load(Ordering::Relaxed), 0, "no token was fetched for a foreign host");
        assert_eq!(arm.calls(), 0);
    }

    #[test]
    fn arm_error_bodies_never_panic() {
        assert_eq!(arm_error_parts(br#"{"error":{"code":"X","message":"m"}}"#), ("X".into(), "m".into()));
        assert_eq!(arm_error_parts(b"").0, "");
        let (_, m) = arm_error_parts(&[0xff; 1000]);
        assert!(m.chars().count() <= 300);
        assert_eq!(arm_error_parts(b"[1,2]").0, "");
    }
}
