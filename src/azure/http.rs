//! The HTTP plumbing every outbound call shares (ARM, Service Bus, the identity endpoint): the reqwest
//! client with its connect and request timeouts ([`Timeouts`]), the capped body reader
//! ([`read_body_capped`]), and the authorised call ([`BearerClient`], [`Call`]): a request built anew
//! for each attempt, a bearer token from a [`TokenSource`] within the call's deadline, and one fresh
//! token after a 401. It knows no Azure service: retries, status codes and errors are the callers'.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Connect timeout of every outbound request (TCP and TLS), ARM, Service Bus and identity alike.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout of one outbound request, from sending it to its last body byte. A server that accepts
/// and never answers, or trickles a body, costs at most this per attempt.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// One managed identity token acquisition, including the identity client's own retries (each attempt
/// gets at most half of it): past it the token request is abandoned and the call fails as transient.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);
/// One call (an ARM request or a Service Bus send) with all its retries and in-call waits: no retry
/// starts, and no attempt runs, past it. A hanging server costs one call this, not four request timeouts.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Time limits of outbound calls. `Default` is the production values ([`CONNECT_TIMEOUT`],
/// [`REQUEST_TIMEOUT`], [`TOKEN_TIMEOUT`], [`CALL_TIMEOUT`]); tests inject short ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (TCP and TLS).
    pub connect: Duration,
    /// One request, from sending to the last byte of the response body.
    pub request: Duration,
    /// One token acquisition, the identity client's own retries included.
    pub token: Duration,
    /// One call with all its retries and waits (ARM request, Service Bus send).
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: CONNECT_TIMEOUT, request: REQUEST_TIMEOUT, token: TOKEN_TIMEOUT, call: CALL_TIMEOUT }
    }
}

/// Why a response body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than the cap arrived (or was announced by `Content-Length`); reading stopped there.
    #[error("response body larger than {cap} bytes (stopped after {read} bytes)")]
    TooLarge { cap: usize, read: usize },
    /// The connection failed or timed out while the body was read.
    #[error("response body could not be read: {0}")]
    Transport(#[source] reqwest::Error),
}

