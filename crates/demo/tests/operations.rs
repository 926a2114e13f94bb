//! Operations end to end, on the local simulator: replaying parked and dead-lettered messages (CLI code
//! path and the HTTP `MpeReplay`), failures between the send and the complete, dry runs and `--max`,
//! `replay --scope` over MPEs in every state, and `status`.

mod common;

use azure_sim::MpeSpec;
use common::sim::{approved, is_for, puts, wait_until};
use common::{in_group, services};
use mpe_approver::handler::{self, App};
use mpe_approver::replay::{QueuedReplay, Source};
use mpe_approver::resource_id::{ListScope, ResourceId};
use mpe_approver::servicebus::props;
use mpe_demo::{serve_handler, Harness};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const SCALE: f64 = 50.0;
const WAIT: Duration = Duration::from_secs(20);
const WORK: &str = "mpe-approvals";
const PARKED: &str = "mpe-approvals-parked";
const SUB: &str = "0b5e55ed-0000-4000-8000-00000000ab01";
const TARGET_SUB: &str = "0b5e55ed-0000-4000-8000-00000000ab02";

/// The simulator's queues and clock are shared by the tests of one harness; harnesses are many, so the
/// tests run one at a time to keep simulated time honest on 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(60)
}

/// An MPE of a service that reports its connection, for cases that hold whatever the service.
fn an_mpe(name: &str) -> ResourceId {
    services::mpe(services::any(0), SUB, "rg-ops", name)
}

