//! Entra ID tokens. Production: azure_identity's `ManagedIdentityCredential` when running in Azure
//! (App Service sets `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`), a developer credential (Azure CLI / azd)
//! otherwise. [`AzureIdentity`] is a [`TokenSource`] (the trait lives in [`crate::http`], whose
//! authorised call asks it), so the simulator's in-process demo can hand out its own tokens.
//!
//! Bounded like every outbound call: the managed identity's requests go through our own transport
//! (connect and request timeouts of [`Timeouts`], body read with [`read_body_capped`]), its own retries
//! are capped ([`identity_retry`]), and each token acquisition is abandoned after [`Timeouts::token`]
//! (developer tools: [`DEVELOPER_TOKEN_TIMEOUT`]), so a hanging or failing identity endpoint becomes a
//! prompt error, which ARM reports as transient. The authorised call also bounds any [`TokenSource`] by
//! the call's deadline ([`crate::http::Call`]).

use crate::http::{read_body_capped, BodyError, Timeouts};
pub use crate::http::{AuthError, TokenSource};
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::{AsyncRawResponse, ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use std::sync::Arc;
use std::time::Duration;

/// Largest identity endpoint response we read; a token response is a few KiB.
pub const IDENTITY_MAX_BODY: usize = 64 * 1024;
/// A developer credential runs the Azure CLI or azd, which can take seconds on a cold machine: its
/// token acquisitions get at least this long (local runs only; Azure uses the managed identity).
pub const DEVELOPER_TOKEN_TIMEOUT: Duration = Duration::from_secs(20);
/// Retries of the identity client itself (after the first attempt). With [`identity_retry`]'s delays
/// a failing endpoint costs a few seconds, not the SDK default's minute.
pub const IDENTITY_MAX_RETRIES: u32 = 2;

/// Identity endpoint answers that no retry fixes: 400 (identity not assigned), 401 (wrong secret
/// header), 403 (not allowed).
pub const REFUSED_STATUSES: [u16; 3] = [400, 401, 403];

/// The identity client's retry policy: [`IDENTITY_MAX_RETRIES`] retries, 200 ms then 400 ms apart,
/// never more than 3 s of retrying.
pub fn identity_retry() -> RetryOptions {
    use azure_core::time::Duration as SdkDuration;
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: SdkDuration::milliseconds(200),
        max_retries: IDENTITY_MAX_RETRIES,
        max_total_elapsed: SdkDuration::seconds(3),
        max_delay: SdkDuration::seconds(1),
    })
}

/// Makes a credential; called again for a fresh token, since a new credential starts with an empty
/// cache (azure_identity 1.0 caches managed identity tokens inside the credential and offers no bypass).
type MakeCredential = Box<dyn Fn() -> azure_core::Result<Arc<dyn TokenCredential>> + Send + Sync>;

pub struct AzureIdentity {
    credential: std::sync::RwLock<Arc<dyn TokenCredential>>,
    make: MakeCredential,
    kind: &'static str,
    token_timeout: Duration,
}

