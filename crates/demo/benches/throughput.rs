//! `cargo bench -p mpe-demo`: figures, not assertions.
//!
//! 1. Memory under a response body without end: RSS before and after the ARM client reads an endless
//!    chunked body from a local server (the streaming size cap must stop it).
//! 2. The pure decision: ns per `decide()` with a target holding 20 PECs.
//! 3. A burst of MPEs through the simulator and the in-process handler (compressed time): real time
//!    until all are approved, invocation latency percentiles, ARM calls per MPE, peak RSS.
//! 4. The same under a busy tenant's throttling (the simulator's `SimOptions::throttle`): 200 MPEs
//!    across 20 subscriptions, every 25th call of a subscription 429 with a 20 s wait, then every 5th
//!    with a 1 s wait: outcomes, wrong approvals, ARM calls per approval, calls made inside a
//!    subscription's wait, failed invocations, pending→approved percentiles.
//!
//! `cargo bench -p mpe-demo --bench throughput -- throttled` runs only the throttled runs;
//! `cargo bench -p mpe-demo --bench throughput -- endless-body` runs only the first (it needs no
//! optimised build to be meaningful: `cargo bench -p mpe-demo --profile dev --bench throughput -- endless-body`).

#[path = "../tests/faulty_server/mod.rs"]
mod faulty_server;

#[path = "../tests/common/mod.rs"]
mod common;

use azure_sim::{write_success_event, MpeSpec, SimOptions, Throttle};
use common::in_group;
use mpe_approver::decision::{decide, Action, MpeRead, PecList, Progress, Rules, Schedule, Seen};
use mpe_approver::naming::EndpointNames;
use mpe_approver::pec::{Pec, PecStatus};
use mpe_approver::policy::{AllowList, Policy, Tags};
use mpe_approver::providers::{MpeStatus, MpeView};
use mpe_approver::resource_id::ResourceId;
use mpe_demo::Harness;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUB: &str = "7d3c2b1a-0000-4000-8000-00000000be4c";

