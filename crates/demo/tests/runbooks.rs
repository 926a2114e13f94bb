//! The park-code table (docs/operations.md), done: for every `parkcode` whose row says what to do, a test parks a
//! check on the local simulator for that reason, does exactly what the row says, replays the parked
//! message through the code the CLI (`handler::replay_queued`) or `MpeReplay` runs, and sees the
//! replayed check end `approved` or `already-approved`, the MPE's PEC Approved at the target and no
//! other PEC approved.
//!
//! | `parkcode` | runbook test |
//! |---|---|
//! | `ambiguous` | [`ambiguous_the_strangers_connection_deleted_then_replayed_is_approved`] |
//! | `evidence-mismatch` | [`evidence_mismatch_approved_by_hand_then_replayed_ends_already_approved`], [`evidence_mismatch_for_fabric_the_rule_set_by_the_operator_then_replayed_is_approved`] |
//! | `policy-refused` | `operations.rs`: `a_policy_refusal_is_approved_after_the_rule_is_added_and_replay_parked_runs`, `the_same_through_mpe_replay_over_http` |
//! | `paging-limit` | [`paging_limit_approved_by_hand_then_replayed_ends_already_approved`] |
//! | `arm-refused` | [`arm_refused_fixed_then_replayed_is_approved`] |
//! | `forbidden` | `token_refusals.rs`: `arm_refusing_every_token_parks_forbidden_after_one_fresh_token_and_a_replay_approves_once_fixed` |
//! | `gave-up` | [`gave_up_replayed_once_the_mpe_is_ready_is_approved`] |
//! | `source-not-allowed` | [`source_not_allowed_the_subscription_added_then_replayed_is_approved`] |
//! | `target-not-allowed` | [`target_not_allowed_the_subscription_added_then_replayed_is_approved`] |
//! | `queue-refused` | `token_refusals.rs`: `a_work_queue_refusing_the_next_check_parks_it_queue_refused_and_a_replay_resumes_the_chain` |
//! | `not-new` | [`not_new_verified_and_approved_by_hand_then_replayed_ends_already_approved`], [`not_new_after_a_rejected_approval_the_mpe_created_again_then_replayed_is_approved`] |
//! | `no-matching-pec` | [`no_matching_pec_the_rule_set_by_the_operator_then_replayed_is_approved`] |
//! | `unsupported-mpe-type` | none: the build does not know the type; no setting or action at Azure makes it approvable |
//! | `unsupported-target-type` | none: the build has no PEC reader for the target type; approve by hand outside the approver |
//! | `target-missing` | none: the target is gone, so there is no connection to approve |
//! | `unreadable-response` | none: Azure's body is what must change; the action is a report, not a replay |
//! | `invalid-input` | none: the message names no MPE it may act on; replay the MPE by id if there is one |
//!
//! [`every_park_code_has_a_readme_row_and_a_runbook_here`] fails when a code has no row in docs/operations.md or no
//! line in this table.

mod common;

use azure_sim::state::PecOwner;
use azure_sim::{FunctionsHost, MpeSpec, PecSnapshot, PecStatus, SimOptions};
use common::sim::wait_until;
use common::{in_group, services};
use mpe_approver::decision::ParkCode;
use mpe_approver::handler::{self, App};
use mpe_approver::replay::{QueuedReplay, Source};
use mpe_approver::resource_id::ResourceId;
use mpe_demo::{serve_handler, Harness};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCALE: f64 = 50.0;
const WAIT: Duration = Duration::from_secs(30);
const WORK: &str = "mpe-approvals";
const SUB: &str = "0b5e55ed-0000-4000-8000-0000000ab0c1";
const TARGET_SUB: &str = "0b5e55ed-0000-4000-8000-0000000ab0c2";
/// A subscription nobody configured: a stranger's, in another tenant.
const STRANGER_SUB: &str = "0b5e55ed-0000-4000-8000-0000000ab0ff";
/// Who approves by hand at the target.
const OWNER: &str = "target-owner@contoso.com";

