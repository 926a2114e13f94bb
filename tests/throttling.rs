//! Throttling as ARM asks: a `Retry-After` longer than a redelivery is honoured in full by
//! scheduling the check for then (never slept inside the invocation, never an immediate redelivery), the
//! wait is remembered per subscription for every invocation of the process, and a low
//! `x-ms-ratelimit-remaining-subscription-reads` makes calls to that subscription take turns, half as
//! many as the requests left, down to one at a time, so none is on its way when ARM starts a wait.

mod common;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::doubles::{Fixed, Recorder, Tokens};
use mpe_approver::arm::ArmClient;
use mpe_approver::clock::Clock;
use mpe_approver::config::Config;
use mpe_approver::handler::{router, App};
use mpe_approver::workitem::{Origin, WorkItem};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

const NOW: &str = "2026-11-23T10:00:00Z";
const THROTTLED: &str = "00000000-0000-0000-0000-0000000000a1";
const LOW: &str = "00000000-0000-0000-0000-0000000000a2";
const CALM: &str = "00000000-0000-0000-0000-0000000000a3";
const FEW: &str = "00000000-0000-0000-0000-0000000000a4";

static LOW_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static LOW_MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static FEW_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static FEW_MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// ARM: every call to THROTTLED answers 429 `Retry-After: 30`; LOW answers 404 with only 3 reads left;
/// FEW with 12 left; CALM answers 404. Records the paths called.
async fn arm(State(calls): State<Arc<Mutex<Vec<String>>>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    calls.lock().unwrap().push(path.clone());
    let body = json!({"error": {"code": "x", "message": "y"}}).to_string();
    if path.contains(THROTTLED) {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")], body).into_response();
    }
    if path.contains(LOW) {
        return answer_slowly(&LOW_IN_FLIGHT, &LOW_MAX_IN_FLIGHT, "3", body).await;
    }
    if path.contains(FEW) {
        return answer_slowly(&FEW_IN_FLIGHT, &FEW_MAX_IN_FLIGHT, "12", body).await;
    }
    (StatusCode::NOT_FOUND, body).into_response()
}

/// 404 with `left` reads remaining, after long enough for concurrent calls to overlap, were they let
/// through together; counts the calls on their way and the most at once.
async fn answer_slowly(in_flight: &AtomicUsize, most: &AtomicUsize, left: &'static str, body: String) -> Response {
    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    most.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    in_flight.fetch_sub(1, Ordering::SeqCst);
    (StatusCode::NOT_FOUND, [("x-ms-ratelimit-remaining-subscription-reads", left)], body).into_response()
}

fn mpe(sub: &str, name: &str) -> String {
    format!(
        "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/{name}"
    )
}

struct Harness {
    app: Arc<App>,
    calls: Arc<Mutex<Vec<String>>>,
    sender: Arc<Recorder>,
}

async fn start() -> Harness {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = axum::Router::new().fallback(arm).with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, server).await });
    let config = Config::from_lookup(|k| match k {
        "MPE_ARM_ENDPOINT" => Some(base.clone()),
        "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
        _ => None,
    })
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(Fixed::instant(NOW));
    let armc =
        ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(Tokens::Fixed), clock.clone())
            .unwrap();
    let sender = Arc::new(Recorder::default());
    Harness { app: Arc::new(App::from_parts(config, armc, sender.clone(), clock)), calls, sender }
}

/// One `MpeCheck` delivery (the first) through the shared app: (HTTP status, reply).
async fn check(h: &Harness, id: &str) -> (StatusCode, Value) {
    let item = WorkItem::new(
        mpe_approver::resource_id::ResourceId::parse(id).unwrap(),
        NOW.parse().unwrap(),
        "corr-throttle".into(),
        Origin::EventGrid,
    );
    let body = json!({"Data": {"message": item.to_json()}, "Metadata": {"DeliveryCount": 1, "MessageId": "m"}});
    let req = Request::post("/MpeCheck").header("content-type", "application/json").body(Body::from(body.to_string()));
    let resp = router(h.app.clone()).oneshot(req.unwrap()).await.unwrap();
    let status = resp.status();
    let v = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    (status, v)
}

