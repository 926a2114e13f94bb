//! `MPE_ALLOW` naming a management group, end to end on the simulator: the group is resolved through
//! the simulated ARM's descendants list (every page: the lists are paged one item a page here, and the
//! MPE's subscription sits two groups down), an MPE of a subscription under it is approved, one of a
//! subscription outside it is refused, and when the identity may not read the hierarchy (403) nothing is
//! approved and the parked check says why.

mod common;

use azure_sim::{MpeSpec, PecStatus, SimOptions};
use common::{in_group, services};
use mpe_approver::resource_id::ResourceId;
use mpe_demo::Harness;
use serde_json::Value;
use std::time::{Duration, Instant};

const SCALE: f64 = 50.0;
const WAIT: Duration = Duration::from_secs(30);
const WORK: &str = "mpe-approvals";
/// Under `landing`, under `platform`.
const INSIDE: &str = "0b5e55ed-0000-4000-8000-00000000a6a1";
/// Directly under `platform` (on an earlier page of its descendants).
const SIBLING: &str = "0b5e55ed-0000-4000-8000-00000000a6a2";
/// Under `sandbox`, beside `platform` under the root.
const OUTSIDE: &str = "0b5e55ed-0000-4000-8000-00000000a6b1";
/// The targets' subscription: in no group the rule names (the rule's target side is `*`).
const TARGET_SUB: &str = "0b5e55ed-0000-4000-8000-00000000a6c1";
const GROUP: &str = "/providers/Microsoft.Management/managementGroups/platform";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The simulator with the hierarchy root → {platform → {landing}, sandbox}, every list paged one item
/// a page, and a handler whose only rule is `platform->*`.
async fn harness() -> Harness {
    let options = SimOptions { list_page_size: Some(1), ..SimOptions::default() };
    let h = Harness::start_with(SCALE, &[("MPE_ALLOW", &format!("{GROUP}->*"))], options).await.unwrap();
    h.sim.add_management_group("tenant-root", None).unwrap();
    h.sim.add_management_group("Platform", Some("tenant-root")).unwrap();
    h.sim.add_management_group("landing", Some("platform")).unwrap();
    h.sim.add_management_group("sandbox", Some("tenant-root")).unwrap();
    h.sim.place_subscription(SIBLING, "platform").unwrap();
    h.sim.place_subscription(INSIDE, "landing").unwrap();
    h.sim.place_subscription(OUTSIDE, "sandbox").unwrap();
    h.sim.place_subscription(TARGET_SUB, "sandbox").unwrap();
    h
}

fn an_mpe(sub: &str, name: &str) -> ResourceId {
    services::mpe(services::any(0), sub, "rg-mg", name)
}

fn storage(name: &str) -> ResourceId {
    in_group(TARGET_SUB, &format!("rg-data/providers/Microsoft.Storage/storageAccounts/st{name}"))
}

/// An MPE to a new target, announced by its write event; returns the target and its PEC's name there.
async fn announced(h: &Harness, mpe: &ResourceId, target_name: &str) -> (ResourceId, String) {
    let target = storage(target_name);
    h.sim.add_target(&target).unwrap();
    let spec = MpeSpec::new(mpe, &target).timing(Duration::from_secs(1), Duration::from_secs(3));
    let pec = h.sim.add_mpe(spec).unwrap();
    let ev = h.host.deliver_event(&azure_sim::write_success_event(mpe, h.clock.now())).await.unwrap();
    assert!(ev.success, "{ev:?}");
    (target, pec)
}