/// One harness at a time: simulated time stays honest on 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An MPE of a service that reports its connection, for runbooks that hold whatever the service.
fn an_mpe(sub: &str, name: &str) -> ResourceId {
    services::mpe(services::any(0), sub, "rg-rb", name)
}

fn storage(sub: &str, name: &str) -> ResourceId {
    in_group(sub, &format!("rg-data/providers/Microsoft.Storage/storageAccounts/st{name}"))
}

/// An MPE to `target`, its PEC at the target after 1 s and the MPE pending after `pending` (simulated).
/// Returns the name its PEC has at the target.
fn add_mpe(h: &Harness, mpe: &ResourceId, target: &ResourceId, pending: Duration) -> String {
    h.sim.add_target(target).unwrap();
    h.sim.add_mpe(MpeSpec::new(mpe, target).timing(Duration::from_secs(1), pending)).unwrap()
}

/// The MPE's write event, delivered to `MpeEvent`: the first check is queued.
async fn announce(h: &Harness, mpe: &ResourceId) {
    let ev = h.host.deliver_event(&azure_sim::write_success_event(mpe, h.clock.now())).await.unwrap();
    assert!(ev.success, "{ev:?}");
}

/// The `mpe.audit` events about `mpe` in an invocation's log lines.
fn audits(logs: &[String], mpe: &ResourceId) -> Vec<Value> {
    logs.iter()
        .filter_map(|l| l.split_once("mpe.audit ").and_then(|(_, j)| serde_json::from_str::<Value>(j).ok()))
        .filter(|v| v["mpeId"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(mpe.as_str())))
        .collect()
}

/// Deliver the work queue's due messages to `host` (the Functions host settles each as Service Bus
/// does) until a check of `mpe` ends its chain: its audit event, whose outcome is not `check-again`.
async fn chain_end(h: &Harness, host: &FunctionsHost, mpe: &ResourceId) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        for r in host.drain_once(WORK).await.unwrap() {
            if let Some(end) = audits(&r.logs, mpe).into_iter().find(|a| a["outcome"] != "check-again") {
                return end;
            }
        }
        assert!(Instant::now() < until, "no end of {mpe}'s chain within {WAIT:?}\n{:#?}", h.sim.report());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until the simulated service reports the MPE in `phase`.
async fn until_phase(h: &Harness, mpe: &ResourceId, phase: azure_sim::MpePhase) {
    let what = format!("{mpe} to be {phase:?}");
    wait_until(&what, WAIT, || h.sim.mpe_phase(mpe) == Some(phase), || format!("{:#?}", h.sim.report())).await
}

/// The chain ended parked with `code`.
fn assert_parked(end: &Value, code: &str) {
    assert_eq!((end["outcome"].as_str(), end["parkCode"].as_str()), (Some("parked"), Some(code)), "{end:#}");
}

fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(60)
}

/// The operator's `mpe-approver replay --source parked --reason <code>`: the CLI's code, with `app`'s
/// settings. Exactly one parked message is replayed.
async fn replay_cli(app: &Arc<App>, code: &str) {
    let req = QueuedReplay { source: Source::Parked, reason: Some(code.into()), max: 10, dry_run: false };
    let r = handler::replay_queued(app, &req, far_deadline(), &|_| {}).await;
    assert_eq!((r.replayed, r.failed), (1, 0), "{r:#?}");
}

/// The same through `MpeReplay`: `POST /api/replay {"source": "parked", "reason": <code>}`.
async fn replay_http(host: &FunctionsHost, code: &str) {
    let r = host.invoke_replay(&json!({"source": "parked", "reason": code}).to_string(), &[]).await;
    assert_eq!(r.http.as_ref().map(|r| r.status_code), Some(202), "{r:?}");
    let body: Value = serde_json::from_str(r.http.as_ref().map_or("{}", |r| r.body.as_str())).unwrap_or_default();
    assert_eq!((body["replayed"].as_u64(), body["failed"].as_u64()), (Some(1), Some(0)), "{body:#}");
}