fn other_storage() -> ResourceId {
    in_group(TARGET_SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stcross")
}

async fn wait_for(what: &str, cond: impl Fn() -> bool, dump: impl Fn() -> String) {
    wait_until(what, WAIT, cond, dump).await
}

/// A cross-subscription MPE, parked `policy-refused` under the default policy.
async fn parked_cross_subscription(h: &Harness, name: &str) -> ResourceId {
    let target = other_storage();
    h.sim.add_target(&target).unwrap();
    let mpe = an_mpe(name);
    h.sim.add_mpe(MpeSpec::new(mpe.clone(), target).timing(Duration::from_secs(1), Duration::from_secs(3))).unwrap();
    let ev = azure_sim::write_success_event(&mpe, h.clock.now());
    assert!(h.host.deliver_event(&ev).await.unwrap().success);
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(
        "the policy refusal to be parked",
        || h.sim.parked().iter().any(|m| is_for(m, &mpe)),
        || format!("{:#?}", h.sim.report().queues),
    )
    .await;
    pump.stop().await;
    let parked = h.sim.parked();
    let code = parked.iter().find(|m| is_for(m, &mpe)).and_then(|m| m.properties.get(props::PARK_CODE)).cloned();
    assert_eq!(code.as_deref(), Some("policy-refused"));
    assert!(!approved(h, &mpe));
    mpe
}

/// A second handler over the same simulator, with the rule that allows the cross-subscription pair.
async fn with_rule(h: &Harness) -> (azure_sim::FunctionsHost, Arc<App>, tokio::task::JoinHandle<()>) {
    let rule = format!("same-subscription,/subscriptions/{SUB}->/subscriptions/{TARGET_SUB}");
    let (url, task, app) = serve_handler(&h.sim, h.clock.clone(), &[("MPE_ALLOW", &rule)]).await.unwrap();
    let host = h.sim.host(&url);
    host.wait_ready(Duration::from_secs(10)).await.unwrap();
    (host, app, task)
}

fn parked_queue(max: u32, dry_run: bool) -> QueuedReplay {
    QueuedReplay { source: Source::Parked, reason: None, max, dry_run }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_refusal_is_approved_after_the_rule_is_added_and_replay_parked_runs() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let mpe = parked_cross_subscription(&h, "pe-cli").await;
    let (host, app, _task) = with_rule(&h).await;

    let filtered = handler::replay_queued(
        &app,
        &QueuedReplay { reason: Some("forbidden".into()), ..parked_queue(10, false) },
        far_deadline(),
        &|_| {},
    )
    .await;
    assert_eq!((filtered.seen, filtered.replayed), (1, 0), "another reason moves nothing: {filtered:?}");
    assert_eq!(h.sim.parked().len(), 1, "and it is unlocked again");

    let r = handler::replay_queued(
        &app,
        &QueuedReplay { reason: Some("policy-refused".into()), ..parked_queue(10, false) },
        far_deadline(),
        &|_| {},
    )
    .await;
    assert_eq!((r.seen, r.replayed, r.failed, r.more), (1, 1, 0, false), "{r:?}");
    assert_eq!(r.rows[0].action, "replayed");
    assert!(h.sim.parked().is_empty(), "the original is completed after the send");
    let sent = h.sim.work_messages();
    let replayed = sent.iter().find(|m| is_for(m, &mpe)).expect("a fresh check was queued");
    assert_eq!(replayed.properties.get("replayof"), Some(&r.rows[0].message_id));
    assert_eq!(replayed.properties.get("originalparkcode").map(String::as_str), Some("policy-refused"));

    let pump = host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for("the replayed check to approve", || approved(&h, &mpe), || format!("{:#?}", h.sim.report())).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);
    assert!(h.sim.report().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_through_mpe_replay_over_http() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let mpe = parked_cross_subscription(&h, "pe-http").await;
    let (host, _app, _task) = with_rule(&h).await;

    let dry = host.invoke_replay(&json!({"source": "parked", "dryRun": true}).to_string(), &[]).await;
    assert_eq!(dry.http.as_ref().map(|r| r.status_code), Some(200), "{dry:?}");
    assert_eq!(h.sim.parked().len(), 1, "a dry run moves nothing");

    let r = host.invoke_replay(&json!({"source": "parked", "reason": "policy-refused"}).to_string(), &[]).await;
    assert_eq!(r.http.as_ref().map(|r| r.status_code), Some(202), "{r:?}");
    let body: Value = serde_json::from_str(r.http.as_ref().map_or("{}", |r| r.body.as_str())).unwrap_or_default();
    assert_eq!(body["replayed"], 1, "{r:?}");
    assert_eq!(body["more"], false);
    assert!(h.sim.parked().is_empty());
    let pump = host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for("the replayed check to approve", || approved(&h, &mpe), || format!("{:#?}", h.sim.report())).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);

    for bad in [json!({"source": "work"}), json!({"source": "parked", "mpeId": mpe.as_str()}), json!({"sourc": 1})] {
        let r = host.invoke_replay(&bad.to_string(), &[]).await;
        assert_eq!(r.http.as_ref().map(|r| r.status_code), Some(400), "{bad}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_send_and_complete_loses_nothing_and_approves_once() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let mpe = parked_cross_subscription(&h, "pe-fail").await;
    let (host, app, _task) = with_rule(&h).await;
    let bus = h.sim.service_bus();

    // The send fails: the original is unlocked and stays.
    bus.fail_sends(WORK, 5).unwrap(); // more than the client's own retries
    let r = handler::replay_queued(&app, &parked_queue(10, false), far_deadline(), &|_| {}).await;
    assert_eq!((r.replayed, r.failed), (0, 1), "{r:?}");
    assert_eq!(h.sim.parked().len(), 1, "the original stays in the parking queue");
    assert!(bus.locked(PARKED).is_empty(), "and is not left locked");
    assert!(!h.sim.work_messages().iter().any(|m| is_for(m, &mpe)));

    // The send succeeds, the complete fails: the original stays (locked until its lock expires).
    bus.fail_completes(PARKED, 1).unwrap();
    let first = handler::replay_queued(&app, &parked_queue(10, false), far_deadline(), &|_| {}).await;
    assert_eq!(first.replayed, 1, "{first:?}");
    assert!(first.rows[0].action.contains("could not be completed"), "{first:?}");
    assert_eq!(h.sim.parked().len(), 1, "the original is still in the parking queue");
    let pump = host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for("the replayed check to approve", || approved(&h, &mpe), || format!("{:#?}", h.sim.report())).await;

    // Once its lock expires the original is visible again; a second replay collapses into the first
    // check by its derived MessageId and completes the original.
    wait_for("the lock to expire", || bus.locked(PARKED).is_empty(), || format!("{:#?}", bus.locked(PARKED))).await;
    let second = handler::replay_queued(&app, &parked_queue(10, false), far_deadline(), &|_| {}).await;
    assert_eq!((second.seen, second.replayed), (1, 1), "{second:?}");
    assert_eq!(second.rows[0].new_message_id, first.rows[0].new_message_id, "the same derived id");
    assert!(h.sim.parked().is_empty(), "completed this time");
    tokio::time::sleep(Duration::from_millis(300)).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1, "approved once");
    assert!(h.sim.report().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_dry_run_lists_moves_nothing_and_honours_max() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let bus = h.sim.service_bus();
    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    for i in 0..3 {
        let id = an_mpe(&format!("pe-dl-{i}"));
        let item = mpe_approver::workitem::WorkItem::new(
            id.clone(),
            h.clock.now(),
            format!("corr-{i}"),
            mpe_approver::workitem::Origin::EventGrid,
        );
        let m = azure_sim::OutgoingMessage {
            message_id: Some(item.message_id()),
            body: item.to_json(),
            properties: [(props::MPE_ID.to_string(), id.to_string())].into_iter().collect(),
            ..Default::default()
        };
        bus.send(WORK, m).unwrap();
    }
    for m in bus.take_due(WORK) {
        bus.dead_letter(WORK, m, "MaxDeliveryCountExceeded", "delivered 10 times");
    }
    assert_eq!(h.sim.dead_letters().len(), 3);

    let dl = QueuedReplay { source: Source::DeadLetter, reason: None, max: 2, dry_run: true };
    let r = handler::replay_queued(&app, &dl, far_deadline(), &|_| {}).await;
    assert_eq!((r.seen, r.replayed, r.more), (2, 0, true), "--max 2 looks at two and says more remain: {r:?}");
    assert!(r.rows.iter().all(|row| row.action == "would replay" && row.mpe_id.is_some()), "{r:?}");
    assert_eq!(r.rows[0].reason.as_deref(), Some("MaxDeliveryCountExceeded"));
    assert_eq!(h.sim.dead_letters().len(), 3, "a dry run moves nothing");
    assert!(bus.locked(&format!("{WORK}/$DeadLetterQueue")).is_empty(), "and leaves nothing locked");
    assert!(h.sim.work_messages().is_empty());

    let all = QueuedReplay { max: 100, dry_run: false, ..dl };
    let r = handler::replay_queued(&app, &all, far_deadline(), &|_| {}).await;
    assert_eq!((r.seen, r.replayed, r.more), (3, 3, false), "{r:?}");
    assert!(h.sim.dead_letters().is_empty());
    assert_eq!(h.sim.work_messages().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_scope_enqueues_exactly_the_unapproved_mpes() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stscope");
    h.sim.add_target(&storage).unwrap();
    let spec = |id: &ResourceId, pec: u64, pending: u64| {
        MpeSpec::new(id.clone(), storage.clone()).timing(Duration::from_secs(pec), Duration::from_secs(pending))
    };
    let creating = an_mpe("pe-creating");
    let pending = an_mpe("pe-pending");
    let approved_one = an_mpe("pe-approved");
    let rejected = an_mpe("pe-rejected");
    // One pending MPE of every type besides.
    let each: Vec<ResourceId> = services::under_scopes()
        .into_iter()
        .enumerate()
        .map(|(i, p)| services::mpe(p, SUB, "rg-ops", &format!("pe-each-{i}")))
        .collect();
    let elsewhere = services::mpe(services::any(0), SUB, "rg-other", "pe-x");
    h.sim.add_mpe(spec(&creating, 3600, 7200)).unwrap();
    for id in [&pending, &approved_one, &rejected, &elsewhere].into_iter().chain(&each) {
        h.sim.add_mpe(spec(id, 1, 2)).unwrap();
    }
    // One is approved through the approver, one rejected by the target's owner.
    assert!(h.host.deliver_event(&azure_sim::write_success_event(&approved_one, h.clock.now())).await.unwrap().success);
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    // Approved at the target, and the MPE itself says so (the service takes a moment to notice).
    wait_for(
        "the first to be approved",
        || h.sim.mpe_phase(&approved_one) == Some(azure_sim::MpePhase::Approved),
        || format!("{:#?}", h.sim.report()),
    )
    .await;
    pump.stop().await;
    h.sim.reject_pec(&rejected).unwrap();
    // Drop what is left in the work queue, so that only the sweep's messages remain.
    let bus = h.sim.service_bus();
    let _ = bus.take_due(WORK);
    assert!(h.sim.work_messages().is_empty(), "{:#?}", h.sim.work_messages());

    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    let scope = ListScope::parse(&format!("/subscriptions/{SUB}/resourceGroups/rg-ops")).unwrap();
    let dry = handler::sweep(&app, std::slice::from_ref(&scope), 500, true, far_deadline(), &|_, _| {}).await;
    assert!(dry.incomplete.is_empty(), "{dry:#?}");
    assert!(h.sim.work_messages().is_empty(), "a dry run queues nothing");

    // The progress callback hears each MPE found once, with the run so far.
    let heard = std::sync::Mutex::new(Vec::<(String, usize, u32)>::new());
    let progress = |f: &handler::Found, run: &handler::Sweep| {
        heard.lock().unwrap().push((f.mpe_id.clone(), run.found.len(), run.enqueued));
    };
    let r = handler::sweep(&app, std::slice::from_ref(&scope), 500, false, far_deadline(), &progress).await;
    let heard = heard.into_inner().unwrap();
    let mut heard_ids: Vec<&str> = heard.iter().map(|(id, ..)| id.as_str()).collect();
    heard_ids.sort_by_key(|s| s.to_ascii_lowercase());
    let found_ids: Vec<&str> = r.found.iter().map(|f| f.mpe_id.as_str()).collect();
    assert_eq!(heard_ids, found_ids, "once per MPE found: {heard:#?}");
    let counts: Vec<usize> = heard.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(counts, (1..=r.found.len()).collect::<Vec<_>>(), "the run so far, one more each time");
    assert_eq!(heard.last().map(|(.., q)| *q), Some(r.enqueued), "the queued count so far ends at the run's");
    let queued: Vec<&str> = r.found.iter().filter(|f| f.enqueue).map(|f| f.mpe_id.as_str()).collect();
    let mut expected: Vec<&str> = [&creating, &pending].into_iter().chain(&each).map(ResourceId::as_str).collect();
    expected.sort_by_key(|s| s.to_ascii_lowercase());
    assert_eq!(queued, expected, "{r:#?}");
    let want = expected.len();
    assert_eq!(r.found.len(), want + 2, "the resource group's MPEs, not the one in rg-other: {r:#?}");
    assert_eq!(r.enqueued as usize, want);
    let work = h.sim.work_messages();
    assert_eq!(work.len(), want, "{work:#?}");
    for id in [&approved_one, &rejected, &elsewhere] {
        assert!(!work.iter().any(|m| is_for(m, id)), "{id} must not be queued");
    }
    // The same sweep again queues checks of its own: their ids come from a random chain key, so no sender
    // to the queue can claim them first (and a check of an MPE twice is harmless).
    let again = handler::sweep(&app, std::slice::from_ref(&scope), 500, false, far_deadline(), &|_, _| {}).await;
    assert_eq!(again.enqueued as usize, want);
    let work = h.sim.work_messages();
    assert_eq!(work.len(), 2 * want, "{work:#?}");
    let ids: std::collections::HashSet<&str> = work.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), 2 * want, "every sweep check has an id of its own");

    // A call limit stops the run and says what it did not reach.
    let limited = handler::sweep(&app, std::slice::from_ref(&scope), 2, true, far_deadline(), &|_, _| {}).await;
    assert!(limited.arm_calls <= 2 && !limited.incomplete.is_empty(), "{limited:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_depths_and_parked_by_reason() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let _mpe = parked_cross_subscription(&h, "pe-status").await;
    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    let st = handler::status(&app, 50, far_deadline()).await;
    assert!(st.errors.is_empty(), "{st:#?}");
    let parked = st.queues.iter().find(|q| q.queue == PARKED).expect("the parking queue's depth");
    assert_eq!(parked.active, 1, "{st:#?}");
    assert_eq!(st.parked_by_reason.get("policy-refused"), Some(&1), "{st:#?}");
    assert_eq!(h.sim.parked().len(), 1, "status moves nothing");
    assert!(st.render().contains("policy-refused"));
}

/// Service Bus refusing sends (503, more often than the client's own retries): the event invocation
/// fails, so Event Grid delivers it again, and once the queue takes messages again the MPE is approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_queue_refusing_sends_fails_the_event_and_its_retry_approves() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stsend");
    h.sim.add_target(&storage).unwrap();
    let mpe = an_mpe("pe-send");
    h.sim.add_mpe(MpeSpec::new(mpe.clone(), storage).timing(Duration::from_secs(1), Duration::from_secs(3))).unwrap();
    let bus = h.sim.service_bus();
    bus.fail_sends(WORK, 100).unwrap();
    let ev = azure_sim::write_success_event(&mpe, h.clock.now());
    let first = h.host.deliver_event(&ev).await.unwrap();
    assert!(!first.success, "a send that cannot be made fails the event for Event Grid's retry: {first:?}");
    assert!(h.sim.work_messages().is_empty() && h.sim.parked().is_empty(), "nothing half-done");
    bus.fail_sends(WORK, 0).unwrap();
    let retry = h.host.deliver_event(&ev).await.unwrap();
    assert!(retry.success, "{retry:?}");
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for("approval after the queue recovered", || approved(&h, &mpe), || format!("{:#?}", h.sim.report())).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);
    assert!(h.sim.report().violations.is_empty());
}

