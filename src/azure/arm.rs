//! Azure Resource Manager over reqwest with an Entra ID token.
//!
//! Retries 429 and 5xx (and a read's 409/412) honouring `Retry-After` (bounded: at most
//! [`MAX_RETRY_SLEEP`] of waiting per request, then the wait is handed to the caller on
//! [`ArmError::Transient`]), maps 404 and 204 to "absent", never panics on a response body, refuses
//! to follow a `nextLink` to another host (our token goes only to ARM), and counts calls. Resource ids were validated by `ResourceId`, so paths need no
//! escaping. Per subscription, a 429's wait and the turns of a nearly exhausted subscription are kept
//! by [`crate::throttle`]: a call asks it before each request and tells it every answer.
//!
//! Every request is bounded by [`crate::http`]: connect and total timeouts ([`Timeouts`]), a time limit
//! on each token acquisition, a deadline on each call with its retries ([`Timeouts::call`]), and the
//! response body read through [`read_body_capped`] up to [`MAX_BODY`].

use crate::clock::{self, SharedClock};
pub use crate::http::{read_body_capped, BodyError, Timeouts};
use crate::http::{BearerClient, NoAnswer, TokenSource};
use crate::logsafe::q;
use crate::resource_id::ResourceId;
use crate::shared::SharedReads;
use crate::throttle::{namespace_of, subscription_of, Throttle};
pub use crate::throttle::{LOW_REMAINING, MAX_INLINE_THROTTLE_WAIT};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Largest ARM response body we read (a PEC list of a busy target is well under 1 MiB).
pub const MAX_BODY: usize = 8 * 1024 * 1024;
const MAX_RETRIES: u32 = 3;
/// Longest single in-invocation wait for a `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Longest total in-invocation waiting across the retries of one request. Past it the request fails
/// as transient, carrying the server's `Retry-After` so the caller can reschedule instead of sleeping.
pub const MAX_RETRY_SLEEP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum ArmError {
    /// Worth retrying later: throttling, server errors, network, tokens. `retry_after` is the server's
    /// `Retry-After` when it sent one, for the caller to reschedule by.
    #[error("ARM {method} {path}: transient failure: {}", q(.message))]
    Transient { method: &'static str, path: String, message: String, retry_after: Option<Duration> },
    /// Will not succeed by retrying: 400, 401 (again with a fresh token), 403 (missing role), 409 ...
    #[error("ARM {method} {path}: HTTP {status} {}: {}", q(.code), q(.message))]
    Refused { method: &'static str, path: String, status: u16, code: String, message: String },
    #[error("ARM {method} {path}: unreadable response: {}", q(.message))]
    BadBody { method: &'static str, path: String, message: String },
    /// No token: the managed identity endpoint refused us for good (HTTP `status`, see
    /// [`crate::auth::AuthError::refused`]). ARM was not called.
    #[error("ARM {method} {path}: no token: {}", q(.message))]
    Identity { method: &'static str, path: String, status: u16, message: String },
}

impl ArmError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ArmError::Transient { .. })
    }

    /// Our identity may not do this: ARM answered 403 (a missing role) or 401 (also to a fresh token:
    /// a token for another tenant, a disabled identity), or the identity endpoint refused a token.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ArmError::Refused { status: 401 | 403, .. } | ArmError::Identity { .. })
    }

    /// How long the server asked us to wait (`Retry-After` of the last answer), when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ArmError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A response to a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub status: u16,
    pub body: Option<Value>,
}

pub struct ArmClient {
    bearer: BearerClient,
    endpoint: String,
    clock: SharedClock,
    calls: AtomicU64,
    throttle: Throttle,
    shared: SharedReads<Result<Option<Value>, ArmError>>,
}

/// The longest `Retry-After` slept inside a call; a longer one returns at once with the wait, and the
/// check is scheduled for its end.
pub const MAX_INLINE_RETRY_AFTER: Duration = Duration::from_secs(2);
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

impl ArmClient {
    pub fn new(
        endpoint: &Url,
        audience: String,
        tokens: Arc<dyn TokenSource>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::with_timeouts(endpoint, audience, tokens, clock, Timeouts::default())
    }

    /// As [`ArmClient::new`], with explicit time limits (tests inject short ones).
    pub fn with_timeouts(
        endpoint: &Url,
        audience: String,
        tokens: Arc<dyn TokenSource>,
        clock: SharedClock,
        timeouts: Timeouts,
    ) -> anyhow::Result<Self> {
        Ok(ArmClient {
            bearer: BearerClient::new("ARM", audience, tokens, timeouts)?,
            endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
            throttle: Throttle::new(clock.clone()),
            shared: SharedReads::new(clock.clone()),
            clock,
            calls: AtomicU64::new(0),
        })
    }