/// A second handler over the same simulator with `settings` (the deployment's settings after the
/// operator's change): its Functions host and its `App`.
async fn redeployed(h: &Harness, settings: &[(&str, &str)]) -> (FunctionsHost, Arc<App>, tokio::task::JoinHandle<()>) {
    let (url, task, app) = serve_handler(&h.sim, h.clock.clone(), settings).await.unwrap();
    let host = h.sim.host(&url);
    host.wait_ready(Duration::from_secs(10)).await.unwrap();
    (host, app, task)
}

/// The CLI's `App`, with the deployment's settings plus `settings` (what `mpe-approver` reads from its
/// environment).
async fn cli(h: &Harness, settings: &[(&str, &str)]) -> Arc<App> {
    serve_handler(&h.sim, h.clock.clone(), settings).await.unwrap().2
}

fn pec_at(h: &Harness, target: &ResourceId, name: &str) -> PecSnapshot {
    h.sim
        .pecs(target)
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("no PEC {name} at {target}"))
}

/// The chain ended `outcome` (`approved` or `already-approved`); the MPE's PEC `pec` is Approved at the
/// target, and nothing else there was approved (no stranger's, no twin's).
fn assert_ends(h: &Harness, end: &Value, outcome: &str, target: &ResourceId, pec: &str) {
    assert_eq!(end["outcome"].as_str(), Some(outcome), "{end:#}");
    let ours = pec_at(h, target, pec);
    assert!(matches!(ours.owner, PecOwner::Mpe(_)), "{ours:?}");
    assert_eq!(ours.status, PecStatus::Approved, "{ours:?}");
    if outcome == "approved" {
        let id = end["pecId"].as_str().unwrap_or_default();
        assert!(id.to_ascii_lowercase().ends_with(&format!("/{}", pec.to_ascii_lowercase())), "{end:#}");
    }
    for p in h.sim.pecs(target) {
        if !p.name.eq_ignore_ascii_case(pec) {
            assert_ne!(p.status, PecStatus::Approved, "only the MPE's PEC is approved: {p:?}");
        }
    }
    let r = h.sim.report();
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
}

/// The PEC a stranger put beside the MPE's: a private endpoint of the MPE's name and group, from a
/// subscription nobody configured, asking with the MPE's own request message.
fn add_stranger_twin(h: &Harness, mpe: &ResourceId) -> String {
    h.sim.add_twin_in(mpe, STRANGER_SUB, None).unwrap()
}

/// For every provider: a stranger's PEC beside the MPE's parks `ambiguous`; the runbook deletes the
/// stranger's connection at the target and replays. Where only the target shows the MPE's connection,
/// rejecting the stranger is not enough: a Rejected PEC beside a pending one could be ours, rejected by a
/// human, so the check parks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_the_strangers_connection_deleted_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    for (i, p) in services::managed().into_iter().enumerate() {
        let h = Harness::start(SCALE, &[]).await.unwrap();
        let (mpe, target) = (services::mpe(p, SUB, "rg-rb", "pe-amb"), storage(SUB, &format!("amb{i}")));
        let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
        let stranger = add_stranger_twin(&h, &mpe);
        announce(&h, &mpe).await;
        assert_parked(&chain_end(&h, &h.host, &mpe).await, "ambiguous");

        if !p.reports_connection() {
            h.sim.reject_connection(&target, &stranger, None).unwrap();
            replay_cli(&cli(&h, &[]).await, "ambiguous").await;
            assert_parked(&chain_end(&h, &h.host, &mpe).await, "ambiguous");
        }

        // The runbook: delete the stranger's connection at the target, then replay.
        h.sim.remove_connection(&target, &stranger).unwrap();
        replay_http(&h.host, "ambiguous").await;
        let end = chain_end(&h, &h.host, &mpe).await;
        assert_ends(&h, &end, "approved", &target, &ours);
        assert!(h.sim.parked().is_empty(), "{}", p.service());
    }
}