fn bench_decide() {
    let target = in_group(SUB, "rg/providers/Microsoft.Storage/storageAccounts/st");
    let view = MpeView {
        id: in_group(SUB, "rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe-7"),
        target: target.clone(),
        group_id: Some("blob".into()),
        request_message: None,
        status: MpeStatus::AwaitingApproval,
        raw_status: String::new(),
        created_at: None,
        endpoint_id: None,
        endpoint_name: None,
    };
    let now = chrono::Utc::now();
    let pecs: Vec<Pec> = (0..20)
        .map(|i| Pec {
            id: format!("{target}/privateEndpointConnections/pe-{i}.guid"),
            endpoint_id: Some(format!(
                "/subscriptions/x/resourceGroups/m/providers/Microsoft.Network/privateEndpoints/pe-{i}"
            )),
            status: if i % 3 == 0 { PecStatus::Approved } else { PecStatus::Pending },
            description: None,
            group_ids: vec![],
            provisioning_state: None,
            etag: None,
        })
        .collect();
    let (schedule, policy, any) = (Schedule::default(), Policy::default(), AllowList::default());
    let names = EndpointNames::default();
    let rules = Rules {
        schedule: &schedule,
        policy: &policy,
        sources: &any,
        targets: &any,
        customer_subscriptions: vec![],
        dry_run: false,
        endpoint_names: &names,
        opted_in: vec![],
        groups: Default::default(),
        readiness: None,
    };
    let mut seen = Seen {
        mpe_id: view.id.clone(),
        first_seen: now,
        approving: None,
        progress: Progress { attempt: 0, elapsed: Duration::from_secs(10), now },
        delivery: 1,
        members: 1,
        unmatched: 0,
        mpe: Some(MpeRead::Found(Box::new(view))),
        approving_pec: None,
        pecs: Some(PecList::All(pecs)),
        tags: Some(Tags::default()),
        approval: None,
        refreshed: false,
        failure: None,
    };
    let n = 200_000u32;
    let start = Instant::now();
    let mut approvals = 0;
    for i in 0..n {
        seen.progress.attempt = i % 50;
        if matches!(decide(&seen, &rules), Action::Approve(_)) {
            approvals += 1;
        }
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    println!("decide(): {per:.0} ns per decision over 20 PECs ({n} decisions, {approvals} approvals)");
}

/// A `/proc/self/status` figure in KiB: `VmHWM` (peak RSS) or `VmRSS` (current).
fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

struct BenchTokens;
#[async_trait::async_trait]
impl mpe_approver::auth::TokenSource for BenchTokens {
    async fn token(&self, _: &str) -> Result<String, mpe_approver::auth::AuthError> {
        Ok("bench".into())
    }
}

/// RSS before and after reading an endless chunked body through the ARM client (production limits).
async fn bench_endless_body() -> anyhow::Result<()> {
    use mpe_approver::arm::{ArmClient, MAX_BODY};
    let server =
        faulty_server::start(faulty_server::Fault::EndlessChunked { status: "200 OK", chunk: 64 * 1024 }).await;
    let arm = ArmClient::new(
        &url::Url::parse(&server.url())?,
        "https://management.azure.com".into(),
        Arc::new(BenchTokens),
        Arc::new(mpe_approver::clock::SystemClock),
    )?;
    let id = ResourceId::parse(&format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe"
    ))?;
    let (rss0, hwm0) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
    let started = Instant::now();
    let outcome = match arm.get(&id, "2020-03-01").await {
        Ok(_) => "read to the end (unexpected)".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    let took = started.elapsed();
    let (rss1, hwm1) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
    let sent = server.body_bytes_written.load(std::sync::atomic::Ordering::Relaxed);
    println!("endless chunked body through the ARM client (cap {} MiB):", MAX_BODY / (1024 * 1024));
    println!("  {outcome}");
    println!(
        "  after {:.0} ms; the server had written {:.1} MiB; RSS {} -> {}, peak RSS {} -> {}",
        took.as_secs_f64() * 1000.0,
        sent as f64 / (1024.0 * 1024.0),
        mib(rss0),
        mib(rss1),
        mib(hwm0),
        mib(hwm1)
    );
    Ok(())
}

async fn bench_burst(n: usize, scale: f64) -> anyhow::Result<()> {
    let h = Harness::start(scale, &[]).await?;
    let targets: Vec<ResourceId> =
        (0..10).map(|i| in_group(SUB, &format!("rg/providers/Microsoft.Storage/storageAccounts/st{i}"))).collect();
    for t in &targets {
        h.sim.add_target(t)?;
    }
    let mut ids = Vec::new();
    for i in 0..n {
        let id = in_group(
            SUB,
            &format!("rg/providers/Microsoft.StreamAnalytics/clusters/c{}/privateEndpoints/pe{i}", i % 7),
        );
        let pending = 3 + (i % 20) as u64;
        h.sim.add_mpe(
            MpeSpec::new(id.clone(), targets[i % targets.len()].clone())
                .timing(Duration::from_secs(2), Duration::from_secs(pending)),
        )?;
        ids.push(id);
    }
    let started = Instant::now();
    let pump = h.host.run_queue_pump("mpe-approvals", Duration::from_millis(5))?;
    for id in &ids {
        h.host.deliver_event(&write_success_event(id, mpe_approver::clock::Clock::now(h.clock.as_ref()))).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = h.sim.report();
        let approved = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count();
        if approved == n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let real = started.elapsed();
    pump.stop().await;
    let r = h.sim.report();
    let approved = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count();
    let mut lat: Vec<f64> = r.mpes.iter().filter_map(|m| m.approval_latency_secs).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let mut inv: Vec<f64> =
        r.invocations.records.iter().filter(|i| i.function == "MpeCheck").map(|i| i.duration_ms).collect();
    inv.sort_by(|a, b| a.total_cmp(b));
    let pct = |v: &[f64], p: f64| v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    println!(
        "burst: {approved}/{n} MPEs approved in {:.1} s real ({scale}x compressed), {} races",
        real.as_secs_f64(),
        r.violations.len()
    );
    println!(
        "  pending→approved (simulated s): p50 {:.1}  p99 {:.1}  max {:.1}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  MpeCheck invocations: {}  latency ms p50 {:.1}  p99 {:.1}  (includes approval confirmation waits)",
        inv.len(),
        pct(&inv, 0.5),
        pct(&inv, 0.99)
    );
    println!("  ARM calls: {} total, {:.1} per MPE", r.arm_calls_total, r.arm_calls_total as f64 / n as f64);
    if let Some(kib) = peak_rss_kib() {
        println!("  peak RSS of simulator + handler + host in one process: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}

/// 200 MPEs across 20 subscriptions (one Storage target each, the default same-subscription policy)
/// under `throttle`, in compressed time; prints the figures README's "When Azure misbehaves" quotes.
async fn bench_throttled(n: usize, subs: usize, throttle: Throttle, scale: f64) -> anyhow::Result<()> {
    let options = SimOptions { throttle: Some(throttle), ..Default::default() };
    let h = Harness::start_with(scale, &[], options).await?;
    let sub_ids: Vec<String> = (0..subs).map(|s| format!("7d3c2b1a-0000-4000-8000-{s:012x}")).collect();
    let targets: Vec<ResourceId> =
        sub_ids.iter().map(|s| in_group(s, "rg/providers/Microsoft.Storage/storageAccounts/st")).collect();
    for t in &targets {
        h.sim.add_target(t)?;
    }
    let mut ids = Vec::new();
    for i in 0..n {
        let s = i % subs;
        let id = in_group(
            &sub_ids[s],
            &format!("rg/providers/Microsoft.StreamAnalytics/clusters/c{}/privateEndpoints/pe{i}", i % 3),
        );
        let pending = 3 + (i % 20) as u64;
        h.sim.add_mpe(
            MpeSpec::new(id.clone(), targets[s].clone()).timing(Duration::from_secs(2), Duration::from_secs(pending)),
        )?;
        ids.push(id);
    }
    let started = Instant::now();
    let t0 = mpe_approver::clock::Clock::now(h.clock.as_ref());
    let pump = h.host.run_queue_pump("mpe-approvals", Duration::from_millis(5))?;
    for id in &ids {
        h.host.deliver_event(&write_success_event(id, mpe_approver::clock::Clock::now(h.clock.as_ref()))).await?;
    }
    // At most 30 simulated minutes (the give-up time is 2 h): every MPE approved, parked or dead-lettered.
    let limit = chrono::Duration::minutes(30);
    loop {
        let r = h.sim.report();
        let approved = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count();
        let settled = approved + h.sim.parked().len() + h.sim.dead_letters().len();
        if settled >= n || mpe_approver::clock::Clock::now(h.clock.as_ref()) - t0 > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let real = started.elapsed();
    let simulated = (mpe_approver::clock::Clock::now(h.clock.as_ref()) - t0).num_milliseconds() as f64 / 1000.0;
    pump.stop().await;
    let r = h.sim.report();
    let approved = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count();
    let puts: u64 = r.mpes.iter().map(|m| u64::from(m.approve_puts)).sum();
    let reads = r.arm_calls_total.saturating_sub(puts);
    let mut lat: Vec<f64> = r.mpes.iter().filter_map(|m| m.approval_latency_secs).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |v: &[f64], p: f64| v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    let per = |x: u64| if approved == 0 { f64::NAN } else { x as f64 / approved as f64 };
    let t = r.throttle;
    println!(
        "throttled: {n} MPEs across {subs} subscriptions, every {}th call of a subscription 429 + {} s wait \
         ({simulated:.0} simulated s in {:.1} s real, {scale}x compressed):",
        throttle.every,
        throttle.wait.as_secs(),
        real.as_secs_f64()
    );
    println!(
        "  approved {approved}/{n}, parked {}, dead-lettered {}, wrong approvals (race violations) {}",
        h.sim.parked().len(),
        h.sim.dead_letters().len(),
        r.violations.len()
    );
    println!(
        "  ARM calls {} ({:.1} per approval; reads {reads}, {:.1} per approval); 429s that started a wait {}",
        r.arm_calls_total,
        per(r.arm_calls_total),
        per(reads),
        t.waits_started
    );
    println!(
        "  calls inside a subscription's wait: {} ({:.1}% of calls)",
        t.inside_wait,
        if r.arm_calls_total == 0 { 0.0 } else { 100.0 * t.inside_wait as f64 / r.arm_calls_total as f64 }
    );
    println!(
        "  invocations {} ({} failed, i.e. redelivered); pending→approved (simulated s): median {:.1}  p95 {:.1}  max {:.1}",
        r.invocations.total,
        r.invocations.failed,
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let only_endless = std::env::args().any(|a| a == "endless-body");
    let only_throttled = std::env::args().any(|a| a == "throttled");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if !only_throttled {
        // First, while the process is small, so its peak RSS is the body's doing.
        rt.block_on(bench_endless_body())?;
        if only_endless {
            return Ok(());
        }
        bench_decide();
        rt.block_on(bench_burst(300, 20.0))?;
    }
    for (every, wait) in [(25, 20), (5, 1)] {
        rt.block_on(bench_throttled(200, 20, Throttle { every, wait: Duration::from_secs(wait) }, 20.0))?;
    }
    Ok(())
}
