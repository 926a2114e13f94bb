//! The handler's HTTP edge without Azure: bad input of every kind gets a JSON reply and a log line,
//! nothing panics, invalid input is parked with a reason, and only transient trouble fails an invocation.
//! ARM points at a closed port: none of these cases may reach it.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::doubles::{Fixed, Recorder, Tokens};
use mpe_approver::arm::ArmClient;
use mpe_approver::clock::Clock;
use mpe_approver::config::Config;
use mpe_approver::handler::{router, App};
use mpe_approver::servicebus::props;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const NOW: &str = "2026-11-23T10:00:00Z";
const MPE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/asa1/privateEndpoints/pe-storage";

/// A log writer whose output the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn app(sender: Arc<Recorder>) -> Arc<App> {
    let config = Config::from_lookup(|k| match k {
        "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
        "MPE_ARM_ENDPOINT" => Some("http://127.0.0.1:9/arm".into()),
        _ => None,
    })
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(Fixed::instant(NOW));
    let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(Tokens::None), clock.clone())
        .unwrap();
    Arc::new(App::from_parts(config, arm, sender, clock))
}

async fn post(app: Arc<App>, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let req = Request::post(path).header("content-type", "application/json").body(body.into()).unwrap();
    let resp = router(app).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("reply is not JSON: {bytes:?}"));
    (status, v)
}

fn event(op: &str, id: &str) -> Value {
    json!({"Data": {"event": {
        "subject": id, "eventType": "Microsoft.Resources.ResourceWriteSuccess", "id": "e1",
        "eventTime": "2026-11-23T09:59:59Z", "dataVersion": "2", "metadataVersion": "1",
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000001",
        "data": {"operationName": op, "resourceUri": id, "status": "Succeeded", "correlationId": "corr-1",
                 "evidence": [], "claims": {}}
    }}, "Metadata": {"sys": {"MethodName": "MpeEvent", "UtcNow": NOW, "RandGuid": "x"}}})
}

#[tokio::test]
async fn readiness_and_unknown_paths() {
    let rec = Arc::new(Recorder::default());
    let resp = router(app(rec.clone())).oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, v) = post(app(rec), "/NoSuchFunction", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn mpe_event_is_queued_once_per_mpe() {
    let rec = Arc::new(Recorder::default());
    let a = app(rec.clone());
    let body = event("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", MPE).to_string();
    let (status, v) = post(a.clone(), "/MpeEvent", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    post(a, "/MpeEvent", body).await;
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    let (queue, msg) = &sent[0];
    assert_eq!(queue, "mpe-approvals");
    assert_eq!(msg.message_id, sent[1].1.message_id, "duplicate events must share a MessageId");
    assert_eq!(msg.correlation_id.as_deref(), Some("corr-1"));
    // MPE_FIRST_CHECK_DELAY (2 s) at least, on the grid its parent's checks keep: before the next
    // interval (2 s) is over.
    let at = msg.scheduled_enqueue_utc.expect("the first check is scheduled");
    let now: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    assert!(
        at >= now + chrono::Duration::seconds(2) && at < now + chrono::Duration::milliseconds(4200),
        "first check at {at}"
    );
    let item: Value = serde_json::from_str(&msg.body).unwrap();
    assert_eq!(item["v"], 1);
    assert_eq!(item["mpeId"], MPE);
    assert_eq!(item["attempt"], 0);
    assert_eq!(item["origin"], "eventGrid");
}

#[tokio::test]
async fn an_mpe_written_again_starts_a_new_chain() {
    // Deleted and created again under the same name: another ARM operation, another correlation id. Its
    // first check must not share a MessageId with the earlier chain, or duplicate detection would drop it.
    let rec = Arc::new(Recorder::default());
    let a = app(rec.clone());
    let first = event("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", MPE);
    let mut again = first.clone();
    again["Data"]["event"]["data"]["correlationId"] = json!("corr-2");
    again["Data"]["event"]["id"] = json!("e2");
    post(a.clone(), "/MpeEvent", first.to_string()).await;
    post(a, "/MpeEvent", again.to_string()).await;
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].1.message_id, sent[1].1.message_id);
    assert_eq!(sent[1].1.correlation_id.as_deref(), Some("corr-2"));
}