impl AzureIdentity {
    /// The managed identity (user-assigned `client_id`, or the system-assigned one) when
    /// `managed_identity` ([`crate::config::ProcessEnv::managed_identity`]: App Service's identity
    /// endpoint, or IMDS on request), otherwise the developer tools (Azure CLI, azd); within `timeouts`
    /// (tests inject short ones).
    pub fn new(client_id: Option<String>, managed_identity: bool, timeouts: Timeouts) -> anyhow::Result<AzureIdentity> {
        use azure_identity::{
            DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
        };
        if managed_identity {
            // Each attempt gets at most half the token time, so one hung attempt leaves room for a retry.
            let attempt = Timeouts { request: timeouts.request.min(timeouts.token / 2), ..timeouts };
            let transport = CappedTransport { http: crate::http::client_with(&attempt)? };
            let transport = Transport::new(Arc::new(transport));
            let make: MakeCredential = Box::new(move || {
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options: ClientOptions {
                        retry: identity_retry(),
                        transport: Some(transport.clone()),
                        ..Default::default()
                    },
                };
                let credential: Arc<dyn TokenCredential> = ManagedIdentityCredential::new(Some(options))?;
                Ok(credential)
            });
            Self::with_maker(make, "managed identity", timeouts.token)
        } else {
            let make: MakeCredential = Box::new(|| {
                let credential: Arc<dyn TokenCredential> = DeveloperToolsCredential::new(None)?;
                Ok(credential)
            });
            Self::with_maker(make, "developer tools (Azure CLI / azd)", timeouts.token.max(DEVELOPER_TOKEN_TIMEOUT))
        }
    }

    fn with_maker(make: MakeCredential, kind: &'static str, token_timeout: Duration) -> anyhow::Result<AzureIdentity> {
        let credential = std::sync::RwLock::new(make()?);
        Ok(AzureIdentity { credential, make, kind, token_timeout })
    }

    fn current(&self) -> Arc<dyn TokenCredential> {
        match self.credential.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

#[async_trait]
impl TokenSource for AzureIdentity {
    async fn token(&self, audience: &str) -> Result<String, AuthError> {
        self.token_from(self.current(), audience).await
    }

    /// A new credential (an empty cache) asks the identity endpoint again; it replaces the old one, so
    /// later calls reuse the fresh token.
    async fn fresh_token(&self, audience: &str) -> Result<String, AuthError> {
        let credential = (self.make)()
            .map_err(|e| AuthError::transient(audience, format!("could not make a new credential: {}", chain(&e))))?;
        match self.credential.write() {
            Ok(mut c) => *c = credential.clone(),
            Err(poisoned) => *poisoned.into_inner() = credential.clone(),
        }
        self.token_from(credential, audience).await
    }
}

impl AzureIdentity {
    async fn token_from(&self, credential: Arc<dyn TokenCredential>, audience: &str) -> Result<String, AuthError> {
        let scope = format!("{}/.default", audience.trim_end_matches('/'));
        let fail = |message: String| AuthError::transient(audience, message);
        let started = tokio::time::Instant::now();
        let too_slow = || {
            fail(format!(
                "no token within {} ms ({}: identity endpoint too slow or not answering)",
                self.token_timeout.as_millis(),
                self.kind
            ))
        };
        let mut refreshed = false;
        loop {
            let left = self.token_timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, credential.get_token(&[scope.as_str()], None)).await {
                Ok(Ok(t)) => return Ok(t.token.secret().to_string()),
                Ok(Err(e)) => match refused_status(&e) {
                    // 401/403/400: once more with a fresh request (a secret or an assignment may just
                    // have changed), then it is the answer.
                    Some(_) if !refreshed => refreshed = true,
                    Some(status) => {
                        return Err(AuthError {
                            refused: Some(status),
                            ..fail(format!(
                                "the identity endpoint refused the token request (HTTP {status}), twice: {} ({})",
                                chain(&e),
                                self.kind
                            ))
                        })
                    }
                    None => return Err(fail(format!("{} ({})", chain(&e), self.kind))),
                },
                Err(_) => return Err(too_slow()),
            }
        }
    }
}

/// The identity endpoint's HTTP status when it refused the request for good ([`REFUSED_STATUSES`]),
/// found anywhere in the error's chain (the credential wraps the endpoint's response in its own error).
fn refused_status(e: &azure_core::Error) -> Option<u16> {
    let of = |e: &azure_core::Error| match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { status, .. } => Some(u16::from(*status)),
        _ => None,
    };
    let mut status = of(e);
    let mut cur = std::error::Error::source(e);
    while status.is_none() {
        let Some(inner) = cur else { break };
        status = inner.downcast_ref::<azure_core::Error>().and_then(of);
        cur = inner.source();
    }
    status.filter(|s| REFUSED_STATUSES.contains(s))
}

/// An error and its causes, `outer: inner: ...` (the SDK wraps the transport's reason in a generic one).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = inner.source();
    }
    text
}

/// The managed identity's HTTP transport: our reqwest client (connect and request timeouts) and a
/// capped body read, instead of the SDK's default client (20 s connect, 60 s read, unbounded body).
#[derive(Debug)]
struct CappedTransport {
    http: reqwest::Client,
}

#[async_trait]
impl azure_core::http::HttpClient for CappedTransport {
    async fn execute_request(&self, request: &azure_core::http::Request) -> azure_core::Result<AsyncRawResponse> {
        use azure_core::error::ErrorKind;
        use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
        use azure_core::http::{Body, Method};
        let unsupported = |what: String| azure_core::Error::with_message(ErrorKind::Other, what);
        let method = match request.method() {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            other => return Err(unsupported(format!("identity transport: method {other:?} not supported"))),
        };
        let mut req = self.http.request(method, request.url().as_str());
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        match request.body() {
            Body::Bytes(b) if b.is_empty() => {}
            Body::Bytes(b) => req = req.body(b.clone()),
            Body::SeekableStream(_) => {
                return Err(unsupported("identity transport: streamed request bodies are not supported".into()))
            }
        }
        let resp = req.send().await.map_err(|e| {
            let kind = if e.is_connect() { ErrorKind::Connection } else { ErrorKind::Io };
            azure_core::Error::with_error(kind, e, "identity endpoint request failed")
        })?;
        let status = resp.status().as_u16();
        let mut headers = Headers::new();
        for (k, v) in resp.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(HeaderName::from(k.as_str().to_string()), HeaderValue::from(v.to_string()));
            }
        }
        let body = read_body_capped(resp, IDENTITY_MAX_BODY).await.map_err(|e| match e {
            // Too large is not worth the SDK's retries; a broken read is.
            e @ BodyError::TooLarge { .. } => azure_core::Error::with_message(ErrorKind::Other, e.to_string()),
            e @ BodyError::Transport(_) => azure_core::Error::with_message(ErrorKind::Io, e.to_string()),
        })?;
        Ok(AsyncRawResponse::from_bytes(status.into(), headers, body))
    }
}
