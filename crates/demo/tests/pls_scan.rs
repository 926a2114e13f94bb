//! The Private Link Service scan end to end on the local simulator: a consumer from
//! an allowed subscription is approved through the approving protocol and one from elsewhere is not;
//! every page is read, and a list too long decides nothing; the call limit bounds a run and the runs
//! together reach every PLS; a 403 on one PLS is reported and the others are scanned; a hostile
//! private endpoint id is left alone with a log line; a required request message, and the rejection
//! of what waited too long (only when configured).

mod common;

use azure_sim::{ConnectionStatus, SimOptions};
use common::doubles::Fixed;
use mpe_approver::handler;
use mpe_approver::pls::{parse_watch, Watched};
use mpe_demo::{serve_handler, Harness};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const PROVIDER: &str = "0b5e55ed-0000-4000-8000-00000000a001";
const CONSUMER: &str = "c0c0c0c0-0000-4000-8000-00000000c001";
const STRANGER: &str = "5772a93e-0000-4000-8000-00000000e001";

fn pls(name: &str) -> String {
    format!("/subscriptions/{PROVIDER}/resourceGroups/rg-svc/providers/Microsoft.Network/privateLinkServices/{name}")
}

fn timer() -> Map<String, Value> {
    [("timer".to_string(), json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}))]
        .into_iter()
        .collect()
}

fn watch(s: &str) -> Vec<Watched> {
    parse_watch(s).unwrap()
}

/// The audit lines among an invocation's logs, as JSON.
fn audits(logs: &[String]) -> Vec<Value> {
    logs.iter()
        .filter_map(|l| l.split_once(": ").and_then(|(_, rest)| rest.strip_prefix("mpe.audit ")))
        .map(|j| serde_json::from_str(j).expect("audit JSON"))
        .collect()
}

/// The "done when": on the timer, a consumer from an allowed subscription is approved (our
/// marker appended to its request message, through the approving protocol) and one from elsewhere is
/// left Pending, counted as a stranger waiting and audited; the next run touches neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_consumer_is_approved_and_a_stranger_is_not() {
    let allow = format!("/subscriptions/{CONSUMER}->/subscriptions/{PROVIDER}");
    let scope = format!("/subscriptions/{PROVIDER}");
    let h = Harness::start(100.0, &[("MPE_PLS_WATCH", &scope), ("MPE_PLS_ALLOW", &allow)]).await.unwrap();
    let svc = pls("svc");
    h.sim.add_pls(&svc).unwrap();
    let ok = h.sim.connect_to_pls(&svc, CONSUMER, "pe-team-a", "CHG0000001 for team A").unwrap();
    let no = h.sim.connect_to_pls(&svc, STRANGER, "pe-who", "let me in").unwrap();

    let inv = h.host.invoke("MpePlsScan", timer(), Map::new(), 1).await;
    assert!(inv.success, "{inv:?}");
    let approved = h.sim.pls_connection(&svc, &ok).unwrap();
    assert_eq!(approved.status, ConnectionStatus::Approved, "{approved:?}");
    assert!(
        approved.description.starts_with("CHG0000001 for team A [mpe-approver #"),
        "the request message kept, our marker appended: {}",
        approved.description
    );
    assert_eq!(approved.puts, 1);
    let waiting = h.sim.pls_connection(&svc, &no).unwrap();
    assert_eq!((waiting.status, waiting.puts), (ConnectionStatus::Pending, 0));

    let reply = inv.reply.clone().unwrap();
    let counts = &reply["ReturnValue"];
    assert_eq!((counts["approved"].as_u64(), counts["strangersWaiting"].as_u64()), (Some(1), Some(1)), "{counts}");
    assert_eq!(counts["plsRead"], 1);
    let logs: Vec<String> = serde_json::from_value(reply["Logs"].clone()).unwrap();
    assert!(logs.iter().any(|l| l.starts_with("WARN: ") && l.contains("strangers waiting: 1")), "{logs:#?}");
    assert!(logs.iter().any(|l| l.contains(&format!("pls={svc} approving PEC"))), "the protocol's line: {logs:#?}");
    let audit = audits(&logs);
    let for_ok = audit.iter().find(|a| a["pecId"].as_str().is_some_and(|p| p.ends_with(&ok))).unwrap();
    assert_eq!(for_ok["event"], "mpe.audit");
    assert_eq!(for_ok["mpeId"], svc.as_str());
    assert_eq!(for_ok["outcome"], "approved");
    assert_eq!(for_ok["allowedBy"], format!("MPE_PLS_ALLOW rule {}", allow.to_ascii_lowercase()));
    assert_eq!(for_ok["evidence"]["consumerSubscription"], CONSUMER);
    let for_no = audit.iter().find(|a| a["pecId"].as_str().is_some_and(|p| p.ends_with(&no))).unwrap();
    assert_eq!(for_no["outcome"], "left-pending");
    assert!(for_no["reason"].as_str().unwrap().contains(STRANGER), "{for_no}");
    assert_eq!(for_ok["correlationId"], for_no["correlationId"], "one run, one id");

    // The next run: the approved connection is not Pending (never touched), the stranger still waits.
    let again = h.host.invoke("MpePlsScan", timer(), Map::new(), 1).await;
    assert!(again.success);
    let counts = &again.reply.as_ref().unwrap()["ReturnValue"];
    assert_eq!((counts["approved"].as_u64(), counts["untouched"].as_u64()), (Some(0), Some(1)), "{counts}");
    assert_eq!(h.sim.pls_connection(&svc, &ok).unwrap().puts, 1);
    assert_eq!(h.sim.pls_connection(&svc, &no).unwrap().status, ConnectionStatus::Pending);
    assert!(h.sim.report().violations.is_empty());
}