/// An MPE whose connection only the target shows, and whose lone candidate does not carry the MPE's request
/// message: here the MPE's owner changed the message after the connection was requested. The operator
/// finds the private endpoint is the MPE's (Microsoft's managed subscription, the MPE's name, the message
/// it was first created with), approves it by hand, and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_mismatch_approved_by_hand_then_replayed_ends_already_approved() {
    let _serial = SERIAL.lock().await;
    for (i, p) in services::asking_the_target().into_iter().enumerate() {
        let h = Harness::start(SCALE, &[]).await.unwrap();
        let (mpe, target) = (services::mpe(p, SUB, "rg-rb", "pe-msg"), storage(SUB, &format!("msg{i}")));
        let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
        h.sim.set_request_message(&mpe, "Platform team, ticket 4711").unwrap();
        announce(&h, &mpe).await;
        assert_parked(&chain_end(&h, &h.host, &mpe).await, "evidence-mismatch");
        assert_eq!(pec_at(&h, &target, &ours).status, PecStatus::Pending, "nothing approved");

        h.sim.approve_connection(&target, &ours, OWNER, "Approved by hand: the MPE's endpoint").unwrap();
        replay_http(&h.host, "evidence-mismatch").await;
        let end = chain_end(&h, &h.host, &mpe).await;
        assert_ends(&h, &end, "already-approved", &target, &ours);
    }
}

/// An MPE whose connection only the target shows, created longer than `MPE_GIVE_UP_AFTER` ago (3 h; 2 h
/// by default: it existed before the approver watched): its pending PEC is not approved automatically.
/// The operator verifies it is the MPE's, approves it by hand, and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_new_verified_and_approved_by_hand_then_replayed_ends_already_approved() {
    let _serial = SERIAL.lock().await;
    for (i, p) in services::asking_the_target().into_iter().enumerate() {
        let h = Harness::start(SCALE, &[]).await.unwrap();
        let (mpe, target) = (services::mpe(p, SUB, "rg-rb", "pe-old"), storage(SUB, &format!("old{i}")));
        h.sim.add_target(&target).unwrap();
        let ours = h
            .sim
            .add_mpe(
                MpeSpec::new(&mpe, &target)
                    .timing(Duration::from_secs(5), Duration::from_secs(10))
                    .created_ago(Duration::from_secs(3 * 3600)),
            )
            .unwrap();
        announce(&h, &mpe).await;
        let end = chain_end(&h, &h.host, &mpe).await;
        assert_parked(&end, "not-new");
        assert_eq!(pec_at(&h, &target, &ours).status, PecStatus::Pending, "nothing approved");

        h.sim.approve_connection(&target, &ours, OWNER, "Approved by hand: verified").unwrap();
        replay_cli(&cli(&h, &[]).await, "not-new").await;
        let end = chain_end(&h, &h.host, &mpe).await;
        assert_ends(&h, &end, "already-approved", &target, &ours);
    }
}

/// An MPE whose connection only the target shows, whose approved connection the target's owner rejected
/// (keeping its description, our marker), with a stranger's PEC of its name pending beside it: one
/// approval per MPE, so it parks. The operator deletes the stranger's connection, creates the MPE again
/// (a new `systemData.createdAt`, a new connection) and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_new_after_a_rejected_approval_the_mpe_created_again_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    for (i, p) in services::asking_the_target().into_iter().enumerate() {
        let h = Harness::start(SCALE, &[]).await.unwrap();
        let (mpe, target) = (services::mpe(p, SUB, "rg-rb", "pe-again"), storage(SUB, &format!("again{i}")));
        let first = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
        announce(&h, &mpe).await;
        assert_ends(&h, &chain_end(&h, &h.host, &mpe).await, "approved", &target, &first);

        // Rejected by a script that PUTs the PEC back with only its status changed: the description, with
        // our marker, stays.
        let kept = pec_at(&h, &target, &first).description;
        h.sim.reject_connection(&target, &first, Some(&kept)).unwrap();
        let stranger = add_stranger_twin(&h, &mpe);
        announce(&h, &mpe).await;
        let end = chain_end(&h, &h.host, &mpe).await;
        assert_parked(&end, "not-new");
        assert_eq!(pec_at(&h, &target, &stranger).status, PecStatus::Pending, "the stranger is not approved");

        h.sim.remove_connection(&target, &stranger).unwrap();
        h.sim.delete_mpe(&mpe).unwrap();
        let again = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
        // The new MPE's own write event would start a check too; here the replay does.
        until_phase(&h, &mpe, azure_sim::MpePhase::AwaitingApproval).await;
        replay_http(&h.host, "not-new").await;
        let end = chain_end(&h, &h.host, &mpe).await;
        assert_ends(&h, &end, "approved", &target, &again);
        assert_eq!(pec_at(&h, &target, &first).status, PecStatus::Disconnected, "the first MPE's connection");
    }
}

