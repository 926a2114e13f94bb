//! The demo: the whole flow on the local simulator, no Azure needed.
//!
//! Starts the simulator and the handler through the [`Harness`] (the same router as `mpe-approver
//! serve`, on loopback), plays the Functions host (Event Grid events to `MpeEvent`, scheduled Service
//! Bus messages to `MpeCheck`), waits while showing progress, and ends with a table. Time is compressed
//! by `time_scale`; figures are in simulated seconds. The report says not ok (the binary exits non-zero)
//! if any case did not end as expected or any race was triggered.

use crate::harness::Harness;
use crate::harness::FABRIC_RULE;
use azure_sim::{self as simulator, MpeSpec};
use mpe_approver::providers::{registry, Provider};
use mpe_approver::resource_id::ResourceId;
use mpe_approver::servicebus::props;
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Give up waiting after this much simulated time.
    pub timeout: Duration,
    /// Print progress lines to stderr.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { time_scale: 10.0, timeout: Duration::from_secs(600), progress: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Expect {
    Approved,
    /// Must end without any approval.
    NotApproved,
    /// Must be parked for a human (ambiguous).
    Parked,
    /// A non-MPE event: ignored, nothing queued.
    Ignored,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    pub case: String,
    pub service: String,
    pub target: String,
    pub mpe_id: Option<String>,
    pub expected: Expect,
    pub outcome: String,
    pub ok: bool,
    /// Simulated seconds from the MPE reporting pending to its PEC being approved.
    pub pending_to_approved_secs: Option<f64>,
    pub arm_calls: u64,
    pub race_violations: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub time_scale: f64,
    pub simulated_secs: f64,
    pub real_secs: f64,
    pub cases: Vec<CaseResult>,
    pub arm_calls_total: u64,
    pub race_violations: usize,
    pub other_violations: Vec<String>,
    pub invocations: usize,
    pub failed_invocations: usize,
    pub parked: usize,
    pub ok: bool,
}

const SUB: &str = "0b5e55ed-0000-4000-8000-00000000d310";

fn rid(s: &str) -> anyhow::Result<ResourceId> {
    Ok(ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/{s}"))?)
}

/// The demo's Databricks account and network connectivity configuration (`MPE_DATABRICKS_NCCS`).
const DBX_ACCOUNT: &str = "449e7a5c-69d3-4b8a-aaaf-5c9b713ebc65";
const DBX_NCC: &str = "d6df3889-eefc-4ddb-bbb4-613efcb30035";

/// The demo's Fabric workspace (`MPE_FABRIC_WORKSPACES`); its private endpoints are named by the operator's
/// rule ([`FABRIC_RULE`]), as an operator writes it from what the target shows (Fabric publishes none).
const FABRIC_WORKSPACE: &str = "47482db6-4583-4672-86dd-999d0f8f4d7a";

/// An MPE of `provider`'s type called `name`, under a parent called `demo` (and a `default` network, where
/// the type nests deeper; the demo's Databricks account and NCC for a rule, its Fabric workspace).
fn mpe_id(provider: &dyn Provider, name: &str) -> anyhow::Result<ResourceId> {
    let dbx = provider.resource_type().starts_with("MpeApprover.Databricks/");
    let fabric = provider.resource_type().starts_with("MpeApprover.Fabric/");
    let ancestor = move |depth: usize, _: &str| match (dbx, fabric, depth) {
        (true, _, 0) => DBX_ACCOUNT.to_string(),
        (true, _, _) => DBX_NCC.to_string(),
        (_, true, _) => FABRIC_WORKSPACE.to_string(),
        (false, false, 0) => "demo".to_string(),
        (false, false, _) => "default".to_string(),
    };
    let raw = simulator::mpe::id_of_type(provider.resource_type(), SUB, "rg-mpe", name, ancestor);
    Ok(ResourceId::parse(&raw)?)
}

struct Case {
    name: String,
    service: &'static str,
    target_label: &'static str,
    mpe: Option<ResourceId>,
    /// A consumer's connection to our Private Link Service (the PLS, the connection's name), judged at
    /// the PLS instead of an MPE.
    pls: Option<(String, String)>,
    expected: Expect,
}

/// The demo's Private Link Service, its allowed consumer subscription and a stranger's.
const PLS_CONSUMER: &str = "c0c0c0c0-0000-4000-8000-00000000d310";
const PLS_STRANGER: &str = "5772a93e-0000-4000-8000-00000000d310";

fn demo_pls() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg-svc/providers/Microsoft.Network/privateLinkServices/pls-demo")
}