/// Every page of a PLS's connections is read; a PLS with more than the 20 pages read has nothing
/// decided (not even its allowed consumers); the PLS list pages too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_read_and_a_list_too_long_decides_nothing() {
    let options = SimOptions { pec_page_size: Some(2), list_page_size: Some(1), ..Default::default() };
    let h = Harness::start_with(100.0, &[], options).await.unwrap();
    let paged = pls("paged");
    let long = pls("long");
    for p in [&paged, &long] {
        h.sim.add_pls(p).unwrap();
    }
    for i in 0..5 {
        h.sim.connect_to_pls(&paged, PROVIDER, &format!("pe-{i}"), "m").unwrap();
    }
    // 2 per page: 41 connections are 21 pages.
    for i in 0..41 {
        h.sim.connect_to_pls(&long, PROVIDER, &format!("pe-{i}"), "m").unwrap();
    }
    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let r = handler::pls_scan(&app, &watch(&format!("/subscriptions/{PROVIDER}")), 10_000, false, deadline).await;
    assert_eq!((r.pls_read, r.pls_not_read, r.connections, r.approved), (1, 1, 5, 5), "{r:#?}");
    assert!(h.sim.pls_connections(&paged).iter().all(|c| c.status == ConnectionStatus::Approved));
    assert!(h.sim.pls_connections(&long).iter().all(|c| c.status == ConnectionStatus::Pending && c.puts == 0));
    assert!(r.incomplete.iter().any(|i| i.contains(&long) && i.contains("more than 20 pages")), "{:#?}", r.incomplete);
    // 2 PLS list pages, 3 pages of one PLS and its tags, 20 pages of the other, 5 writes.
    assert_eq!(r.arm_calls, 2 + 3 + 1 + 20 + 5 * 10, "{r:#?}");
}