fn calls_to(h: &Harness, sub: &str) -> usize {
    h.calls.lock().unwrap().iter().filter(|p| p.contains(sub)).count()
}

#[tokio::test]
async fn a_long_retry_after_reschedules_the_check_and_holds_the_subscription() {
    let h = start().await;
    let (status, v) = check(&h, &mpe(THROTTLED, "pe1")).await;
    assert_eq!(status, StatusCode::OK, "acknowledged and rescheduled, not redelivered at once: {v}");
    assert_eq!(calls_to(&h, THROTTLED), 1, "one call, no retry slept inside the invocation");
    {
        let sent = h.sender.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "{v}");
        assert_eq!(sent[0].0, "mpe-approvals");
        let at = sent[0].1.scheduled_enqueue_utc.expect("scheduled");
        let now: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
        assert!(at >= now + chrono::Duration::seconds(30), "scheduled at {at}: not before ARM's Retry-After");
    }
    assert_eq!(h.app.arm.throttled_for(THROTTLED), Some(Duration::from_secs(30)));

    // Another MPE of the same subscription, in another invocation: ARM is not called at all.
    let (status, _) = check(&h, &mpe(THROTTLED, "pe2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls_to(&h, THROTTLED), 1, "no call to a subscription inside its wait");
    assert_eq!(h.sender.sent.lock().unwrap().len(), 2, "the second check is rescheduled too");

    // Another subscription is not held back.
    check(&h, &mpe(CALM, "pe3")).await;
    assert!(calls_to(&h, CALM) >= 1);
    assert_eq!(h.app.arm.throttled_for(CALM), None);
}

#[tokio::test]
async fn few_remaining_reads_make_the_subscriptions_calls_go_one_at_a_time() {
    let h = start().await;
    check(&h, &mpe(LOW, "pe1")).await;
    assert!(h.app.arm.one_at_a_time(LOW), "a low remaining count makes the subscription's calls go one at a time");
    assert_eq!(h.app.arm.throttled_for(LOW), None, "not a pause: the next call may go at once");
    assert!(!h.app.arm.one_at_a_time(CALM));
    // Five concurrent reads of the subscription (five checks' worth): never two on their way at once,
    // so a 429 ARM gives one of them is seen before the next goes.
    LOW_MAX_IN_FLIGHT.store(0, Ordering::SeqCst);
    read_at_once(&h, LOW, 5).await;
    assert_eq!(LOW_MAX_IN_FLIGHT.load(Ordering::SeqCst), 1);
}

/// Fewer requests left than [`mpe_approver::arm::LOW_REMAINING`], but more than a few: the subscription's
/// calls take turns, half as many as the requests left (12 left: 6 at once), so the calls on their way
/// never outnumber what is left and none lands in the wait that follows.
#[tokio::test]
async fn fewer_remaining_reads_let_half_as_many_calls_go_at_once() {
    let h = start().await;
    read_at_once(&h, FEW, 24).await;
    let most = FEW_MAX_IN_FLIGHT.load(Ordering::SeqCst);
    assert!((2..=6).contains(&most), "at most 6 at once, more than one: {most}");
    assert!(!h.app.arm.one_at_a_time(FEW));
}

/// `n` concurrent reads of MPEs in `sub` (as many checks' worth), each answered.
async fn read_at_once(h: &Harness, sub: &str, n: usize) {
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..n {
        let id = mpe_approver::resource_id::ResourceId::parse(&mpe(sub, &format!("pe-c{i}"))).unwrap();
        let app = h.app.clone();
        reads.spawn(async move { app.arm.get(&id, "2020-03-01").await.map(|_| ()) });
    }
    while let Some(r) = reads.join_next().await {
        assert!(r.unwrap().is_ok());
    }
}