/// The MPE did not reach a decidable state within `MPE_GIVE_UP_AFTER` (here 30 s; the service took 90 s).
/// Once it is ready, a replay starts a fresh chain that approves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gave_up_replayed_once_the_mpe_is_ready_is_approved() {
    let _serial = SERIAL.lock().await;
    let settings = [("MPE_GIVE_UP_AFTER", "30s"), ("MPE_CHECK_SCHEDULE", "5s")];
    let h = Harness::start(SCALE, &settings).await.unwrap();
    let (mpe, target) = (an_mpe(SUB, "pe-slow"), storage(SUB, "slow"));
    let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(90));
    announce(&h, &mpe).await;
    assert_parked(&chain_end(&h, &h.host, &mpe).await, "gave-up");

    until_phase(&h, &mpe, azure_sim::MpePhase::AwaitingApproval).await;
    replay_cli(&cli(&h, &settings).await, "gave-up").await;
    let end = chain_end(&h, &h.host, &mpe).await;
    assert_ends(&h, &end, "approved", &target, &ours);
}

/// The approving PUT answered 400 (parked with ARM's code and message); once the cause is fixed (the
/// target takes the PUT again), a replay approves, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_refused_fixed_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let (mpe, target) = (an_mpe(SUB, "pe-400"), storage(SUB, "refuses"));
    let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
    h.sim.refuse_pec_puts(1, 400, "InvalidRequestFormat", "The storage account is being migrated; try again later.");
    announce(&h, &mpe).await;
    let end = chain_end(&h, &h.host, &mpe).await;
    assert_parked(&end, "arm-refused");
    assert!(end["reason"].as_str().is_some_and(|r| r.contains("InvalidRequestFormat")), "ARM's code: {end:#}");

    replay_http(&h.host, "arm-refused").await;
    let end = chain_end(&h, &h.host, &mpe).await;
    assert_ends(&h, &end, "approved", &target, &ours);
    assert_eq!(h.sim.report().mpe(mpe.as_str()).map(|m| m.approve_puts), Some(1), "one PUT reached the PEC");
}

/// More than 20 pages of PECs at the target (one PEC a page, 22 PECs): the check never decides on part
/// of a list. The operator approves the MPE's PEC by hand; the replay reads the MPE, which reports its
/// connection approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_limit_approved_by_hand_then_replayed_ends_already_approved() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start_with(SCALE, &[], SimOptions { pec_page_size: Some(1), ..Default::default() }).await.unwrap();
    let (mpe, target) = (an_mpe(SUB, "pe-pages"), storage(SUB, "pages"));
    h.sim.add_target(&target).unwrap();
    for i in 0..21 {
        h.sim.add_stranger(&target, &format!("someone-{i}")).unwrap();
    }
    let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
    announce(&h, &mpe).await;
    assert_parked(&chain_end(&h, &h.host, &mpe).await, "paging-limit");

    h.sim.approve_connection(&target, &ours, OWNER, "Approved by hand").unwrap();
    until_phase(&h, &mpe, azure_sim::MpePhase::Approved).await;
    replay_cli(&cli(&h, &[]).await, "paging-limit").await;
    let end = chain_end(&h, &h.host, &mpe).await;
    assert_ends(&h, &end, "already-approved", &target, &ours);
}