/// `MPE_PLS_MAX_CALLS` bounds a run: it stops, says what it did not read, and the next runs (each
/// minute starts elsewhere) reach every PLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_limit_bounds_a_run_and_the_runs_reach_every_pls() {
    let h = Harness::start(100.0, &[]).await.unwrap();
    let all: Vec<String> = (0..9).map(|i| pls(&format!("svc{i}"))).collect();
    for p in &all {
        h.sim.add_pls(p).unwrap();
        h.sim.connect_to_pls(p, STRANGER, "pe", "m").unwrap();
    }
    let named = all.join(",");
    let mut reached = BTreeSet::new();
    for minute in 0..20 {
        // One call for a PLS's connections, one for its tags: three PLSs per run.
        let clock = Arc::new(Fixed::instant(&format!("2026-12-01T10:{minute:02}:00Z")));
        let app = serve_handler(&h.sim, clock, &[]).await.unwrap().2;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let r = handler::pls_scan(&app, &watch(&named), 6, true, deadline).await;
        assert!(r.arm_calls <= 6, "{r:#?}");
        assert_eq!((r.pls_read, r.pls_not_read), (3, 6), "{r:#?}");
        assert!(r
            .incomplete
            .iter()
            .any(|i| i.contains("6 Private Link Services not read") && i.contains("MPE_PLS_MAX_CALLS")));
        assert!(r.summary().contains("6 Private Link Services not read"), "{}", r.summary());
        reached.extend(r.rows.iter().map(|row| row.pls_id.to_ascii_lowercase()));
        if reached.len() == all.len() {
            break;
        }
    }
    assert_eq!(reached.len(), all.len(), "every PLS is reached within a few runs");
}

/// A PLS the identity may not read (403) is reported, with the action the role needs, and the run goes
/// on: the other PLS's consumer is approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_on_one_pls_is_reported_and_the_others_are_scanned() {
    let h = Harness::start(100.0, &[]).await.unwrap();
    let (locked, open) = (pls("locked"), pls("open"));
    for p in [&locked, &open] {
        h.sim.add_pls(p).unwrap();
        h.sim.connect_to_pls(p, PROVIDER, "pe", "m").unwrap();
    }
    h.sim.forbid(&locked, true);
    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let r = handler::pls_scan(&app, &watch(&format!("{locked},{open}")), 100, false, deadline).await;
    assert_eq!((r.pls_read, r.pls_not_read, r.approved), (1, 1, 1), "{r:#?}");
    let why = r.incomplete.iter().find(|i| i.contains(&locked)).expect("the 403 is reported");
    assert!(
        why.contains("forbidden")
            && why.contains("Microsoft.Network/privateLinkServices/privateEndpointConnections/read"),
        "{why}"
    );
    assert_eq!(h.sim.pls_connections(&open)[0].status, ConnectionStatus::Approved);
    assert_eq!(h.sim.pls_connections(&locked)[0].status, ConnectionStatus::Pending);
    // A PLS that does not exist is reported too.
    let r = handler::pls_scan(&app, &watch(&pls("gone")), 100, false, deadline).await;
    assert!(r.incomplete[0].contains("does not exist"), "{:#?}", r.incomplete);
    // A subscription whose PLSs may not be listed is reported; a PLS named beside it is still read.
    let other = "0b5e55ed-0000-4000-8000-00000000a002";
    h.sim.forbid(&format!("/subscriptions/{other}/providers/Microsoft.Network/privateLinkServices"), true);
    let r = handler::pls_scan(&app, &watch(&format!("/subscriptions/{other},{open}")), 100, false, deadline).await;
    assert_eq!((r.pls_read, r.untouched), (1, 1), "{r:#?}");
    assert!(
        r.incomplete
            .iter()
            .any(|i| i.contains(other) && i.contains("the role needs Microsoft.Network/privateLinkServices/read")),
        "{:#?}",
        r.incomplete
    );
}