/// `MpeReplay` whose replacements were all refused by the work queue answers 503 (the parked message
/// stays); the scope form likewise when none of its checks could be queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_whose_replacements_all_failed_answers_503() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let _mpe = parked_cross_subscription(&h, "pe-503").await;
    let bus = h.sim.service_bus();
    bus.fail_sends(WORK, 1000).unwrap();
    let status_and_body = |r: &azure_sim::InvocationResult| {
        let http = r.http.as_ref();
        let body: Value = serde_json::from_str(http.map_or("{}", |h| h.body.as_str())).unwrap_or_default();
        (http.map(|h| h.status_code), body)
    };
    let r = h.host.invoke_replay(&json!({"source": "parked"}).to_string(), &[]).await;
    let (status, body) = status_and_body(&r);
    assert_eq!(status, Some(503), "{r:?}");
    assert_eq!((body["replayed"].as_u64(), body["failed"].as_u64()), (Some(0), Some(1)), "{body}");
    assert_eq!(h.sim.parked().len(), 1, "the original stays");

    let scope = format!("/subscriptions/{SUB}/resourceGroups/rg-ops");
    let r = h.host.invoke_replay(&json!({"scope": scope}).to_string(), &[]).await;
    let (status, body) = status_and_body(&r);
    assert_eq!(status, Some(503), "{r:?}");
    assert_eq!((body["enqueued"].as_u64(), body["failed"].as_u64()), (Some(0), Some(1)), "{body}");
    bus.fail_sends(WORK, 0).unwrap();
    let r = h.host.invoke_replay(&json!({"source": "parked"}).to_string(), &[]).await;
    assert_eq!(status_and_body(&r).0, Some(202), "{r:?}");
}

