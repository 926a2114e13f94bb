//! Every outbound request is bounded: ARM and Service Bus against a local server that hangs, sends a
//! body without end, or throttles. Short timeouts are injected; sleeps run on a compressed clock; a
//! generous tokio timeout only guards against a hang (no wall-clock assertions).

mod common;
mod faulty_server;

use common::compressed;
use faulty_server::{Fault, FaultyServer};
use mpe_approver::arm::{read_body_capped, ArmClient, ArmError, BodyError, Timeouts};
use mpe_approver::auth::{AuthError, TokenSource};
use mpe_approver::clock::SharedClock;
use mpe_approver::resource_id::ResourceId;
use mpe_approver::servicebus::{OutgoingMessage, QueueSender, RestSender, SendError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

const MPE: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe";
/// Only a guard: a test that takes this long has hung.
const HANG_GUARD: Duration = Duration::from_secs(60);

struct StaticTokens;
#[async_trait::async_trait]
impl TokenSource for StaticTokens {
    async fn token(&self, _: &str) -> Result<String, AuthError> {
        Ok("t".into())
    }
}

/// A token source that never answers.
struct HangingTokens;
#[async_trait::async_trait]
impl TokenSource for HangingTokens {
    async fn token(&self, _: &str) -> Result<String, AuthError> {
        std::future::pending().await
    }
}

fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(200),
        request: Duration::from_millis(200),
        token: Duration::from_millis(200),
        call: Duration::from_secs(30),
    }
}

/// Retry sleeps of seconds play out in milliseconds.
fn fast_clock() -> SharedClock {
    Arc::new(compressed(1000.0))
}

fn arm(server: &FaultyServer, tokens: Arc<dyn TokenSource>, timeouts: Timeouts) -> ArmClient {
    let endpoint = Url::parse(&server.url()).expect("server url");
    ArmClient::with_timeouts(&endpoint, "https://management.azure.com".into(), tokens, fast_clock(), timeouts)
        .expect("ARM client")
}

async fn guarded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, f).await.expect("the call hung")
}

fn mpe() -> ResourceId {
    ResourceId::parse(MPE).expect("MPE id")
}

#[tokio::test]
async fn arm_get_against_a_server_that_never_answers_is_transient() {
    let server = faulty_server::start(Fault::Hang).await;
    let arm = arm(&server, Arc::new(StaticTokens), short());
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("no answer is not a success");
    assert!(e.is_transient(), "{e}");
    assert_eq!(e.retry_after(), None);
    // The first attempt and its retries, each cut off by the request timeout.
    assert_eq!(arm.calls(), 4, "{e}");
}

#[tokio::test]
async fn arm_call_deadline_cuts_the_retries_of_a_hanging_server_short() {
    let server = faulty_server::start(Fault::Hang).await;
    let timeouts = Timeouts { call: Duration::from_millis(300), ..short() };
    let arm = arm(&server, Arc::new(StaticTokens), timeouts);
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("no answer is not a success");
    assert!(e.is_transient(), "{e}");
    // A 200 ms attempt, then one cut to what is left of the 300 ms: not the four attempts retries allow.
    assert!((2..4).contains(&arm.calls()), "{} calls: {e}", arm.calls());
}

#[tokio::test]
async fn servicebus_call_deadline_cuts_the_retries_of_a_hanging_server_short() {
    let server = faulty_server::start(Fault::Hang).await;
    let sender = RestSender::with_timeouts(
        Url::parse(&server.url()).expect("url"),
        "https://servicebus.azure.net".into(),
        Arc::new(StaticTokens),
        fast_clock(),
        Timeouts { call: Duration::from_millis(300), ..short() },
    )
    .expect("sender");
    let e = guarded(sender.send("q", message())).await.expect_err("no answer");
    assert!(matches!(e, SendError::Transport { .. }), "{e}");
    let tries = server.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..3).contains(&tries), "{tries} sends");
}

#[tokio::test]
async fn arm_with_a_hanging_token_source_is_transient() {
    let server = faulty_server::start(Fault::Hang).await;
    // Whatever the token source, no token wait outlives the call's deadline.
    let arm = arm(&server, Arc::new(HangingTokens), Timeouts { call: Duration::from_millis(300), ..short() });
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("no token is not a success");
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("no token within"), "{e}");
    assert_eq!(arm.calls(), 0, "no request without a token");
}