    /// A client of a data plane that keeps MPEs outside ARM (a Synapse workspace's), over the same
    /// connections, token source, clock and time limits, with tokens for `audience`: every call takes an
    /// absolute URL as its path (the data plane has one host per parent), a `nextLink` is followed only
    /// on the host of the list it came from ([`ArmClient::get_next_on`]), and ARM's per-subscription
    /// throttling does not apply (the URLs name no subscription); a 429's `Retry-After` is honoured as
    /// every call's is.
    pub fn for_data_plane(&self, service: &'static str, audience: String) -> ArmClient {
        ArmClient {
            bearer: self.bearer.for_audience(service, audience),
            endpoint: String::new(),
            throttle: Throttle::new(self.clock.clone()),
            shared: SharedReads::new(self.clock.clone()),
            clock: self.clock.clone(),
            calls: AtomicU64::new(0),
        }
    }

    /// Whether calls to `subscription` currently go one at a time (few remaining requests, or a 429).
    pub fn one_at_a_time(&self, subscription: &str) -> bool {
        self.throttle.one_at_a_time(subscription)
    }

    /// How much longer ARM asked us to leave `subscription` alone, if it did.
    pub fn throttled_for(&self, subscription: &str) -> Option<Duration> {
        self.throttle.throttled_for(subscription)
    }