/// The demo deployment's settings: its Private Link Service watched, one consumer subscription allowed; its
/// subscription swept and discovered (Synapse workspaces), its Databricks NCC and Fabric workspace watched,
/// Fabric's private endpoints named by the operator's rule.
fn settings() -> Vec<(&'static str, String)> {
    vec![
        ("MPE_PLS_WATCH", demo_pls()),
        ("MPE_PLS_ALLOW", format!("/subscriptions/{PLS_CONSUMER}->/subscriptions/{SUB}")),
        ("MPE_SWEEP_SCOPES", format!("/subscriptions/{SUB}")),
        ("MPE_DATABRICKS_NCCS", format!("{DBX_ACCOUNT}/{DBX_NCC}@/subscriptions/{SUB}/resourceGroups/rg-mpe")),
        ("MPE_FABRIC_WORKSPACES", format!("{FABRIC_WORKSPACE}@/subscriptions/{SUB}/resourceGroups/rg-mpe")),
        ("MPE_ENDPOINT_NAMES", FABRIC_RULE.to_string()),
    ]
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Set up the cases and deliver their events: one MPE of every provider of the registry to a target (the
/// targets in turn), then the seed article's fixed cases, each on the next provider of the registry: a
/// slow target, an MPE deleted before it is ready, a PEC a human rejects, a twin PEC. Returns the cases
/// to judge.
async fn set_up(h: &Harness) -> anyhow::Result<(Vec<Case>, String)> {
    let storage = rid("rg-data/providers/Microsoft.Storage/storageAccounts/stdemo")?;
    let iot = rid("rg-data/providers/Microsoft.Devices/IotHubs/iot-demo")?;
    let vault = rid("rg-data/providers/Microsoft.KeyVault/vaults/kv-demo")?;
    let web = rid("rg-app/providers/Microsoft.Web/sites/web-demo")?;
    let sql = rid("rg-data/providers/Microsoft.Sql/servers/sql-demo")?;
    let storage2 = rid("rg-data/providers/Microsoft.Storage/storageAccounts/stother")?;
    let monitor = rid("rg-data/providers/Microsoft.Monitor/accounts/amw-demo")?;
    for t in [&storage, &iot, &vault, &web, &sql, &storage2, &monitor] {
        h.sim.add_target(t)?;
    }
    // In turn, unless a service has its usual target (Grafana reads Azure Monitor workspaces; Front Door's
    // origins reach web apps, never a Key Vault or a SQL server).
    let targets = [("Storage blob", &storage), ("SQL server", &sql), ("Web app", &web), ("Key Vault", &vault)];
    let providers = registry();
    let mut specs: Vec<(String, &'static str, &'static str, Expect, MpeSpec)> = Vec::new();
    for (i, p) in providers.iter().enumerate() {
        let (label, target) = match p.resource_type() {
            "Microsoft.Dashboard/grafana/managedPrivateEndpoints" => ("Azure Monitor workspace", &monitor),
            "Microsoft.Cdn/profiles/originGroups/origins" => ("Web app", &web),
            _ => targets[i % targets.len()],
        };
        let id = mpe_id(*p, &format!("mpe-{i}-{}", label.split(' ').next().unwrap_or(label).to_lowercase()))?;
        // Staggered: each service takes its own time to provision.
        let pec_at = 2 + 3 * i as u64;
        let spec = MpeSpec::new(id, target.clone()).timing(secs(pec_at), secs(2 * pec_at));
        // A source that raises no ARM event is found by the MpeDiscover timer.
        let how = if p.data_plane().is_some() { " (no event)" } else { "" };
        specs.push((format!("{} → {label}{how}", p.service()), p.service(), label, Expect::Approved, spec));
    }
    // The fixed cases: (name, `{service}` standing for the provider's; target; expected; the MPE's name;
    // its timing and fate).
    type Fate = fn(MpeSpec) -> MpeSpec;
    let fixed: [(&str, &'static str, &ResourceId, Expect, &str, Fate); 4] = [
        ("{service} → IoT Hub (over a minute)", "IoT Hub", &iot, Expect::Approved, "mpe-iothub", |s| {
            s.timing(secs(30), secs(75))
        }),
        ("deleted before ready", "Storage blob", &storage, Expect::NotApproved, "mpe-deleted", |s| {
            s.timing(secs(20), secs(40)).delete_after(secs(6))
        }),
        ("PEC rejected by a human", "Storage blob", &storage2, Expect::NotApproved, "mpe-rejected", |s| {
            s.timing(secs(4), secs(20)).reject_after(secs(8))
        }),
        ("twin PEC with the same endpoint name", "Storage blob", &storage2, Expect::Parked, "mpe-twin", |s| {
            s.timing(secs(3), secs(6))
        }),
    ];
    let with_events: Vec<&&dyn Provider> = providers.iter().filter(|p| p.data_plane().is_none()).collect();
    for ((name, label, target, expected, mpe, fate), p) in fixed.into_iter().zip(with_events.into_iter().cycle()) {
        let spec = fate(MpeSpec::new(mpe_id(*p, mpe)?, target.clone()));
        specs.push((name.replace("{service}", p.service()), p.service(), label, expected, spec));
    }
    let mut cases = Vec::new();
    for (name, service, target_label, expected, spec) in specs {
        let id = ResourceId::parse(&spec.id)?;
        h.sim.add_mpe(spec)?;
        if expected == Expect::Parked {
            h.sim.add_twin(&id, None)?;
        }
        cases.push(Case { name, service, target_label, mpe: Some(id), pls: None, expected });
    }
    // Consumers connecting to our Private Link Service: no event reaches us, the MpePlsScan timer finds
    // them; one from the allowed subscription, one from a stranger's.
    let pls = demo_pls();
    h.sim.add_pls(&pls)?;
    for (name, sub, endpoint, message, expected) in [
        ("PLS consumer, allowed subscription", PLS_CONSUMER, "pe-team-a", "CHG0001 for team A", Expect::Approved),
        ("PLS consumer, unknown subscription", PLS_STRANGER, "pe-who", "let me in", Expect::NotApproved),
    ] {
        let conn = h.sim.connect_to_pls(&pls, sub, endpoint, message)?;
        cases.push(Case {
            name: name.into(),
            service: "Private Link Service",
            target_label: "our PLS",
            mpe: None,
            pls: Some((pls.clone(), conn)),
            expected,
        });
    }
    // A stranger's pending PEC on the busiest target: it must stay pending.
    h.sim.add_stranger(&storage, "someone-elses-endpoint")?;
    // Deliver the events; the first one twice (Event Grid is at-least-once). A source without ARM events
    // has none: the MpeDiscover timer finds it.
    for (i, c) in cases.iter().enumerate() {
        let evented =
            c.mpe.as_ref().and_then(mpe_approver::providers::for_id).is_some_and(|p| p.data_plane().is_none());
        if let Some(id) = c.mpe.as_ref().filter(|_| evented) {
            let ev = simulator::write_success_event(id, h.clock.now());
            h.host.deliver_event(&ev).await?;
            if i == 0 {
                h.host.deliver_event(&ev).await?;
            }
        }
    }
    // A write that is not an MPE: ignored.
    let other =
        simulator::resource_write_success_event(&storage, "Microsoft.Storage/storageAccounts/write", h.clock.now());
    let r = h.host.deliver_event(&other).await?;
    let ignored = r.success && r.logs.iter().any(|l| l.contains("ignored"));
    cases.push(Case {
        name: "storage account write (not an MPE)".into(),
        service: "-",
        target_label: "-",
        mpe: None,
        pls: None,
        expected: Expect::Ignored,
    });
    Ok((cases, if ignored { "ignored".into() } else { format!("not ignored: {:?}", r.logs) }))
}

fn parked_reason(h: &Harness, id: &ResourceId) -> Option<String> {
    h.sim
        .parked()
        .into_iter()
        .find(|m| m.properties.get(props::MPE_ID).is_some_and(|v| v.eq_ignore_ascii_case(id.as_str())))
        .map(|m| m.properties.get(props::PARK_REASON).cloned().unwrap_or_default())
}

fn pending_work_for(h: &Harness, id: &ResourceId) -> bool {
    let key = id.key();
    h.sim.work_messages().iter().any(|m| m.body.to_ascii_lowercase().contains(&key))
}

fn judge(h: &Harness, cases: &[Case], ignored_outcome: &str) -> Vec<CaseResult> {
    let report = h.sim.report();
    cases
        .iter()
        .map(|c| {
            if let Some((pls, conn)) = &c.pls {
                let now = h.sim.pls_connection(pls, conn);
                let approved = now.as_ref().is_some_and(|p| p.status == simulator::ConnectionStatus::Approved);
                let outcome = match &now {
                    Some(p) => format!("{:?} (by the scan: {})", p.status, p.changed_by.is_some()).to_lowercase(),
                    None => "unknown to the simulator".into(),
                };
                let ok = match c.expected {
                    Expect::Approved => approved,
                    _ => now.as_ref().is_some_and(|p| p.status == simulator::ConnectionStatus::Pending),
                };
                return CaseResult {
                    case: c.name.clone(),
                    service: c.service.into(),
                    target: c.target_label.into(),
                    mpe_id: None,
                    expected: c.expected,
                    outcome: if approved {
                        "approved".into()
                    } else if ok {
                        "left pending".into()
                    } else {
                        outcome
                    },
                    ok,
                    pending_to_approved_secs: None,
                    arm_calls: 0,
                    race_violations: 0,
                };
            }
            let Some(id) = &c.mpe else {
                return CaseResult {
                    case: c.name.clone(),
                    service: c.service.into(),
                    target: c.target_label.into(),
                    mpe_id: None,
                    expected: c.expected,
                    outcome: ignored_outcome.into(),
                    ok: ignored_outcome == "ignored",
                    pending_to_approved_secs: None,
                    arm_calls: 0,
                    race_violations: 0,
                };
            };
            let m = report.mpe(id.as_str());
            let races = report
                .violations
                .iter()
                .filter(|v| v.mpe.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(id.as_str())))
                .count();
            // Approved: its PEC approved and the MPE itself reporting it (Grafana's after a refresh).
            let approved = m.is_some_and(|m| m.approved_by.is_some() && m.phase == "Approved");
            let parked = parked_reason(h, id);
            let still_working = pending_work_for(h, id);
            let outcome = match (m, &parked) {
                (Some(_), _) if approved => "approved".to_string(),
                (_, Some(reason)) => format!("parked: {}", reason.chars().take(60).collect::<String>()),
                (Some(m), None) if m.deleted_at.is_some() => "MPE deleted; nothing approved".into(),
                (Some(m), None) if m.rejected_at.is_some() => "rejected by a human; left alone".into(),
                (Some(m), None) if still_working => format!("still checking ({})", m.phase),
                (Some(m), None) => format!("ended without approval ({})", m.phase),
                (None, None) => "unknown to the simulator".into(),
            };
            let ok = races == 0
                && match c.expected {
                    Expect::Approved => approved,
                    Expect::NotApproved => !approved && !still_working,
                    Expect::Parked => !approved && parked.as_deref().is_some_and(|r| r.contains("ambiguous")),
                    Expect::Ignored => false,
                };
            CaseResult {
                case: c.name.clone(),
                service: c.service.into(),
                target: c.target_label.into(),
                mpe_id: Some(id.to_string()),
                expected: c.expected,
                outcome,
                ok,
                pending_to_approved_secs: m.and_then(|m| m.approval_latency_secs),
                arm_calls: m.map(|m| m.arm_calls).unwrap_or(0),
                race_violations: races,
            }
        })
        .collect()
}

/// Run the demo.
pub async fn run(opts: &DemoOptions) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let settings = settings();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let h = Harness::start(opts.time_scale, &extra).await?;
    let t0 = h.clock.now();
    let pump = h.host.run_queue_pump("mpe-approvals", Duration::from_millis(10))?;
    let (cases, ignored) = set_up(&h).await?;
    // The MpePlsScan timer, once: it finds the consumers waiting at our Private Link Service.
    let timer = serde_json::json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false});
    let scan =
        h.host.invoke("MpePlsScan", [("timer".to_string(), timer)].into_iter().collect(), Default::default(), 1).await;
    anyhow::ensure!(scan.success, "the MpePlsScan timer failed: {scan:?}");
    // The MpeDiscover timer, every simulated minute: it finds the MPEs that raise no ARM event.
    let discover = || async {
        let timer = serde_json::json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false});
        h.host.invoke("MpeDiscover", [("timer".to_string(), timer)].into_iter().collect(), Default::default(), 1).await
    };
    let mut discovered_at = h.clock.now();
    let run = discover().await;
    anyhow::ensure!(run.success, "the MpeDiscover timer failed: {run:?}");
    let mut last_progress = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let results = judge(&h, &cases, &ignored);
        let settled = results.iter().filter(|r| r.ok).count();
        let elapsed = (h.clock.now() - t0).to_std().unwrap_or_default();
        let idle = h.sim.work_messages().is_empty();
        quiet_since = if idle { quiet_since.or(Some(Instant::now())) } else { None };
        if opts.progress && last_progress.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "  [simulated +{:>4.0}s] {settled}/{} cases settled, {} checks queued",
                elapsed.as_secs_f64(),
                results.len(),
                h.sim.work_messages().len()
            );
            let _ = std::io::stderr().flush();
            last_progress = Instant::now();
        }
        if h.clock.now() - discovered_at >= chrono::Duration::seconds(60) {
            discovered_at = h.clock.now();
            let run = discover().await;
            anyhow::ensure!(run.success, "the MpeDiscover timer failed: {run:?}");
        }
        let done = settled == results.len() || quiet_since.is_some_and(|q| q.elapsed() > Duration::from_millis(500));
        if done || elapsed > opts.timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pump.stop().await;
    let results = judge(&h, &cases, &ignored);
    let report = h.sim.report();
    let race_violations = report.violations.iter().filter(|v| v.kind == simulator::ViolationKind::Race).count();
    let other_violations: Vec<String> = report
        .violations
        .iter()
        .filter(|v| v.kind != simulator::ViolationKind::Race)
        .map(|v| format!("{:?}: {}", v.kind, v.detail))
        .collect();
    let ok = results.iter().all(|r| r.ok) && race_violations == 0 && other_violations.is_empty();
    Ok(DemoReport {
        time_scale: opts.time_scale,
        simulated_secs: (h.clock.now() - t0).num_milliseconds() as f64 / 1000.0,
        real_secs: started.elapsed().as_secs_f64(),
        arm_calls_total: report.arm_calls_total,
        race_violations,
        other_violations,
        invocations: report.invocations.total,
        failed_invocations: report.invocations.failed,
        parked: h.sim.parked().len(),
        cases: results,
        ok,
    })
}