/// Outside `MPE_SOURCE_SUBSCRIPTIONS`: `MpeReplay` answers 403 to the scope form and to an id before any
/// ARM call, queueing nothing. The CLI's `replay <id>` and `replay --scope` refuse the same with the
/// function's words: `tests/e2e_binary.rs`
/// `cli_refuses_replays_outside_the_watched_subscriptions_and_queues_a_watched_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_outside_the_watched_subscriptions_are_refused_by_the_id_and_the_scope_form() {
    let _serial = SERIAL.lock().await;
    let watched = [("MPE_SOURCE_SUBSCRIPTIONS", SUB)];
    let h = Harness::start(SCALE, &watched).await.unwrap();
    let outside = services::mpe(services::any(0), TARGET_SUB, "rg-x", "pe-x");
    let calls = h.sim.report().arm_calls_total;

    let r = h.host.invoke_replay(&json!({"scope": format!("/subscriptions/{TARGET_SUB}")}).to_string(), &[]).await;
    assert_eq!(r.http.as_ref().map(|r| r.status_code), Some(403), "{r:?}");
    let r = h.host.invoke_replay(&json!({"mpeId": outside.as_str()}).to_string(), &[]).await;
    assert_eq!(r.http.as_ref().map(|r| r.status_code), Some(403), "{r:?}");

    assert_eq!(h.sim.report().arm_calls_total, calls, "nothing was listed");
    assert!(h.sim.work_messages().is_empty(), "nothing was queued: {:#?}", h.sim.work_messages());
}