/// A check queued while the MPE's subscription was watched is parked once the deployment no longer
/// watches it. The operator adds the subscription to `MPE_SOURCE_SUBSCRIPTIONS` again and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_not_allowed_the_subscription_added_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let (mpe, target) = (an_mpe(TARGET_SUB, "pe-src"), storage(TARGET_SUB, "src"));
    let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
    announce(&h, &mpe).await;
    let (narrow, _, _task) = redeployed(&h, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB)]).await;
    let end = chain_end(&h, &narrow, &mpe).await;
    assert_parked(&end, "source-not-allowed");

    let both = format!("{SUB},{TARGET_SUB}");
    let (fixed, _, _task) = redeployed(&h, &[("MPE_SOURCE_SUBSCRIPTIONS", &both)]).await;
    replay_http(&fixed, "source-not-allowed").await;
    let end = chain_end(&h, &fixed, &mpe).await;
    assert_ends(&h, &end, "approved", &target, &ours);
}

/// The target's subscription is outside `MPE_TARGET_SUBSCRIPTIONS` (a rule of `MPE_ALLOW` already allows
/// the pair). The operator adds it to the setting and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_not_allowed_the_subscription_added_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    let rule = format!("same-subscription,/subscriptions/{SUB}->/subscriptions/{TARGET_SUB}");
    let h = Harness::start(SCALE, &[("MPE_ALLOW", &rule), ("MPE_TARGET_SUBSCRIPTIONS", SUB)]).await.unwrap();
    let (mpe, target) = (an_mpe(SUB, "pe-tgt"), storage(TARGET_SUB, "tgt"));
    let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
    announce(&h, &mpe).await;
    assert_parked(&chain_end(&h, &h.host, &mpe).await, "target-not-allowed");

    let both = format!("{SUB},{TARGET_SUB}");
    let fixed = [("MPE_ALLOW", rule.as_str()), ("MPE_TARGET_SUBSCRIPTIONS", both.as_str())];
    let (host, app, _task) = redeployed(&h, &fixed).await;
    replay_cli(&app, "target-not-allowed").await;
    let end = chain_end(&h, &host, &mpe).await;
    assert_ends(&h, &end, "approved", &target, &ours);
}

/// The service names the MPE's private endpoint otherwise than its provider's rule says (it renamed its
/// endpoints): the MPE reports its connection pending, the only pending PEC at the target comes from
/// another name, and the chain parks `no-matching-pec` naming it. The operator checks that it is the
/// MPE's, sets `MPE_ENDPOINT_NAMES` for the service and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_matching_pec_the_rule_set_by_the_operator_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let (mpe, target) = (an_mpe(SUB, "pe-renamed"), storage(SUB, "renamed"));
    h.sim.add_target(&target).unwrap();
    let spec = MpeSpec::new(&mpe, &target).timing(Duration::from_secs(1), Duration::from_secs(3));
    let ours = h.sim.add_mpe(spec.endpoint_named("v2-pe-renamed")).unwrap();
    announce(&h, &mpe).await;
    let end = chain_end(&h, &h.host, &mpe).await;
    assert_parked(&end, "no-matching-pec");
    assert!(end["reason"].as_str().is_some_and(|r| r.contains("v2-pe-renamed")), "{end:#}");
    assert_eq!(pec_at(&h, &target, &ours).status, PecStatus::Pending, "nothing approved");

    let rule = format!("{}=v2-{{mpe}}", services::any(0).resource_type());
    let (host, app, _task) = redeployed(&h, &[("MPE_ENDPOINT_NAMES", &rule)]).await;
    replay_cli(&app, "no-matching-pec").await;
    let end = chain_end(&h, &host, &mpe).await;
    assert_ends(&h, &end, "approved", &target, &ours);
}