/// The summary table.
pub fn render(r: &DemoReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\nmpe-approver demo: local Azure simulator, time compressed {}x ({:.0} simulated s in {:.1} real s); times below are simulated\n\n",
        r.time_scale, r.simulated_secs, r.real_secs
    ));
    out.push_str(&format!(
        "{:<42} {:<25} {:<23} {:<12} {:<44} {:>9} {:>5} {:>5}\n",
        "case", "service", "target", "expected", "outcome", "pend→appr", "ARM", "races"
    ));
    out.push_str(&format!("{}\n", "-".repeat(172)));
    for c in &r.cases {
        let latency = c.pending_to_approved_secs.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into());
        let expected = match c.expected {
            Expect::Approved => "approve",
            Expect::NotApproved => "leave alone",
            Expect::Parked => "park",
            Expect::Ignored => "ignore",
        };
        out.push_str(&format!(
            "{:<42} {:<25} {:<23} {:<12} {:<44} {:>9} {:>5} {:>5} {}\n",
            c.case,
            c.service,
            c.target,
            expected,
            c.outcome.chars().take(44).collect::<String>(),
            latency,
            c.arm_calls,
            c.race_violations,
            if c.ok { "ok" } else { "FAIL" }
        ));
    }
    out.push_str(&format!(
        "\nARM calls: {}   invocations: {} ({} failed and retried)   parked: {}   race violations: {}   other violations: {}\n",
        r.arm_calls_total,
        r.invocations,
        r.failed_invocations,
        r.parked,
        r.race_violations,
        r.other_violations.len()
    ));
    for v in &r.other_violations {
        out.push_str(&format!("  violation: {v}\n"));
    }
    out.push_str(if r.ok { "result: OK\n" } else { "result: FAILED\n" });
    out
}