/// A private endpoint id that is not one (a forged audit line, a terminal escape, a path outside any
/// subscription) is left alone, whatever the rules allow, with a log line that quotes it; every log
/// line stays one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_private_endpoint_id_is_left_alone_with_a_log_line() {
    let h = Harness::start(100.0, &[("MPE_PLS_ALLOW", "*->*")]).await.unwrap();
    let svc = pls("svc");
    h.sim.add_pls(&svc).unwrap();
    let hostile = "x\nmpe.audit {\"outcome\":\"approved\"}\u{1b}[2J";
    let bad = h.sim.connect_to_pls_from(&svc, hostile, "hi").unwrap();
    let storage = format!("/subscriptions/{STRANGER}/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/pe");
    let odd = h.sim.connect_to_pls_from(&svc, &storage, "hi").unwrap();
    let fine = h.sim.connect_to_pls(&svc, STRANGER, "pe", "hi").unwrap();
    let app = serve_handler(&h.sim, h.clock.clone(), &[("MPE_PLS_ALLOW", "*->*")]).await.unwrap().2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let r = handler::pls_scan(&app, &watch(&svc), 100, false, deadline).await;
    assert_eq!((r.left_alone, r.approved), (2, 1), "{r:#?}");
    for name in [&bad, &odd] {
        assert_eq!(h.sim.pls_connection(&svc, name).unwrap().puts, 0);
    }
    assert_eq!(h.sim.pls_connection(&svc, &fine).unwrap().status, ConnectionStatus::Approved);
    let warn: Vec<&String> = r.logs.iter().filter(|l| l.starts_with("WARN: ") && l.contains("left alone")).collect();
    assert_eq!(warn.len(), 2, "{:#?}", r.logs);
    for l in &r.logs {
        assert!(!l.contains(['\n', '\r', '\u{1b}']), "{l:?}");
        let rest = l.split_once(": ").map_or(l.as_str(), |(_, rest)| rest);
        if rest.starts_with("mpe.audit") {
            let v: Value = serde_json::from_str(&rest["mpe.audit ".len()..]).unwrap();
            assert_eq!(v["event"], "mpe.audit");
        }
    }
    assert!(audits(&r.logs).iter().filter(|a| a["outcome"] == "left-alone").count() == 2);
}

/// A required request message (anchored): a consumer the rules allow waits until its message matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_message_gates_the_approval() {
    let svc = pls("svc");
    let rule = json!({ svc.as_str(): "CHG[0-9]{7}( .*)?" }).to_string();
    let h = Harness::start(100.0, &[]).await.unwrap();
    h.sim.add_pls(&svc).unwrap();
    let good = h.sim.connect_to_pls(&svc, PROVIDER, "pe-good", "CHG1234567 payments").unwrap();
    let bad = h.sim.connect_to_pls(&svc, PROVIDER, "pe-bad", "please, it is urgent").unwrap();
    let empty = h.sim.connect_to_pls(&svc, PROVIDER, "pe-empty", "").unwrap();
    let app = serve_handler(&h.sim, h.clock.clone(), &[("MPE_PLS_REQUIRE_MESSAGE", &rule)]).await.unwrap().2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let r = handler::pls_scan(&app, &watch(&svc), 100, false, deadline).await;
    assert_eq!(r.approved, 1, "{r:#?}");
    assert_eq!(h.sim.pls_connection(&svc, &good).unwrap().status, ConnectionStatus::Approved);
    assert_eq!(h.sim.pls_connection(&svc, &bad).unwrap().status, ConnectionStatus::Pending);
    assert_eq!(h.sim.pls_connection(&svc, &empty).unwrap().status, ConnectionStatus::Pending);
    assert_eq!(r.left_pending.get("message-mismatch"), Some(&1));
    assert_eq!(r.left_pending.get("message-missing"), Some(&1));
    assert_eq!(r.strangers_waiting, 0);
}

