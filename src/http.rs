//! The HTTP plumbing every outbound call shares (ARM, Service Bus, the identity endpoint): the reqwest
//! client with its connect and request timeouts ([`Timeouts`]), and the capped body reader
//! ([`read_body_capped`]). It knows no Azure service.

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