/// The `mpe.audit` event that ends `mpe`'s chain (outcome other than `check-again`), and every log line of
/// the invocations delivered meanwhile.
async fn chain_end(h: &Harness, mpe: &ResourceId) -> (Value, Vec<String>) {
    let until = Instant::now() + WAIT;
    let mut logs = Vec::new();
    loop {
        for r in h.host.drain_once(WORK).await.unwrap() {
            logs.extend(r.logs.iter().cloned());
            let end = r
                .logs
                .iter()
                .filter_map(|l| l.split_once("mpe.audit ").and_then(|(_, j)| serde_json::from_str::<Value>(j).ok()))
                .find(|v| {
                    v["mpeId"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(mpe.as_str()))
                        && v["outcome"] != "check-again"
                });
            if let Some(end) = end {
                return (end, logs);
            }
        }
        assert!(Instant::now() < until, "no end of {mpe}'s chain within {WAIT:?}\n{:#?}", h.sim.report());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn status_of(h: &Harness, target: &ResourceId, pec: &str) -> PecStatus {
    h.sim.pecs(target).into_iter().find(|p| p.name.eq_ignore_ascii_case(pec)).map(|p| p.status).unwrap()
}

/// An MPE of a subscription two groups down is approved by the group's rule (read over every page of
/// the descendants); one of a subscription outside the group is refused, its PEC left Pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rule_approves_inside_the_group_and_refuses_outside_it() {
    let _serial = SERIAL.lock().await;
    let h = harness().await;

    let inside = an_mpe(INSIDE, "pe-inside");
    let (target, pec) = announced(&h, &inside, "in").await;
    let (end, _) = chain_end(&h, &inside).await;
    assert_eq!(end["outcome"], "approved", "{end:#}");
    assert_eq!(end["allowedBy"], format!("MPE_ALLOW rule {GROUP}->*"), "{end:#}");
    assert_eq!(status_of(&h, &target, &pec), PecStatus::Approved);

    let outside = an_mpe(OUTSIDE, "pe-outside");
    let (target, pec) = announced(&h, &outside, "out").await;
    let (end, _) = chain_end(&h, &outside).await;
    assert_eq!(
        (end["outcome"].as_str(), end["parkCode"].as_str()),
        (Some("parked"), Some("policy-refused")),
        "{end:#}"
    );
    let reason = end["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(OUTSIDE) && reason.contains(GROUP) && !reason.contains("not resolved"), "{reason}");
    assert_eq!(status_of(&h, &target, &pec), PecStatus::Pending, "nothing approved outside the group");
    assert!(h.sim.report().violations.is_empty(), "{:#?}", h.sim.report().violations);
}

/// The identity may not read the hierarchy: ARM answers 403 on the descendants. The group's rule allows
/// nothing, the check parks `forbidden` saying which group, why and what permission to grant, and the
/// PEC stays Pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_on_the_hierarchy_approves_nothing_and_says_why() {
    let _serial = SERIAL.lock().await;
    let h = harness().await;
    h.sim.forbid(GROUP, true);

    let inside = an_mpe(INSIDE, "pe-forbidden");
    let (target, pec) = announced(&h, &inside, "forbidden").await;
    let (end, logs) = chain_end(&h, &inside).await;
    assert_eq!((end["outcome"].as_str(), end["parkCode"].as_str()), (Some("parked"), Some("forbidden")), "{end:#}");
    let reason = end["reason"].as_str().unwrap_or_default();
    for part in [
        "managementGroups/platform is not resolved",
        "HTTP 403",
        "AuthorizationFailed",
        "Microsoft.Management/managementGroups/descendants/read",
    ] {
        assert!(reason.contains(part), "{part:?} in {reason}");
    }
    assert!(logs.iter().any(|l| l.contains("not resolved") && l.contains("HTTP 403")), "{logs:#?}");
    assert_eq!(status_of(&h, &target, &pec), PecStatus::Pending, "nothing approved");
    assert!(h.sim.report().violations.is_empty(), "{:#?}", h.sim.report().violations);
}

/// `MPE_SOURCE_SUBSCRIPTIONS` and `MPE_TARGET_SUBSCRIPTIONS` naming a management group: an MPE of a
/// subscription under it, to a target under the target filter's group, is taken from its event and
/// approved; one of a subscription outside the source filter's group is ignored at the event (nothing
/// queued); one to a target outside the target filter's group is refused. `MPE_ALLOW` allows every pair
/// here (`*->*`): the filters alone decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_and_target_filters_naming_a_group_take_its_subscriptions_only() {
    let _serial = SERIAL.lock().await;
    let options = SimOptions { list_page_size: Some(1), ..SimOptions::default() };
    let settings = [
        ("MPE_ALLOW", "*->*"),
        ("MPE_SOURCE_SUBSCRIPTIONS", GROUP),
        ("MPE_TARGET_SUBSCRIPTIONS", "/providers/Microsoft.Management/managementGroups/sandbox"),
    ];
    let h = Harness::start_with(SCALE, &settings, options).await.unwrap();
    h.sim.add_management_group("tenant-root", None).unwrap();
    h.sim.add_management_group("platform", Some("tenant-root")).unwrap();
    h.sim.add_management_group("landing", Some("platform")).unwrap();
    h.sim.add_management_group("sandbox", Some("tenant-root")).unwrap();
    h.sim.place_subscription(INSIDE, "landing").unwrap();
    h.sim.place_subscription(OUTSIDE, "sandbox").unwrap();
    h.sim.place_subscription(TARGET_SUB, "sandbox").unwrap();

    // Inside the source group, to a target in the target group: approved.
    let inside = an_mpe(INSIDE, "pe-filtered-in");
    let (target, pec) = announced(&h, &inside, "filtered").await;
    let (end, _) = chain_end(&h, &inside).await;
    assert_eq!(end["outcome"], "approved", "{end:#}");
    assert_eq!(status_of(&h, &target, &pec), PecStatus::Approved);

    // Outside the source group: the event is ignored, nothing is queued.
    let outside = an_mpe(OUTSIDE, "pe-filtered-out");
    let target = storage("ignored");
    h.sim.add_target(&target).unwrap();
    h.sim.add_mpe(MpeSpec::new(&outside, &target)).unwrap();
    let ev = h.host.deliver_event(&azure_sim::write_success_event(&outside, h.clock.now())).await.unwrap();
    assert!(
        ev.success && ev.logs.iter().any(|l| l.contains("ignored event") && l.contains("MPE_SOURCE_SUBSCRIPTIONS")),
        "{ev:?}"
    );
    assert!(h.sim.work_messages().is_empty(), "{:#?}", h.sim.work_messages());

    // To a target outside the target group: refused, nothing approved.
    let elsewhere = in_group(INSIDE, "rg-data/providers/Microsoft.Storage/storageAccounts/stelsewhere");
    h.sim.add_target(&elsewhere).unwrap();
    let crossing = an_mpe(INSIDE, "pe-crossing");
    let spec = MpeSpec::new(&crossing, &elsewhere).timing(Duration::from_secs(1), Duration::from_secs(3));
    let pec = h.sim.add_mpe(spec).unwrap();
    assert!(h.host.deliver_event(&azure_sim::write_success_event(&crossing, h.clock.now())).await.unwrap().success);
    let (end, _) = chain_end(&h, &crossing).await;
    assert_ne!(end["outcome"], "approved", "{end:#}");
    assert!(end["reason"].as_str().unwrap_or_default().contains("MPE_TARGET_SUBSCRIPTIONS"), "{end:#}");
    assert_eq!(status_of(&h, &elsewhere, &pec), PecStatus::Pending);
    assert!(h.sim.report().violations.is_empty(), "{:#?}", h.sim.report().violations);
}