#[tokio::test]
async fn arm_connect_to_a_closed_port_is_transient() {
    // Bind and drop: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let endpoint = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let arm = ArmClient::with_timeouts(
        &endpoint,
        "https://management.azure.com".into(),
        Arc::new(StaticTokens),
        fast_clock(),
        short(),
    )
    .expect("ARM client");
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("refused is not a success");
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn arm_endless_body_is_refused_and_the_connection_dropped() {
    let mut server = faulty_server::start(Fault::EndlessChunked { status: "200 OK", chunk: 16 * 1024 }).await;
    // The default request timeout: only the size cap can end this.
    let arm = arm(&server, Arc::new(StaticTokens), Timeouts::default());
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("an endless body is not a success");
    assert!(matches!(e, ArmError::BadBody { .. }), "{e}");
    assert!(e.to_string().contains("larger than"), "{e}");
    assert_eq!(arm.calls(), 1, "an oversized body is not retried");
    // The client hung up instead of draining the body: the server's next writes fail.
    guarded(server.client_gone.recv()).await.expect("the server saw the client go");
}

#[tokio::test]
async fn arm_truncated_body_is_transient() {
    let server = faulty_server::start(Fault::Truncated { declared: 1000, body: r#"{"properties":"#.into() }).await;
    let arm = arm(&server, Arc::new(StaticTokens), short());
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("a truncated body is not a success");
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn arm_body_that_never_finishes_is_cut_by_the_request_timeout() {
    // Bytes keep coming, so only the total request timeout (not a read timeout) can end it.
    let mut server = faulty_server::start(Fault::Trickle { every: Duration::from_millis(20) }).await;
    let arm = arm(&server, Arc::new(StaticTokens), Timeouts { call: Duration::from_millis(500), ..short() });
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("an unfinished body is not a success");
    assert!(e.is_transient(), "{e}");
    guarded(server.client_gone.recv()).await.expect("the server saw the client go");
}

#[tokio::test]
async fn capped_read_stops_within_one_chunk_of_the_cap() {
    let chunk = 16 * 1024;
    let cap = 64 * 1024;
    let mut server = faulty_server::start(Fault::EndlessChunked { status: "200 OK", chunk }).await;
    let resp = guarded(reqwest::get(server.url())).await.expect("response head");
    assert_eq!(resp.content_length(), None, "chunked: no Content-Length to trust");
    match guarded(read_body_capped(resp, cap)).await {
        Err(BodyError::TooLarge { cap: c, read }) => {
            assert_eq!(c, cap);
            assert!(read > cap && read <= cap + chunk, "held {read} bytes for a cap of {cap}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    guarded(server.client_gone.recv()).await.expect("the server saw the client go");
}

#[tokio::test]
async fn capped_read_refuses_an_announced_length_above_the_cap_without_reading() {
    let body = "x".repeat(10_000);
    let server = faulty_server::start(Fault::Answer { status: "200 OK", headers: vec![], body }).await;
    let resp = guarded(reqwest::get(server.url())).await.expect("response head");
    match guarded(read_body_capped(resp, 1000)).await {
        Err(BodyError::TooLarge { read: 0, .. }) => {}
        other => panic!("expected TooLarge before reading, got {other:?}"),
    }
    let server = faulty_server::start(Fault::Answer { status: "200 OK", headers: vec![], body: "{}".into() }).await;
    let resp = guarded(reqwest::get(server.url())).await.expect("response head");
    assert_eq!(guarded(read_body_capped(resp, 2)).await.expect("exactly the cap is fine"), b"{}");
}

fn throttled(retry_after: &str) -> Fault {
    Fault::Answer {
        status: "429 Too Many Requests",
        headers: vec![format!("Retry-After: {retry_after}")],
        body: r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#.into(),
    }
}

#[tokio::test]
async fn arm_long_retry_after_is_handed_to_the_caller_within_the_sleep_budget() {
    let server = faulty_server::start(throttled("30")).await;
    let arm = arm(&server, Arc::new(StaticTokens), short());
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("throttled");
    assert!(e.is_transient(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)), "{e}");
    // A wait longer than the client sleeps inline is handed back at once: no second call.
    assert_eq!(arm.calls(), 1, "{e}");
    assert!(e.to_string().contains("HTTP 429 TooManyRequests"), "{e}");
}

#[tokio::test]
async fn arm_short_retry_after_is_retried_then_exposed() {
    let server = faulty_server::start(throttled("1")).await;
    let arm = arm(&server, Arc::new(StaticTokens), short());
    let e = guarded(arm.get(&mpe(), "2020-03-01")).await.expect_err("throttled");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)), "{e}");
    assert_eq!(arm.calls(), 4, "the first attempt and three retries");
}

fn message() -> OutgoingMessage {
    OutgoingMessage {
        body: "{}".into(),
        message_id: "m".into(),
        correlation_id: None,
        scheduled_enqueue_utc: None,
        time_to_live: None,
        properties: vec![],
    }
}

fn sender(server: &FaultyServer, tokens: Arc<dyn TokenSource>) -> RestSender {
    RestSender::with_timeouts(
        Url::parse(&server.url()).expect("url"),
        "https://servicebus.azure.net".into(),
        tokens,
        fast_clock(),
        short(),
    )
    .expect("sender")
}

#[tokio::test]
async fn servicebus_send_to_a_server_that_never_answers_fails() {
    let server = faulty_server::start(Fault::Hang).await;
    let e = guarded(sender(&server, Arc::new(StaticTokens)).send("q", message())).await.expect_err("no answer");
    assert!(matches!(e, SendError::Transport { .. }), "{e}");
}

#[tokio::test]
async fn servicebus_with_a_hanging_token_source_fails() {
    let server = faulty_server::start(Fault::Hang).await;
    let sender = RestSender::with_timeouts(
        Url::parse(&server.url()).expect("url"),
        "https://servicebus.azure.net".into(),
        Arc::new(HangingTokens),
        fast_clock(),
        Timeouts { call: Duration::from_millis(300), ..short() },
    )
    .expect("sender");
    let e = guarded(sender.send("q", message())).await.expect_err("no token");
    assert!(matches!(e, SendError::Auth(_)), "{e}");
}

#[tokio::test]
async fn servicebus_endless_error_body_is_capped() {
    let mut server = faulty_server::start(Fault::EndlessChunked { status: "400 Bad Request", chunk: 16 * 1024 }).await;
    match guarded(sender(&server, Arc::new(StaticTokens)).send("q", message())).await {
        Err(SendError::Status { status: 400, body, .. }) => assert!(body.contains("larger than"), "{body}"),
        other => panic!("expected a 400, got {other:?}"),
    }
    guarded(server.client_gone.recv()).await.expect("the server saw the client go");
}

#[tokio::test]
async fn servicebus_send_to_a_closed_port_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let sender = RestSender::with_timeouts(
        Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        "https://servicebus.azure.net".into(),
        Arc::new(StaticTokens),
        fast_clock(),
        short(),
    )
    .expect("sender");
    let e = guarded(sender.send("q", message())).await.expect_err("refused is not a success");
    assert!(matches!(e, SendError::Transport { .. }) && !e.is_refused(), "{e}");
}

/// What each Service Bus answer to a send becomes: 429 and 5xx are tried three times, then transient;
/// 401 is asked once more (a fresh token), then refused for good; 403 (quota exceeded) is transient
/// and not retried at once; 410 (no such queue) is refused for good at once.
#[tokio::test]
async fn servicebus_send_answers_are_retried_refreshed_or_refused() {
    for (status, requests, refused) in [
        ("429 Too Many Requests", 3, false),
        ("500 Internal Server Error", 3, false),
        ("503 Service Unavailable", 3, false),
        ("401 Unauthorized", 2, true),
        ("403 Forbidden", 1, false),
        ("410 Gone", 1, true),
    ] {
        let server = faulty_server::start(Fault::Answer {
            status,
            headers: vec!["Content-Type: application/xml".into()],
            body: "<Error><Code>x</Code><Detail>scripted</Detail></Error>".into(),
        })
        .await;
        let e = guarded(sender(&server, Arc::new(StaticTokens)).send("q", message())).await.expect_err(status);
        let code: u16 = status[..3].parse().expect("status");
        assert!(matches!(e, SendError::Status { status, .. } if status == code), "{status}: {e}");
        assert_eq!(e.is_refused(), refused, "{status}: {e}");
        assert_eq!(server.requests.load(std::sync::atomic::Ordering::Relaxed), requests, "{status}");
    }
}
