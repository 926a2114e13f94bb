//! The managed identity client is bounded: an App Service identity endpoint (a local faulty server)
//! that hangs, is not listening, answers 429, 500 or 503, truncates or sends a body without end costs a few (injected, short) timeouts and
//! ends in an error that ARM reports as transient; one that answers 400, 401 or 403 is asked once more
//! and then parks the check with its reason; a good endpoint still yields a token, cached, and a fresh
//! one on request (after ARM or Service Bus refused the cached one).
//!
//! `ManagedIdentityCredential` reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from the process
//! environment, so this binary holds a single test that sets them for each scenario in turn.

mod common;
mod faulty_server;

use common::compressed;
use faulty_server::Fault;
use mpe_approver::arm::{ArmClient, Timeouts};
use mpe_approver::auth::{AzureIdentity, TokenSource};
use mpe_approver::resource_id::ResourceId;
use std::sync::Arc;
use std::time::Duration;

const AUDIENCE: &str = "https://management.azure.com";
/// Only a guard: a scenario that takes this long has hung (the SDK default would take minutes).
const HANG_GUARD: Duration = Duration::from_secs(60);

fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(200),
        request: Duration::from_millis(200),
        token: Duration::from_millis(1500),
        call: Duration::from_secs(30),
    }
}

/// A credential pointed at `fault` (a fresh one each time: the SDK caches tokens per credential).
async fn identity_for(fault: Fault) -> (AzureIdentity, faulty_server::FaultyServer) {
    let server = faulty_server::start(fault).await;
    std::env::set_var("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url()));
    std::env::set_var("IDENTITY_HEADER", "secret");
    let identity = AzureIdentity::new(None, true, short()).expect("managed identity credential");
    assert_eq!(identity.kind(), "managed identity");
    (identity, server)
}

async fn token(identity: &AzureIdentity) -> Result<String, String> {
    tokio::time::timeout(HANG_GUARD, identity.token(AUDIENCE)).await.expect("token acquisition hung").map_err(|e| {
        assert_eq!(e.audience, AUDIENCE);
        e.to_string()
    })
}

#[tokio::test]
async fn identity_endpoint_faults_end_promptly_in_errors() {
    // A good endpoint: the capped transport carries the token response.
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp();
    let (identity, server) = identity_for(Fault::Answer {
        status: "200 OK",
        headers: vec!["Content-Type: application/json".into()],
        body: format!(
            r#"{{"access_token":"tok-1","expires_on":"{expires}","resource":"{AUDIENCE}","token_type":"Bearer"}}"#
        ),
    })
    .await;
    assert_eq!(token(&identity).await.expect("a token"), "tok-1");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Cached by the SDK's credential; a fresh token (asked for after a 401) bypasses that cache.
    assert_eq!(token(&identity).await.expect("a token"), "tok-1");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::Relaxed), 1, "the second token came from the cache");
    let fresh = tokio::time::timeout(HANG_GUARD, identity.fresh_token(AUDIENCE)).await.expect("hung");
    assert_eq!(fresh.expect("a fresh token"), "tok-1");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::Relaxed), 2, "a fresh token asks the endpoint");
    assert_eq!(token(&identity).await.expect("a token"), "tok-1");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::Relaxed), 2, "and is the one cached from then on");

    // Refused (nothing listens), 429, 503 and a truncated token response: transient errors, promptly;
    // never "refused for good".
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    std::env::set_var("IDENTITY_ENDPOINT", format!("http://{closed}/msi/token"));
    let identity = AzureIdentity::new(None, true, short()).expect("managed identity credential");
    let e = tokio::time::timeout(HANG_GUARD, identity.token(AUDIENCE)).await.expect("hung").expect_err("refused");
    assert_eq!(e.refused, None, "a closed port is transient: {e}");
    for fault in [
        Fault::Answer { status: "429 Too Many Requests", headers: vec!["Retry-After: 1".into()], body: "{}".into() },
        Fault::Answer { status: "503 Service Unavailable", headers: vec![], body: "{}".into() },
        Fault::Truncated { declared: 400, body: r#"{"access_token":"tok-"#.into() },
    ] {
        let (identity, _server) = identity_for(fault.clone()).await;
        let e = tokio::time::timeout(HANG_GUARD, identity.token(AUDIENCE)).await.expect("hung").expect_err("no token");
        assert_eq!(e.refused, None, "{fault:?} is transient: {e}");
    }

    // Hangs: cut off by the request timeout (and the token timeout around the retries).
    let (identity, server) = identity_for(Fault::Hang).await;
    let e = token(&identity).await.expect_err("a hanging endpoint gives no token");
    assert!(server.requests.load(std::sync::atomic::Ordering::Relaxed) >= 1, "{e}");

    // ... and ARM turns that into a transient failure without calling ARM.
    let arm = ArmClient::with_timeouts(
        &url::Url::parse("http://127.0.0.1:9").expect("url"),
        AUDIENCE.into(),
        Arc::new(identity),
        Arc::new(compressed(1000.0)),
        short(),
    )
    .expect("ARM client");
    let id = ResourceId::parse(
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe",
    )
    .expect("id");
    let e =
        tokio::time::timeout(HANG_GUARD, arm.get(&id, "2020-03-01")).await.expect("ARM hung").expect_err("no token");
    assert!(e.is_transient(), "{e}");
    assert_eq!(arm.calls(), 0, "no ARM request without a token");

    // 500: the identity client's own retries are capped (the SDK default is 8 over a minute).
    let (identity, server) = identity_for(Fault::Answer {
        status: "500 Internal Server Error",
        headers: vec![],
        body: r#"{"error":"boom"}"#.into(),
    })
    .await;
    token(&identity).await.expect_err("a failing endpoint gives no token");
    let tries = server.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (1..=1 + u64::from(mpe_approver::auth::IDENTITY_MAX_RETRIES)).contains(&tries),
        "{tries} identity requests"
    );

    // A body without end: stopped at the cap, not retried, connection dropped.
    let (identity, mut server) = identity_for(Fault::EndlessChunked { status: "200 OK", chunk: 16 * 1024 }).await;
    let e = token(&identity).await.expect_err("an endless body gives no token");
    assert!(e.contains("larger than"), "{e}");
    tokio::time::timeout(HANG_GUARD, server.client_gone.recv()).await.expect("client never hung up").expect("gone");

    // 400 (identity not assigned), 401 (wrong secret header), 403 (not allowed): asked once more (one
    // token refresh), then refused for good. ARM turns that into `ArmError::Identity` without calling
    // ARM, and a check parks `forbidden` with the identity endpoint's reason instead of retrying.
    for (status, body) in [
        ("400 Bad Request", r#"{"error":"invalid_request","error_description":"Identity not found"}"#),
        ("401 Unauthorized", r#"{"statusCode":401,"message":"Unauthorized: the X-IDENTITY-HEADER is not valid"}"#),
        ("403 Forbidden", r#"{"statusCode":403,"message":"Forbidden: no token for this identity"}"#),
    ] {
        let code: u16 = status[..3].parse().expect("status code");
        let (identity, server) = identity_for(Fault::Answer { status, headers: vec![], body: body.into() }).await;
        let e = tokio::time::timeout(HANG_GUARD, identity.token(AUDIENCE)).await.expect("hung").expect_err("refused");
        assert_eq!(e.refused, Some(code), "{status}: {e}");
        assert_eq!(
            server.requests.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "{status}: one refresh, then the answer"
        );
        check_parks_when_the_identity_refuses(identity, code).await;
    }
}

/// One `MpeCheck` with a token source the identity endpoint refuses: parked `forbidden` with the
/// endpoint's status, acknowledged (not redelivered), ARM never called.
async fn check_parks_when_the_identity_refuses(identity: AzureIdentity, status: u16) {
    use axum::http::Request;
    use common::doubles::Recorder;
    use mpe_approver::handler::{router, App};
    use mpe_approver::servicebus::props;
    use mpe_approver::workitem::{Origin, WorkItem};
    use tower::ServiceExt;
    let config = mpe_approver::config::Config::from_lookup(|k| match k {
        "MPE_ARM_ENDPOINT" => Some("http://127.0.0.1:9".into()),
        "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
        _ => None,
    })
    .expect("config");
    let clock: Arc<dyn mpe_approver::clock::Clock> = Arc::new(compressed(1000.0));
    let arm =
        ArmClient::with_timeouts(&config.arm_endpoint, AUDIENCE.into(), Arc::new(identity), clock.clone(), short())
            .expect("ARM client");
    let sender = Arc::new(Recorder::default());
    let app = Arc::new(App::from_parts(config, arm, sender.clone(), clock.clone()));
    let id = ResourceId::parse(
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe",
    )
    .expect("id");
    let item = WorkItem::new(id, mpe_approver::clock::Clock::now(clock.as_ref()), "corr-id".into(), Origin::EventGrid);
    let body =
        serde_json::json!({"Data": {"message": item.to_json()}, "Metadata": {"DeliveryCount": 1, "MessageId": "m"}});
    let req = Request::post("/MpeCheck")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()));
    let resp = tokio::time::timeout(HANG_GUARD, router(app.clone()).oneshot(req.expect("request")))
        .await
        .expect("check hung")
        .expect("response");
    assert_eq!(resp.status(), axum::http::StatusCode::OK, "{status}: acknowledged, not redelivered");
    assert_eq!(app.arm.calls(), 0, "{status}: no ARM request without a token");
    let sent = sender.sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "{status}: parked");
    let (queue, m) = &sent[0];
    assert_eq!(queue, "mpe-approvals-parked");
    let get = |k: &str| m.properties.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(get(props::PARK_CODE), "forbidden", "{status}");
    let reason = get(props::PARK_REASON);
    assert!(reason.contains(&format!("HTTP {status}")), "{status}: the reason names the identity's answer: {reason}");
}
