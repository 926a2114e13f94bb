//! Every invocation ends within its budget whatever ARM does: against an ARM that accepts
//! connections and never answers, `MpeCheck` gives up at its (short, injected) budget. The first
//! deliveries fail for Service Bus to redeliver; from the third on the check is rescheduled instead, so
//! nothing is lost and nothing waits for the host's kill. No wall-clock assertion: a generous guard only
//! keeps a regression from hanging the suite.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::doubles::{Fixed, Recorder, Tokens};
use mpe_approver::arm::ArmClient;
use mpe_approver::clock::Clock;
use mpe_approver::config::Config;
use mpe_approver::handler::{router, App};
use mpe_approver::resource_id::ResourceId;
use mpe_approver::servicebus::OutgoingMessage;
use mpe_approver::workitem::{Origin, WorkItem};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// A server that accepts and never answers.
async fn hanging_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    format!("http://{addr}")
}

async fn check(base: &str, delivery: u32) -> (StatusCode, Value, Vec<(String, OutgoingMessage)>) {
    let config = Config::from_lookup(|k| match k {
        "MPE_ARM_ENDPOINT" => Some(base.to_string()),
        "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
        "MPE_CHECK_BUDGET" => Some("600ms".into()),
        _ => None,
    })
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(Fixed::real_sleeps("2026-11-23T10:00:00Z"));
    let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(Tokens::Fixed), clock.clone())
        .unwrap();
    let rec = Arc::new(Recorder::default());
    let app = Arc::new(App::from_parts(config, arm, rec.clone(), clock.clone()));
    let mpe = ResourceId::parse("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe").unwrap();
    let item = WorkItem::new(mpe, clock.now(), "corr-budget".into(), Origin::EventGrid);
    let body = json!({"Data": {"message": item.to_json()}, "Metadata": {"DeliveryCount": delivery, "MessageId": "m"}});
    let req = Request::post("/MpeCheck")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), router(app).oneshot(req))
        .await
        .expect("the check must end within its budget, not hang")
        .unwrap();
    let status = resp.status();
    let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    let sent = rec.sent.lock().unwrap().clone();
    (status, v, sent)
}

#[tokio::test]
async fn a_hanging_arm_cannot_hold_a_check_past_its_budget() {
    let base = hanging_server().await;
    let (status, v, sent) = check(&base, 1).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(v["Logs"].to_string().contains("budget"), "{v}");
    assert!(sent.is_empty(), "a first delivery is redelivered by Service Bus: {sent:?}");

    // From the third delivery on, the check is acknowledged and scheduled again: never lost.
    let (status, v, sent) = check(&base, 3).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(sent.len(), 1, "{v}");
    assert_eq!(sent[0].0, "mpe-approvals");
    assert!(sent[0].1.scheduled_enqueue_utc.is_some(), "scheduled, not immediate");
}

#[test]
fn budgets_are_checked_against_the_hosts_timeout() {
    let cfg = |k: &str, v: &str| {
        let (k, v) = (k.to_string(), v.to_string());
        Config::from_lookup(move |q| match q {
            "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
            q if q == k => Some(v.clone()),
            _ => None,
        })
    };
    let d = cfg("x", "y").unwrap().budgets;
    assert_eq!(
        (d.event, d.check, d.replay),
        (Duration::from_secs(20), Duration::from_secs(60), Duration::from_secs(20))
    );
    for bad in ["0s", "2m", "10m", "soon"] {
        let e = cfg("MPE_CHECK_BUDGET", bad).unwrap_err();
        assert_eq!(e.setting, "MPE_CHECK_BUDGET", "{bad}");
    }
}

/// A queue send that never returns cannot hold `MpeEvent` past its budget: the invocation fails (Event
/// Grid delivers again), it is never answered as done.
#[tokio::test]
async fn a_hanging_send_cannot_hold_an_event_past_its_budget() {
    struct Hangs;
    #[async_trait::async_trait]
    impl mpe_approver::servicebus::QueueSender for Hangs {
        async fn send(&self, _: &str, _: OutgoingMessage) -> Result<(), mpe_approver::servicebus::SendError> {
            std::future::pending().await
        }
    }
    let config = Config::from_lookup(|k| match k {
        "MPE_ARM_ENDPOINT" => Some("http://127.0.0.1:9".into()),
        "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
        "MPE_EVENT_BUDGET" => Some("300ms".into()),
        _ => None,
    })
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(Fixed::real_sleeps("2026-11-23T10:00:00Z"));
    let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(Tokens::Fixed), clock.clone())
        .unwrap();
    let app = Arc::new(App::from_parts(config, arm, Arc::new(Hangs), clock));
    let id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe";
    let body = json!({"Data": {"event": {"id": "e1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": id,
        "data": {"operationName": "Microsoft.StreamAnalytics/clusters/privateEndpoints/write", "resourceUri": id,
                 "correlationId": "c1"}}}, "Metadata": {}});
    let req = Request::post("/MpeEvent").header("content-type", "application/json").body(Body::from(body.to_string()));
    let resp = tokio::time::timeout(Duration::from_secs(30), router(app).oneshot(req.unwrap()))
        .await
        .expect("the event must end within its budget, not hang")
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert!(v["Logs"].to_string().contains("budget"), "{v}");
}