    /// ARM requests made so far (each retry counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// `{endpoint}{path}?api-version={api_version}`; no query for an empty api-version (a data plane whose
    /// version is in its paths).
    fn url(&self, path: &str, api_version: &str) -> String {
        if api_version.is_empty() {
            format!("{}{}", self.endpoint, path)
        } else {
            format!("{}{}?api-version={}", self.endpoint, path, api_version)
        }
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

    /// [`ArmClient::get_path`], its answer shared with every check of the process that asks for the same
    /// path and api-version less than `fresh` after it was sent, or while it is on its way
    /// ([`crate::shared`]): a parent's MPE list, a target's PEC list.
    pub async fn get_shared(&self, path: &str, api_version: &str, fresh: Duration) -> Result<Option<Value>, ArmError> {
        let key = format!("{path}?api-version={api_version}");
        self.shared.get(&key, fresh, || self.get_path(path, api_version)).await
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

    /// GET a `nextLink` page of a data plane's list, only when it points at `origin` (the scheme and host
    /// of the list's first page, with no trailing `/`).
    pub async fn get_next_on(&self, next_link: &str, origin: &str) -> Result<Option<Value>, ArmError> {
        if origin.is_empty() || !next_link.starts_with(&format!("{origin}/")) {
            return Err(ArmError::BadBody {
                method: "GET",
                path: next_link.chars().take(200).collect(),
                message: "nextLink points outside the list's host; not followed".into(),
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

    /// POST an action with no body (`{resource}/{action}`), once, as a write: no retry here.
    pub async fn post(&self, path: &str, api_version: &str) -> Result<Written, ArmError> {
        let url = self.url(path, api_version);
        self.send("POST", path, &url, Some((&Value::Null, None))).await
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        url: &str,
        body: Option<(&Value, Option<&str>)>,
    ) -> Result<Written, ArmError> {
        let max_retries = if body.is_some() { 0 } else { MAX_RETRIES };
        let transient = |message: String, retry_after: Option<Duration>| ArmError::Transient {
            method,
            path: path.to_string(),
            message,
            retry_after,
        };
        let mut attempt = 0;
        let mut slept = Duration::ZERO;
        // One deadline for the call and its retries, and one fresh token after a 401 (the cached one may
        // have expired early or been issued before a change; a second 401 is the answer).
        let mut call = self.bearer.call(self.bearer.timeouts().call);
        let subscription = subscription_of(path);
        let namespace = namespace_of(path);
        let mut waited_for_hold = false;
        loop {
            let left = call.left();
            if left.is_zero() {
                return Err(transient(format!("no answer within {} ms", call.limit().as_millis()), None));
            }
            // Few requests left for this subscription: wait for its turn (the call before may be the
            // one ARM throttles; its wait is then seen below).
            let turn = match subscription.as_deref().and_then(|s| self.throttle.turn_of(s)) {
                Some(t) => match tokio::time::timeout(left, t.acquire(crate::throttle::in_first_lane())).await {
                    // Plenty left after all (the call before said so): go without holding the turn.
                    Ok(_) if subscription.as_deref().is_some_and(|s| !self.throttle.limited(s)) => None,
                    Ok(g) => Some(g),
                    Err(_) => {
                        return Err(transient(
                            format!("no turn to call the subscription within {} ms", call.limit().as_millis()),
                            None,
                        ))
                    }
                },
                None => None,
            };
            let left = call.left();
            // ARM asked every client of this subscription to wait: do not call it before that time.
            let held = subscription
                .as_deref()
                .and_then(|s| Some((s, self.throttle.throttled_for_call(s, namespace.as_deref())?)));
            if let Some((sub, wait)) = held {
                if wait > MAX_INLINE_THROTTLE_WAIT || self.clock.real(wait) >= left || waited_for_hold {
                    return Err(transient(
                        format!(
                            "subscription {sub} is throttled by ARM for {:.1}s more; not calling",
                            wait.as_secs_f64()
                        ),
                        Some(wait),
                    ));
                }
                // Once per call: a hold that is still there after its wait is handed back. The turn is
                // not held while waiting: the other calls see the same hold.
                waited_for_hold = true;
                drop(turn);
                clock::sleep(self.clock.as_ref(), wait).await;
                continue;
            }
            let build = |http: &reqwest::Client| {
                self.calls.fetch_add(1, Ordering::Relaxed);
                let mut req = match method {
                    "PUT" => http.put(url),
                    "POST" => http.post(url),
                    _ => http.get(url),
                };
                if let Some((b, if_match)) = body {
                    // A POST action without a body sends an empty one (`Content-Length: 0`, as ARM wants).
                    req = if b.is_null() { req.body(Vec::<u8>::new()) } else { req.json(b) };
                    if let Some(etag) = if_match {
                        req = req.header(reqwest::header::IF_MATCH, etag);
                    }
                }
                req
            };
            // Every answer, a 401 asked again too, tells how much is left of the subscription's requests.
            let seen = |resp: &reqwest::Response| {
                if let Some(sub) = subscription.as_deref() {
                    let headers = resp.headers();
                    let status = resp.status().as_u16();
                    self.throttle.record(sub, namespace.as_deref(), method, status, headers, retry_after(headers));
                }
            };
            // A retryable failure: what went wrong and the server's Retry-After, if any.
            let (failure, ra) = match call.send_seen(build, seen).await {
                // The token source bounds itself (AzureIdentity); whatever the source, not past the deadline.
                Err(NoAnswer::Auth(e)) => {
                    return Err(match e.refused {
                        Some(status) => {
                            ArmError::Identity { method, path: path.to_string(), status, message: e.to_string() }
                        }
                        None => transient(e.to_string(), None),
                    })
                }
                Err(NoAnswer::Transport(e)) => {
                    tracing::warn!(method, path, error = %e, attempt, "ARM request failed");
                    (e, None)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let ra = retry_after(resp.headers());
                    let bytes = match read_body_capped(resp, MAX_BODY).await {
                        Ok(b) => b,
                        Err(e @ BodyError::TooLarge { .. }) => {
                            return Err(ArmError::BadBody { method, path: path.into(), message: e.to_string() })
                        }
                        Err(e @ BodyError::Transport(_)) => return Err(transient(e.to_string(), ra)),
                    };
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
                        // 409/412 to a read: the resource is in the middle of a change; read it again.
                        408 | 429 | 500..=599 | 409 | 412 if method == "GET" || !matches!(status, 409 | 412) => {
                            let (code, msg) = arm_error_parts(&bytes);
                            tracing::warn!(method, path, status, code, attempt, "ARM throttled or failed");
                            (format!("HTTP {status} {code}: {msg}"), ra)
                        }
                        // Among them a 401 to the fresh token too (a PUT refused 401 was not applied, and
                        // was sent once more with the fresh token).
                        _ => {
                            let (code, message) = arm_error_parts(&bytes);
                            return Err(ArmError::Refused { method, path: path.into(), status, code, message });
                        }
                    }
                }
            };
            let wait = ra.unwrap_or(Duration::from_millis(500 << attempt)).min(MAX_RETRY_AFTER);
            let past_deadline = self.clock.real(wait) >= call.left();
            // A long Retry-After is honoured in full by the caller rescheduling, not by sleeping here.
            let long_wait = ra.is_some_and(|r| r > MAX_INLINE_RETRY_AFTER);
            if attempt >= max_retries || slept + wait > MAX_RETRY_SLEEP || past_deadline || long_wait {
                // Out of retries, or this request has waited its share inside the invocation, or its time
                // is up: hand the server's wait to the caller (to reschedule by) instead of sleeping on.
                return Err(transient(failure, ra));
            }
            tracing::debug!(method, path, attempt, wait_ms = wait.as_millis() as u64, "ARM retrying");
            attempt += 1;
            slept += wait;
            drop(turn);
            clock::sleep(self.clock.as_ref(), wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::AuthError;

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

    /// Hands out "old" from the cache and "new" when asked for a fresh token; counts both.
    #[derive(Default)]
    struct StaleTokens {
        cached: std::sync::atomic::AtomicU32,
        fresh: std::sync::atomic::AtomicU32,
    }
    #[async_trait::async_trait]
    impl TokenSource for StaleTokens {
        async fn token(&self, _: &str) -> Result<String, AuthError> {
            self.cached.fetch_add(1, Ordering::Relaxed);
            Ok("old".into())
        }
        async fn fresh_token(&self, _: &str) -> Result<String, AuthError> {
            self.fresh.fetch_add(1, Ordering::Relaxed);
            Ok("new".into())
        }
    }

    /// A local ARM that answers 401 `ExpiredAuthenticationToken` to the token "old" (and, with
    /// `refuse_all`, `InvalidAuthenticationTokenTenant` to every token), 200 `{}` otherwise.
    async fn token_checking_arm(refuse_all: bool) -> String {
        use axum::http::{HeaderMap, StatusCode};
        let app = axum::Router::new().fallback(move |headers: HeaderMap| async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let refused = |code: &str| {
                (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": {"code": code, "message": "no"}})))
            };
            if refuse_all {
                refused("InvalidAuthenticationTokenTenant")
            } else if auth == "Bearer old" {
                refused("ExpiredAuthenticationToken")
            } else {
                (StatusCode::OK, axum::Json(serde_json::json!({})))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn client(url: &str, tokens: Arc<StaleTokens>) -> ArmClient {
        ArmClient::new(&Url::parse(url).unwrap(), "aud".into(), tokens, Arc::new(crate::clock::SystemClock)).unwrap()
    }

    #[tokio::test]
    async fn a_401_is_asked_once_more_with_a_fresh_token_for_reads_and_writes() {
        let url = token_checking_arm(false).await;
        let tokens = Arc::new(StaleTokens::default());
        let arm = client(&url, tokens.clone());
        let id = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a")
            .unwrap();
        assert!(arm.get(&id, "1").await.unwrap().is_some());
        assert_eq!((arm.calls(), tokens.fresh.load(Ordering::Relaxed)), (2, 1), "the read, then once more");
        // A PUT refused 401 was not applied: it is sent again with the fresh token, once.
        let w = arm.put(&id, "1", &serde_json::json!({}), Some("\"e\"")).await.unwrap();
        assert_eq!((w.status, arm.calls(), tokens.fresh.load(Ordering::Relaxed)), (200, 4, 2));
    }

    #[tokio::test]
    async fn a_401_to_the_fresh_token_too_is_refused_as_forbidden() {
        let url = token_checking_arm(true).await;
        let tokens = Arc::new(StaleTokens::default());
        let arm = client(&url, tokens.clone());
        let id = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a")
            .unwrap();
        for e in
            [arm.get(&id, "1").await.unwrap_err(), arm.put(&id, "1", &serde_json::json!({}), None).await.unwrap_err()]
        {
            assert!(
                matches!(&e, ArmError::Refused { status: 401, code, .. } if code == "InvalidAuthenticationTokenTenant"),
                "{e}"
            );
            assert!(e.is_forbidden() && !e.is_transient(), "{e}");
        }
        assert_eq!((arm.calls(), tokens.fresh.load(Ordering::Relaxed)), (4, 2), "two calls each, one fresh token each");
    }

    /// A data plane's client calls absolute URLs with a token for its own audience, and follows a
    /// `nextLink` only under the list's own host: one elsewhere is refused before any call.
    #[tokio::test]
    async fn a_data_plane_client_keeps_its_token_on_its_host() {
        let url = token_checking_arm(false).await;
        let tokens = Arc::new(StaleTokens::default());
        let arm = client(&url, tokens.clone());
        let dp = arm.for_data_plane("Synapse", "https://dev.azuresynapse.net".into());
        let origin = url.trim_end_matches('/').to_string();
        for bad in ["https://evil.example/x", &format!("{origin}.evil.example/x"), &format!("{origin}x/y")] {
            let e = dp.get_next_on(bad, &origin).await.unwrap_err();
            assert!(matches!(e, ArmError::BadBody { .. }), "{bad}: {e}");
        }
        assert!(dp.get_next_on("https://a/x", "").await.is_err(), "no origin, nothing followed");
        assert_eq!(dp.calls(), 0, "refused before any call");
        dp.get_path(&format!("{origin}/x"), "1").await.unwrap();
        assert_eq!((dp.calls(), arm.calls()), (2, 0), "its own calls: the stale token refused, then a fresh one");
    }

    #[test]
    fn transient_display_is_unchanged_by_retry_after() {
        let e = ArmError::Transient {
            method: "GET",
            path: "/x".into(),
            message: "HTTP 429 TooManyRequests: slow down".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(e.to_string(), r#"ARM GET /x: transient failure: "HTTP 429 TooManyRequests: slow down""#);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        let refused =
            ArmError::Refused { method: "PUT", path: "/x".into(), status: 400, code: "C".into(), message: "m".into() };
        assert_eq!(refused.retry_after(), None);
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