/// `MPE_PLS_REJECT_AFTER`: off, nothing is ever rejected; on, only a connection this app has seen
/// Pending that long is rejected, with a description saying why, and an allowed consumer or a PLS
/// tagged deny never is. A dry run says what it would do and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_after_rejects_only_what_waited_long_enough_and_only_when_on() {
    let h = Harness::start(100.0, &[]).await.unwrap();
    let (svc, hands_off) = (pls("svc"), pls("hands-off"));
    for p in [&svc, &hands_off] {
        h.sim.add_pls(p).unwrap();
    }
    h.sim.set_pls_tag(&hands_off, "mpe-approver", "deny").unwrap();
    let early = h.sim.connect_to_pls(&svc, STRANGER, "pe-early", "let me in").unwrap();
    let kept = h.sim.connect_to_pls(&hands_off, STRANGER, "pe-kept", "let me in").unwrap();
    let both = format!("{svc},{hands_off}");
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(30);

    // Off (the default): scans far apart reject nothing.
    let off = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    for _ in 0..2 {
        let r = handler::pls_scan(&off, &watch(&both), 100, false, deadline()).await;
        assert_eq!(r.rejected, 0, "{r:#?}");
        tokio::time::sleep(Duration::from_millis(1300)).await; // 130 s simulated
    }
    // On: the first sight starts the count; a dry run says what it would do once old enough.
    let on = serve_handler(&h.sim, h.clock.clone(), &[("MPE_PLS_REJECT_AFTER", "2m")]).await.unwrap().2;
    let r = handler::pls_scan(&on, &watch(&both), 100, false, deadline()).await;
    assert_eq!((r.rejected, r.strangers_waiting), (0, 1), "{r:#?}");
    let row = r.rows.iter().find(|row| row.pec_id.ends_with(&early)).unwrap();
    assert!(row.reason.contains("rejected once pending for 2m"), "{}", row.reason);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let late = h.sim.connect_to_pls(&svc, STRANGER, "pe-late", "let me in").unwrap();
    let dry = handler::pls_scan(&on, &watch(&both), 100, true, deadline()).await;
    assert_eq!((dry.would_reject, dry.rejected), (1, 0), "{dry:#?}");
    assert_eq!(h.sim.pls_connection(&svc, &early).unwrap().status, ConnectionStatus::Pending);
    let r = handler::pls_scan(&on, &watch(&both), 100, false, deadline()).await;
    assert_eq!(r.rejected, 1, "{r:#?}");
    let rejected = h.sim.pls_connection(&svc, &early).unwrap();
    assert_eq!(rejected.status, ConnectionStatus::Rejected);
    assert!(
        rejected
            .description
            .starts_with("Rejected by mpe-approver after 2m pending: no MPE_PLS_ALLOW rule allows subscription")
            && rejected.description.contains(STRANGER),
        "{}",
        rejected.description
    );
    assert_eq!(h.sim.pls_connection(&svc, &late).unwrap().status, ConnectionStatus::Pending, "seen too recently");
    assert_eq!(h.sim.pls_connection(&hands_off, &kept).unwrap().status, ConnectionStatus::Pending, "tagged deny");
    let audit = audits(&r.logs);
    assert!(audit.iter().any(|a| a["outcome"] == "rejected" && a["pecId"].as_str().unwrap().ends_with(&early)));
    assert!(audit.iter().any(|a| a["outcome"] == "left-pending" && a["reason"].as_str().unwrap().contains("deny")));
}

/// ARM answering each read in 300 ms and `MPE_PLS_BUDGET=2s`: the timer's run ends within its budget
/// (it answers, it does not fail), reads what it can and reports the Private Link Services it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_with_slow_reads_ends_within_its_budget_and_reports_what_it_left() {
    let names: Vec<String> = (0..12).map(|i| pls(&format!("slow{i}"))).collect();
    let joined = names.join(",");
    let h = Harness::start(100.0, &[("MPE_PLS_WATCH", &joined), ("MPE_PLS_BUDGET", "2s")]).await.unwrap();
    for p in &names {
        h.sim.add_pls(p).unwrap();
        h.sim.connect_to_pls(p, STRANGER, "pe", "m").unwrap();
    }
    h.sim.set_latency(azure_sim::Dependency::ArmRead, Some(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let inv = h.host.invoke("MpePlsScan", timer(), Map::new(), 1).await;
    let took = started.elapsed();
    h.sim.set_latency(azure_sim::Dependency::ArmRead, None);
    assert!(inv.success, "the run answers within its budget: {inv:?}");
    assert!(took < Duration::from_millis(2600), "the whole run took {took:?} (budget 2 s)");
    let counts = &inv.reply.as_ref().unwrap()["ReturnValue"];
    let (read, left) = (counts["plsRead"].as_u64().unwrap(), counts["plsNotRead"].as_u64().unwrap());
    assert!(read > 0 && left > 0 && read + left == 12, "{counts}");
    let logs = format!("{inv:?}");
    assert!(logs.contains("incomplete") && logs.contains("the time budget"), "{logs}");
}