/// `evidence-mismatch` for a Fabric MPE, found by `MpeDiscover` (Fabric publishes nothing that ties a PEC to
/// its MPE): the reason lists the pending PECs at the target with their private endpoints' names; the
/// operator reads the MPE's there, sets `MPE_ENDPOINT_NAMES` for Fabric and replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_mismatch_for_fabric_the_rule_set_by_the_operator_then_replayed_is_approved() {
    let _serial = SERIAL.lock().await;
    let home = format!("/subscriptions/{SUB}/resourceGroups/rg-rb");
    let workspace = "47482db6-4583-4672-86dd-999d0f8f4d7a";
    let watched = format!("{workspace}@{home}");
    let h = Harness::start(SCALE, &[("MPE_FABRIC_WORKSPACES", &watched), ("MPE_ENDPOINT_NAMES", "")]).await.unwrap();
    let id = "59a92b06-6e5a-468c-b748-e28c8ff28da3";
    let mpe = ResourceId::parse(&format!(
        "{home}/providers/MpeApprover.Fabric/workspaces/{workspace}/managedPrivateEndpoints/{id}"
    ))
    .unwrap();
    let target = storage(SUB, "fabric");
    let ours = add_mpe(&h, &mpe, &target, Duration::from_secs(3));
    until_phase(&h, &mpe, azure_sim::MpePhase::AwaitingApproval).await;
    let timer = json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false});
    let run =
        h.host.invoke("MpeDiscover", [("timer".to_string(), timer)].into_iter().collect(), Default::default(), 1).await;
    assert!(run.success, "{run:?}");
    let end = chain_end(&h, &h.host, &mpe).await;
    assert_parked(&end, "evidence-mismatch");
    let endpoint = format!("fabric-{workspace}-{id}");
    assert!(end["reason"].as_str().is_some_and(|r| r.contains(&endpoint)), "{end:#}");
    assert_eq!(pec_at(&h, &target, &ours).status, PecStatus::Pending, "nothing approved");

    let rule = mpe_demo::harness::FABRIC_RULE;
    let (host, app, _task) = redeployed(&h, &[("MPE_FABRIC_WORKSPACES", &watched), ("MPE_ENDPOINT_NAMES", rule)]).await;
    replay_cli(&app, "evidence-mismatch").await;
    let end = chain_end(&h, &host, &mpe).await;
    assert_ends(&h, &end, "approved", &target, &ours);
}

/// The rows of the park-code table in docs/operations.md: (codes in the first cell, what to do).
fn readme_rows() -> Vec<(Vec<String>, String)> {
    let readme = include_str!("../../../docs/operations.md");
    let mut lines = readme.lines().skip_while(|l| !l.starts_with("| `parkcode` |")).skip(2);
    let mut rows = Vec::new();
    for line in lines.by_ref().take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let codes = cells[0].split(',').map(|c| c.trim().trim_matches('`').to_string()).collect();
        rows.push((codes, cells.last().copied().unwrap_or_default().to_string()));
    }
    rows
}

/// The codes in the table at the top of this file.
fn runbook_rows() -> Vec<String> {
    include_str!("runbooks.rs")
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.strip_prefix("//! | `"))
        .filter_map(|l| l.split_once('`').map(|(code, _)| code.to_string()))
        .filter(|code| code != "parkcode")
        .collect()
}

#[test]
fn every_park_code_has_a_readme_row_and_a_runbook_here() {
    let readme = readme_rows();
    assert!(readme.len() >= 10, "the park-code table of docs/operations.md was not found: {readme:?}");
    let here = runbook_rows();
    for code in ParkCode::ALL.map(ParkCode::as_str) {
        let row = readme.iter().find(|(codes, _)| codes.iter().any(|c| c == code));
        let Some((_, todo)) = row else { panic!("docs/operations.md's park-code table has no row for `{code}`") };
        assert!(!todo.is_empty(), "the docs/operations.md row of `{code}` says nothing to do, not even —");
        assert_eq!(
            here.iter().filter(|c| *c == code).count(),
            1,
            "crates/demo/tests/runbooks.rs's table needs one line for `{code}`"
        );
    }
    for code in here.iter().chain(readme.iter().flat_map(|(c, _)| c)) {
        assert!(ParkCode::ALL.iter().any(|k| k.as_str() == code), "`{code}` is no park code");
    }
}