#[tokio::test]
async fn event_given_as_a_json_string_or_array_is_accepted() {
    let rec = Arc::new(Recorder::default());
    let ev = event("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", MPE);
    let as_string = json!({"Data": {"event": ev["Data"]["event"].to_string()}, "Metadata": {}});
    post(app(rec.clone()), "/MpeEvent", as_string.to_string()).await;
    let as_array = json!({"Data": {"event": [ev["Data"]["event"].clone()]}, "Metadata": {}});
    post(app(rec.clone()), "/MpeEvent", as_array.to_string()).await;
    assert_eq!(rec.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn non_mpe_events_are_ignored() {
    // The Microsoft docs sample (captures/event-grid-resource-write-success.json) is a storage account write.
    let rec = Arc::new(Recorder::default());
    let sample = common::capture("event-grid-resource-write-success.json");
    let events: Value = serde_json::from_str(&sample).unwrap();
    let body = json!({"Data": {"event": events[0]}, "Metadata": {}});
    let (status, v) = post(app(rec.clone()), "/MpeEvent", body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["Logs"][0].as_str().unwrap().contains("ignored"), "{v}");
    let delete = json!({"Data": {"event": {"eventType": "Microsoft.Resources.ResourceDeleteSuccess", "subject": MPE}}, "Metadata": {}});
    post(app(rec.clone()), "/MpeEvent", delete.to_string()).await;
    assert!(rec.sent.lock().unwrap().is_empty());
}

/// Writes of other resources, a delete, an event without an operation and an MPE whose source type is
/// not opted in: the same reply, and the same debug lines in the same span, whether the event comes in
/// the usual form (one object in `Data.event`) or as a one-event array (parsed into a JSON tree).
#[tokio::test]
async fn ignored_events_get_the_same_reply_and_lines_in_either_form() {
    let sample: Value = serde_json::from_str(&common::capture("event-grid-resource-write-success.json")).unwrap();
    let customer_pe = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe";
    let mut no_operation = event("Microsoft.Compute/virtualMachines/write", MPE)["Data"]["event"].clone();
    no_operation["data"] = json!({"resourceUri": MPE});
    let mut no_id = sample[0].clone();
    no_id["id"] = Value::Null;
    let noise = [
        sample[0].clone(),
        event("Microsoft.Compute/virtualMachines/write", MPE)["Data"]["event"].clone(),
        json!({"eventType": "Microsoft.Resources.ResourceDeleteSuccess", "subject": MPE, "id": "d-1"}),
        no_operation,
        no_id,
        event("Microsoft.Network/privateEndpoints/write", customer_pe)["Data"]["event"].clone(),
    ];
    for ev in noise {
        let usual = json!({"Data": {"event": ev}, "Metadata": {"data": ev["data"], "sys": {"MethodName": "MpeEvent"}}});
        let array =
            json!({"Data": {"event": [ev]}, "Metadata": {"data": ev["data"], "sys": {"MethodName": "MpeEvent"}}});
        let mut seen = Vec::new();
        for body in [usual, array] {
            let out = Shared::default();
            let writer = out.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_ansi(false)
                .without_time()
                .with_writer(move || mpe_approver::logsafe::Lines(writer.clone()))
                .finish();
            let _guard = tracing::subscriber::set_default(subscriber);
            // A log callsite first reached on another test's thread, without a subscriber, starts
            // disabled until the interest of every callsite is computed again: posted once to reach
            // them all, then again with this subscriber's interest in place.
            let mut reply = Value::Null;
            for _ in 0..2 {
                tracing::callsite::rebuild_interest_cache();
                out.0.lock().unwrap().clear();
                let rec = Arc::new(Recorder::default());
                let req = Request::post("/MpeEvent")
                    .header("content-type", "application/json")
                    .header("x-azure-functions-invocationid", "2f6b7c1e-0000-4000-8000-000000000001")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                let resp = router(app(rec.clone())).oneshot(req).await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                reply =
                    serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
                assert!(rec.sent.lock().unwrap().is_empty(), "{reply}");
            }
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            let lines: Vec<String> = text.lines().filter(|l| l.contains("mpe_approver")).map(str::to_string).collect();
            seen.push((reply, lines));
        }
        assert!(seen[0].0["Logs"][0].as_str().unwrap().starts_with("DEBUG: ignored event "), "{:?}", seen[0]);
        assert!(seen[0].1.iter().any(|l| l.contains("event{invocation=")), "{seen:?}");
        assert_eq!(seen[0], seen[1]);
    }
}

#[tokio::test]
async fn hostile_event_is_parked_with_a_reason() {
    let rec = Arc::new(Recorder::default());
    let hostile = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/asa1/privateEndpoints/..%2F..%2Fx";
    let (status, v) = post(
        app(rec.clone()),
        "/MpeEvent",
        event("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", hostile).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "mpe-approvals-parked");
    let reason = sent[0].1.properties.iter().find(|(k, _)| k == props::PARK_REASON).map(|(_, v)| v.clone()).unwrap();
    assert!(reason.contains("invalid event"), "{reason}");
}

#[tokio::test]
async fn garbage_envelopes_get_json_replies() {
    let rec = Arc::new(Recorder::default());
    for path in ["/MpeEvent", "/MpeCheck", "/MpeReplay", "/MpeSweep", "/MpePlsScan", "/MpeDiscover"] {
        for body in ["", "not json", "[]", "{\"Data\": 5}", "{\"Data\": {\"event\": null}}"] {
            let (status, v) = post(app(rec.clone()), path, body).await;
            assert_eq!(status, StatusCode::OK, "{path} {body:?}: {v}");
            assert!(v.get("Logs").is_some() || v.get("Outputs").is_some(), "{path} {body:?}: {v}");
        }
    }
}

/// A check message is never acknowledged and dropped: a body that is no envelope, or an envelope
/// without a message, is parked with the `invalid-input` code, never answered 200 and lost.
#[tokio::test]
async fn check_messages_that_cannot_be_read_are_parked_not_dropped() {
    for body in ["", "not json", "[]", "{\"Data\": 5}", "{\"Data\": {}, \"Metadata\": {}}"] {
        let rec = Arc::new(Recorder::default());
        let (status, v) = post(app(rec.clone()), "/MpeCheck", body).await;
        assert_eq!(status, StatusCode::OK, "{body:?}: {v}");
        let sent = rec.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "{body:?} parked once");
        assert_eq!(sent[0].0, "mpe-approvals-parked", "{body:?}");
        assert!(sent[0].1.properties.iter().any(|(k, v)| k == props::PARK_CODE && v == "invalid-input"), "{body:?}");
    }
    // when parking fails too, the invocation fails so Service Bus redelivers
    let rec = Arc::new(Recorder { fail: true, ..Default::default() });
    let (status, _) = post(app(rec), "/MpeCheck", "not json").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn truncated_work_item_is_parked() {
    let rec = Arc::new(Recorder::default());
    let truncated = format!("{{\"v\":1,\"mpeId\":\"{MPE}\",\"attem");
    let body = json!({"Data": {"message": serde_json::to_string(&truncated).unwrap()},
                      "Metadata": {"DeliveryCount": "1", "MessageId": "\"m1\""}});
    let (status, v) = post(app(rec.clone()), "/MpeCheck", body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "mpe-approvals-parked");
    assert_eq!(sent[0].1.body, truncated, "the original body is kept for a human");
}

#[tokio::test]
async fn unsupported_mpe_type_in_a_work_item_is_parked() {
    let rec = Arc::new(Recorder::default());
    let item = json!({"v": 1, "mpeId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
                      "attempt": 0, "firstSeen": NOW, "correlationId": "c", "origin": "replay"});
    let body = json!({"Data": {"message": serde_json::to_string(&item.to_string()).unwrap()}, "Metadata": {}});
    let (status, _) = post(app(rec.clone()), "/MpeCheck", body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent[0].0, "mpe-approvals-parked");
    assert!(sent[0].1.properties.iter().any(|(k, v)| k == props::PARK_REASON && v.contains("unsupported MPE type")));
}

#[tokio::test]
async fn arm_unreachable_fails_the_invocation_for_redelivery() {
    let rec = Arc::new(Recorder::default());
    let item =
        json!({"v": 1, "mpeId": MPE, "attempt": 0, "firstSeen": NOW, "correlationId": "c", "origin": "eventGrid"});
    let body = json!({"Data": {"message": serde_json::to_string(&item.to_string()).unwrap()}, "Metadata": {}});
    let (status, v) = post(app(rec.clone()), "/MpeCheck", body.to_string()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(v["Logs"].to_string().contains("transient"), "{v}");
    assert!(rec.sent.lock().unwrap().is_empty(), "nothing parked for a transient failure");
}

#[tokio::test]
async fn replay_validates_and_queues() {
    let rec = Arc::new(Recorder::default());
    let req = |body: &str| {
        json!({"Data": {"req": {"Url": "https://x/api/replay", "Method": "POST", "Query": {},
        "Headers": {}, "Params": {}, "Identities": [], "Body": body}}, "Metadata": {}})
    };
    let (_, v) = post(app(rec.clone()), "/MpeReplay", req("{\"mpeId\": \"/subscriptions/../etc\"}").to_string()).await;
    assert_eq!(v["Outputs"]["res"]["statusCode"], "400");
    assert!(rec.sent.lock().unwrap().is_empty());
    let (_, v) = post(app(rec.clone()), "/MpeReplay", req(&json!({"mpeId": MPE}).to_string()).to_string()).await;
    assert_eq!(v["Outputs"]["res"]["statusCode"], "202", "{v}");
    let res_body: Value = serde_json::from_str(v["Outputs"]["res"]["body"].as_str().unwrap()).unwrap();
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(res_body["messageId"], sent[0].1.message_id);
    assert_eq!(sent[0].1.scheduled_enqueue_utc, None, "a replay is checked immediately");
}

#[tokio::test]
async fn send_failures_fail_the_invocation() {
    let rec = Arc::new(Recorder { fail: true, ..Default::default() });
    let (status, v) = post(
        app(rec),
        "/MpeEvent",
        event("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", MPE).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(v["Logs"].is_array());
}

#[tokio::test]
async fn repeated_transient_failures_back_off_instead_of_burning_deliveries() {
    // Service Bus redelivers a failed message at once; by the third delivery the handler acknowledges it and
    // schedules the same check 30 s later at least, so an ARM outage does not dead-letter the work.
    let rec = Arc::new(Recorder::default());
    let item =
        json!({"v": 1, "mpeId": MPE, "attempt": 4, "firstSeen": NOW, "correlationId": "c", "origin": "eventGrid"});
    let body = |delivery: &str| {
        json!({"Data": {"message": serde_json::to_string(&item.to_string()).unwrap()},
               "Metadata": {"DeliveryCount": delivery}})
        .to_string()
    };
    let (status, _) = post(app(rec.clone()), "/MpeCheck", body("2")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(rec.sent.lock().unwrap().is_empty());
    let (status, v) = post(app(rec.clone()), "/MpeCheck", body("3")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "mpe-approvals");
    // 30 s at least, on the grid the MPE's parent keeps: within one more interval (2 s).
    let at = sent[0].1.scheduled_enqueue_utc.expect("scheduled");
    let now: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    assert!(at >= now + chrono::Duration::seconds(30) && at < now + chrono::Duration::milliseconds(32_400), "{at}");
    let next: Value = serde_json::from_str(&sent[0].1.body).unwrap();
    assert_eq!(next["attempt"], 5);
}

#[tokio::test]
async fn a_parent_checked_together_goes_on_together_through_a_transient_failure() {
    // One message checks three MPEs of one cluster. ARM is unreachable: the message is not failed (a
    // redelivery would check all three again at once); each check goes on at the parent's next
    // instant, the three in one message again.
    let rec = Arc::new(Recorder::default());
    let member = |name: &str, attempt: u32| {
        json!({"v": 1, "mpeId": MPE.replace("pe-storage", name), "attempt": attempt, "firstSeen": NOW,
               "correlationId": format!("c-{name}"), "origin": "eventGrid"})
    };
    let mut item = member("pe-a", 4);
    item["siblings"] = json!([member("pe-b", 4), member("pe-c", 4)]);
    let body = json!({"Data": {"message": serde_json::to_string(&item.to_string()).unwrap()},
                      "Metadata": {"DeliveryCount": "1"}});
    let (status, v) = post(app(rec.clone()), "/MpeCheck", body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ReturnValue"], json!(["check again", "check again", "check again"]));
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "mpe-approvals");
    let next: Value = serde_json::from_str(&sent[0].1.body).unwrap();
    let names: Vec<&str> = std::iter::once(&next)
        .chain(next["siblings"].as_array().unwrap())
        .map(|m| m["mpeId"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["pe-a", "pe-b", "pe-c"]);
    assert!(next["siblings"].as_array().unwrap().iter().all(|m| m["attempt"] == 5 && m["siblings"].is_null()));
    let at = sent[0].1.scheduled_enqueue_utc.expect("scheduled");
    let now: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    assert!(at > now && at <= now + chrono::Duration::seconds(5), "{at}");
}

#[tokio::test]
async fn transient_failures_past_the_give_up_time_are_parked() {
    let rec = Arc::new(Recorder::default());
    let item = json!({"v": 1, "mpeId": MPE, "attempt": 90, "firstSeen": "2026-11-23T06:00:00Z", "correlationId": "c", "origin": "eventGrid"});
    let body = json!({"Data": {"message": serde_json::to_string(&item.to_string()).unwrap()},
                      "Metadata": {"DeliveryCount": "3"}});
    let (status, _) = post(app(rec.clone()), "/MpeCheck", body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let sent = rec.sent.lock().unwrap();
    assert_eq!(sent[0].0, "mpe-approvals-parked");
    assert!(sent[0].1.properties.iter().any(|(k, v)| k == props::PARK_REASON && v.contains("gave up")));
}

/// Every function folder the host reads has a route here, and the timer's schedule is the setting.
#[tokio::test]
async fn every_function_definition_is_served() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/function-definitions");
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["MpeCheck", "MpeDiscover", "MpeEvent", "MpePlsScan", "MpeReplay", "MpeSweep"]);
    for name in &names {
        let (status, v) = post(app(Arc::new(Recorder::default())), &format!("/{name}"), "{}").await;
        assert_eq!(status, StatusCode::OK, "{name} is routed: {v}");
        assert_ne!(v.get("error").and_then(Value::as_str), Some("no such function"), "{name}");
    }
    let timer: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/MpeSweep/function.json")).unwrap()).unwrap();
    assert_eq!(timer["bindings"][0]["type"], "timerTrigger");
    assert_eq!(timer["bindings"][0]["schedule"], "%MPE_SWEEP_SCHEDULE%");
    let pls: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/MpePlsScan/function.json")).unwrap()).unwrap();
    assert_eq!(pls["bindings"][0]["type"], "timerTrigger");
    assert_eq!(pls["bindings"][0]["schedule"], "%MPE_PLS_SCHEDULE%");
    assert_eq!(pls["bindings"][0]["runOnStartup"], false);
    let discover: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/MpeDiscover/function.json")).unwrap()).unwrap();
    assert_eq!(discover["bindings"][0]["type"], "timerTrigger");
    assert_eq!(discover["bindings"][0]["schedule"], "%MPE_DISCOVER_SCHEDULE%");
    assert_eq!(discover["bindings"][0]["runOnStartup"], false);
}

/// The discovery timer as the host sends it, with no source turned on: it says so at debug level, calls
/// nothing (ARM is a closed port here) and answers 200.
#[tokio::test]
async fn the_discovery_timer_with_no_source_turned_on_does_nothing() {
    let rec = Arc::new(Recorder::default());
    let (status, v) = post(app(rec.clone()), "/MpeDiscover", common::capture("timer-trigger.json")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["Logs"].to_string().contains("nothing to discover"), "{v}");
    assert!(rec.sent.lock().unwrap().is_empty());
}

/// The Private Link Service timer as the host sends it, with nothing watched: it says so, calls nothing
/// (ARM is a closed port here) and answers 200.
#[tokio::test]
async fn the_pls_timer_without_a_watch_says_nothing_is_watched() {
    let rec = Arc::new(Recorder::default());
    let (status, v) = post(app(rec.clone()), "/MpePlsScan", common::capture("timer-trigger.json")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let logs = v["Logs"].to_string();
    assert!(logs.contains("no Private Link Service is watched"), "{logs}");
    assert!(rec.sent.lock().unwrap().is_empty());
}

/// The timer as the host sends it (the recorded envelope): with no scope to sweep it says so, touches
/// nothing (ARM is a closed port here) and answers 200 (a timer is not retried).
#[tokio::test]
async fn the_sweep_timer_without_scopes_says_there_is_nothing_to_sweep() {
    let rec = Arc::new(Recorder::default());
    let (status, v) = post(app(rec.clone()), "/MpeSweep", common::capture("timer-trigger.json")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let logs = v["Logs"].to_string();
    assert!(logs.contains("nothing to sweep"), "{logs}");
    assert!(rec.sent.lock().unwrap().is_empty());
}

/// What a hostile sender puts in every string it controls: a line break, a forged audit line, a
/// terminal escape, a zero-width space.
const HOSTILE: &str = "m-1\nmpe.audit {\"outcome\":\"approved\",\"pecId\":\"forged\"}\u{1b}[2J\u{200b}";

/// Every line is one line that starts with our own text: no raw newline, carriage return or ESC, no line
/// (nor what follows its level) begins with `mpe.audit` unless it is our audit event, and the forged
/// JSON never appears unescaped.
fn assert_safe_lines<'a>(lines: impl IntoIterator<Item = &'a str>) {
    for line in lines {
        assert!(!line.contains(['\n', '\r', '\u{1b}', '\u{200b}']), "a raw control character: {line:?}");
        assert!(!line.contains(r#"mpe.audit {"outcome""#), "a forged audit line, unescaped: {line:?}");
        let after_level = line.split_once(": ").map_or(line, |(_, rest)| rest);
        for start in [line, after_level] {
            if start.starts_with("mpe.audit") {
                let json: Value = serde_json::from_str(start.trim_start_matches("mpe.audit ")).unwrap();
                assert_eq!(json["event"], "mpe.audit", "{line:?}");
            }
        }
    }
}

fn reply_lines(v: &Value) -> Vec<String> {
    v["Logs"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

/// A MessageId and a work item carrying the hostile text: the check parks what it cannot read and its
/// log lines quote the sender's text; the text itself still travels intact in the parked message.
#[tokio::test]
async fn hostile_message_ids_and_work_items_are_quoted_in_the_logs() {
    let item = json!({"v": 1, "mpeId": MPE, "attempt": 0, "firstSeen": NOW, "correlationId": "c", "origin": HOSTILE});
    for data in [json!({}), json!({"message": serde_json::to_string(&item.to_string()).unwrap()})] {
        let rec = Arc::new(Recorder::default());
        let body = json!({"Data": data, "Metadata": {"DeliveryCount": "1", "MessageId": HOSTILE}});
        let (status, v) = post(app(rec.clone()), "/MpeCheck", body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let lines = reply_lines(&v);
        assert_safe_lines(lines.iter().map(String::as_str));
        assert!(lines.iter().any(|l| l.starts_with("ERROR: message \"m-1\\nmpe.audit {\\\"outcome")), "{lines:?}");
        let sent = rec.sent.lock().unwrap();
        assert_eq!(sent[0].0, "mpe-approvals-parked");
        let reason = sent[0].1.properties.iter().find(|(k, _)| k == props::PARK_REASON).unwrap().1.clone();
        assert!(!reason.contains(['\n', '\u{1b}']), "the park reason quotes it too: {reason:?}");
    }
}

/// An Event Grid event whose id, subject and operation name carry the hostile text, and a host header
/// that does: the event is parked or ignored, and every line quotes (or drops) the text.
#[tokio::test]
async fn hostile_event_fields_and_headers_are_quoted_in_the_logs() {
    let op = "Microsoft.StreamAnalytics/clusters/privateEndpoints/write";
    let mut disagree = event(op, MPE);
    disagree["Data"]["event"]["id"] = json!(HOSTILE);
    disagree["Data"]["event"]["subject"] = json!(format!("{MPE}x"));
    let mut subject = event(op, MPE);
    subject["Data"]["event"]["subject"] = json!(HOSTILE);
    subject["Data"]["event"]["data"]["resourceUri"] = Value::Null;
    let mut operation = event(HOSTILE, MPE);
    operation["Data"]["event"]["id"] = json!(HOSTILE);
    let mut topic = event(op, MPE);
    topic["Data"]["event"]["topic"] = json!(HOSTILE);
    topic["Data"]["event"]["eventType"] = json!(HOSTILE);
    for ev in [disagree, subject, operation, topic] {
        let rec = Arc::new(Recorder::default());
        let (status, v) = post(app(rec.clone()), "/MpeEvent", ev.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_safe_lines(reply_lines(&v).iter().map(String::as_str));
        for (_, msg) in rec.sent.lock().unwrap().iter() {
            let reason = msg.properties.iter().find(|(k, _)| k == props::PARK_REASON).map(|(_, v)| v.as_str());
            assert_safe_lines(reason);
        }
    }
    // The host's invocation id header, as a sweep without scopes logs it.
    let req = Request::post("/MpeSweep")
        .header("x-azure-functions-invocationid", "mpe.audit {\"outcome\":\"approved\"}\t")
        .body(Body::from("{}"))
        .unwrap();
    let resp = router(app(Arc::new(Recorder::default()))).oneshot(req).await.unwrap();
    let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    let lines = reply_lines(&v);
    assert_safe_lines(lines.iter().map(String::as_str));
    assert!(lines.iter().all(|l| !l.contains("mpe.audit")), "an unexpected header value is not logged: {lines:?}");
}

/// The handler's own log subscriber format (as `serve` sets it up, through `logsafe::Lines`), with debug
/// on so every reply line is also a tracing event inside the event's span: each written line starts
/// with its level.
#[tokio::test]
async fn tracing_lines_of_a_hostile_event_each_start_with_their_level() {
    let out = Shared::default();
    for json_format in [false, true] {
        let writer = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .without_time()
            .with_writer(move || mpe_approver::logsafe::Lines(writer.clone()));
        let mut ev = event("Microsoft.StreamAnalytics/clusters/privateEndpoints/write", MPE);
        ev["Data"]["event"]["id"] = json!(HOSTILE);
        ev["Data"]["event"]["subject"] = json!(format!("{MPE}x"));
        let subscriber: Box<dyn tracing::Subscriber + Send + Sync> = if json_format {
            Box::new(builder.json().flatten_event(true).finish())
        } else {
            Box::new(builder.finish())
        };
        let _guard = tracing::subscriber::set_default(subscriber);
        post(app(Arc::new(Recorder::default())), "/MpeEvent", ev.to_string()).await;
    }
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("invalid event"), "{text}");
    for line in text.lines() {
        assert!(!line.contains(['\r', '\u{1b}', '\u{200b}']), "{line:?}");
        assert!(!line.contains(r#"mpe.audit {"outcome""#), "{line:?}");
        let level = line.trim_start();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "{"].iter().any(|l| level.starts_with(l)),
            "a line that does not start with its level: {line:?}"
        );
    }
}