/// Read a response body chunk by chunk and stop as soon as more than `cap` bytes have arrived,
/// whatever `Content-Length` says (an announced length above the cap is refused before reading).
/// At most `cap` bytes plus one chunk are ever held; the connection is dropped on the error.
/// Every response body of ARM, Service Bus and the identity endpoint is read through this.
pub async fn read_body_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    let announced = resp.content_length();
    if let Some(len) = announced {
        if len > cap as u64 {
            return Err(BodyError::TooLarge { cap, read: 0 });
        }
    }
    let mut buf = Vec::with_capacity(announced.map_or(0, |l| l as usize).min(cap).min(64 * 1024));
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        let read = buf.len() + chunk.len();
        if read > cap {
            return Err(BodyError::TooLarge { cap, read });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The HTTP client for Azure calls: [`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`], our user agent.
pub fn client() -> reqwest::Result<reqwest::Client> {
    client_with(&Timeouts::default())
}

/// The HTTP client for Azure calls with the given connect and request timeouts, our user agent.
pub fn client_with(t: &Timeouts) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(t.connect)
        .timeout(t.request)
        .user_agent(concat!("mpe-approver/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[derive(Debug, thiserror::Error)]
#[error("could not get a token for {audience}: {message}")]
pub struct AuthError {
    pub audience: String,
    pub message: String,
    /// The identity endpoint refused the request (HTTP 400, 401 or 403: the identity is not assigned,
    /// the secret header is wrong, or the identity may not have a token), again after one fresh
    /// request. Waiting will not help: the check parks with the reason. `None`: a transient failure.
    pub refused: Option<u16>,
}

impl AuthError {
    /// A failure worth retrying later (slow, unreachable or failing endpoint).
    pub fn transient(audience: &str, message: impl Into<String>) -> Self {
        AuthError { audience: audience.to_string(), message: message.into(), refused: None }
    }
}

#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A bearer token for `audience` (e.g. `https://management.azure.com`), cached while it is valid.
    async fn token(&self, audience: &str) -> Result<String, AuthError>;

    /// A token fetched anew, not from any cache (which it then replaces): asked for once when ARM or
    /// Service Bus refused the cached one with 401 (expired early, revoked, or issued before a role or
    /// tenant change). A source without a cache need not override it.
    async fn fresh_token(&self, audience: &str) -> Result<String, AuthError> {
        self.token(audience).await
    }
}

/// Which token a call asks for: the cached one, or (after a 401) a fresh one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    Cached,
    Fresh,
}

/// A token from `tokens`, abandoned (as an [`AuthError`]) when it takes longer than `limit`.
async fn token_within(
    tokens: &dyn TokenSource,
    audience: &str,
    limit: Duration,
    fetch: Fetch,
) -> Result<String, AuthError> {
    let get = async {
        match fetch {
            Fetch::Cached => tokens.token(audience).await,
            Fetch::Fresh => tokens.fresh_token(audience).await,
        }
    };
    match tokio::time::timeout(limit, get).await {
        Ok(r) => r,
        Err(_) => Err(AuthError::transient(
            audience,
            format!("no token within {} ms (identity endpoint too slow or not answering)", limit.as_millis()),
        )),
    }
}

/// Why an authorised request got no answer.
#[derive(Debug)]
pub enum NoAnswer {
    /// No token: the source failed or refused, or took longer than the call had left.
    Auth(AuthError),
    /// The request failed or timed out, or the call's time was up before it was sent.
    Transport(String),
}

/// Requests to one service with a bearer token for its audience: the reqwest client ([`client_with`]),
/// the token source, the time limits.
pub struct BearerClient {
    http: reqwest::Client,
    service: &'static str,
    audience: String,
    tokens: Arc<dyn TokenSource>,
    timeouts: Timeouts,
}

impl BearerClient {
    /// `service` names the service in log lines ("ARM", "Service Bus").
    pub fn new(
        service: &'static str,
        audience: String,
        tokens: Arc<dyn TokenSource>,
        timeouts: Timeouts,
    ) -> reqwest::Result<Self> {
        Ok(BearerClient { http: client_with(&timeouts)?, service, audience, tokens, timeouts })
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// A client of another service over the same connections, token source and time limits, with tokens
    /// for `audience` (a data plane beside ARM).
    pub fn for_audience(&self, service: &'static str, audience: String) -> BearerClient {
        BearerClient {
            http: self.http.clone(),
            service,
            audience,
            tokens: self.tokens.clone(),
            timeouts: self.timeouts,
        }
    }

    /// A call that must be answered within `limit` from now.
    pub fn call(&self, limit: Duration) -> Call<'_> {
        Call { client: self, limit, deadline: tokio::time::Instant::now() + limit, fetch: Fetch::Cached }
    }
}

/// One call of a [`BearerClient`]: one or more requests (the caller's retries), all by one deadline,
/// with at most one fresh token among them.
pub struct Call<'a> {
    client: &'a BearerClient,
    limit: Duration,
    deadline: tokio::time::Instant,
    fetch: Fetch,
}

impl Call<'_> {
    /// The call's time limit, as given.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Time left before the call's deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(tokio::time::Instant::now())
    }

    /// Send the request `build` makes, with the bearer token and a request timeout that ends by the
    /// call's deadline. A 401 to the cached token (expired early, revoked, or issued before a role or
    /// tenant change) is asked once more, rebuilt, with a fresh token; after that the call's answers are
    /// returned whatever they are.
    pub async fn send(
        &mut self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, NoAnswer> {
        self.send_seen(build, |_| {}).await
    }

    /// As [`Call::send`]; `seen` looks at every answer first, the 401 answered with a fresh token too.
    pub async fn send_seen(
        &mut self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        seen: impl Fn(&reqwest::Response),
    ) -> Result<reqwest::Response, NoAnswer> {
        let c = self.client;
        loop {
            let left = self.left();
            if left.is_zero() {
                return Err(NoAnswer::Transport(format!("no answer within {} ms", self.limit.as_millis())));
            }
            let token = token_within(c.tokens.as_ref(), &c.audience, left, self.fetch).await.map_err(NoAnswer::Auth)?;
            let left = self.left();
            let r = build(&c.http)
                .bearer_auth(token)
                .timeout(c.timeouts.request.min(left))
                .send()
                .await
                .map_err(|e| NoAnswer::Transport(e.to_string()))?;
            seen(&r);
            if r.status().as_u16() == 401 && self.fetch == Fetch::Cached {
                tracing::warn!(url = %r.url().path(), "{} answered 401; asking for a fresh token", c.service);
                self.fetch = Fetch::Fresh;
                continue;
            }
            return Ok(r);
        }
    }
}