/// A parked message whose body is over the 1 MiB receive cap, at the head of the parking queue: every
/// scan lists it as a row (skipped, too large), counts it, leaves it in place and unlocked, and goes on
/// to replay what is behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_to_receive_is_skipped_and_the_scan_goes_on_behind_it() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let bus = h.sim.service_bus();
    let big_for = an_mpe("pe-big");
    let big = azure_sim::OutgoingMessage {
        message_id: Some("big-1".into()),
        body: format!("{{\"junk\":\"{}\"}}", "x".repeat(mpe_approver::servicebus::MAX_RECEIVED_BODY + 1024)),
        properties: [
            (props::MPE_ID.to_string(), big_for.to_string()),
            (props::PARK_CODE.to_string(), "invalid-input".to_string()),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    bus.send(PARKED, big).unwrap();
    let mpe = parked_cross_subscription(&h, "pe-behind").await;
    let (host, app, _task) = with_rule(&h).await;

    for dry_run in [true, false] {
        let r = handler::replay_queued(&app, &parked_queue(10, dry_run), far_deadline(), &|_| {}).await;
        assert_eq!((r.seen, r.too_large, r.stopped.as_deref()), (2, 1, None), "{r:#?}");
        assert_eq!(r.replayed, u32::from(!dry_run), "{r:#?}");
        let row = &r.rows[0];
        assert_eq!(row.message_id, "big-1");
        assert!(row.action.starts_with("skipped: its body is over the 1024 KiB receive cap"), "{row:?}");
        assert_eq!((row.mpe_id.as_deref(), row.new_message_id.as_deref()), (Some(big_for.as_str()), None));
        assert_eq!(r.rows[1].action, if dry_run { "would replay" } else { "replayed" }, "{r:#?}");
        assert!(bus.locked(PARKED).is_empty(), "nothing is left locked");
    }
    let parked = h.sim.parked();
    assert_eq!(parked.len(), 1, "the large one stays in place");
    assert_eq!(parked[0].message_id, "big-1");
    let pump = host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for("the one behind it to be approved", || approved(&h, &mpe), || format!("{:#?}", h.sim.report())).await;
    pump.stop().await;

    let r = host.invoke_replay(&json!({"source": "parked"}).to_string(), &[]).await;
    let body: Value = serde_json::from_str(r.http.as_ref().map_or("{}", |r| r.body.as_str())).unwrap_or_default();
    assert_eq!((body["tooLarge"].as_u64(), body["seen"].as_u64()), (Some(1), Some(1)), "{r:?}");
}

/// Read-only scans count deliveries (Service Bus REST has no browse): with the parking queue's
/// maxDeliveryCount at 2, two dry runs move a parked item into the parking queue's own dead-letter
/// queue. `status` counts it there, `replay --parked` no longer sees it, and the `parkedDeadLetter`
/// source replays it to approval. The CLI's `--parked-dead-letter` takes the same source:
/// `tests/e2e_binary.rs` `cli_takes_the_parking_dead_letter_queue_as_a_source`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_items_dead_lettered_by_scans_are_counted_and_replayed_from_the_parking_dead_letter_queue() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let bus = h.sim.service_bus();
    bus.set_max_delivery_count(PARKED, 2).unwrap();
    let mpe = parked_cross_subscription(&h, "pe-scanned").await;
    let (host, app, _task) = with_rule(&h).await;
    for _ in 0..2 {
        let r = handler::replay_queued(&app, &parked_queue(10, true), far_deadline(), &|_| {}).await;
        assert_eq!((r.seen, r.replayed), (1, 0), "{r:#?}");
    }
    assert!(h.sim.parked().is_empty(), "the second scan used up its deliveries");
    assert_eq!(bus.dead_letters(PARKED).len(), 1, "it is in the parking queue's dead-letter queue");

    let st = handler::status(&app, 50, far_deadline()).await;
    assert_eq!(st.parked_dead_lettered_by_reason.get("policy-refused"), Some(&1), "{st:#?}");
    assert!(st.parked_by_reason.is_empty(), "{st:#?}");
    assert!(st.render().contains("--parked-dead-letter"), "{}", st.render());

    let none = handler::replay_queued(&app, &parked_queue(10, false), far_deadline(), &|_| {}).await;
    assert_eq!(none.seen, 0, "{none:#?}");
    let dry = host.invoke_replay(&json!({"source": "parkedDeadLetter", "dryRun": true}).to_string(), &[]).await;
    assert_eq!(dry.http.as_ref().map(|r| r.status_code), Some(200), "{dry:?}");
    let r =
        host.invoke_replay(&json!({"source": "parkedDeadLetter", "reason": "policy-refused"}).to_string(), &[]).await;
    assert_eq!(r.http.as_ref().map(|r| r.status_code), Some(202), "{r:?}");
    let body: Value = serde_json::from_str(r.http.as_ref().map_or("{}", |r| r.body.as_str())).unwrap_or_default();
    assert_eq!((body["source"].as_str(), body["replayed"].as_u64()), (Some("parkedDeadLetter"), Some(1)), "{body}");
    assert_eq!(body["queue"].as_str(), Some(format!("{PARKED}/$DeadLetterQueue").as_str()));
    assert!(bus.dead_letters(PARKED).is_empty(), "completed after the send");
    let pump = host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for("the replayed check to approve", || approved(&h, &mpe), || format!("{:#?}", h.sim.report())).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);
}
