//! Ours: the real handler chain, as deployed today (no setting changed). Each MPE's creation delivers
//! an Event Grid `ResourceWriteSuccess` event to `MpeEvent`, which queues the first check; the host
//! emulator's Service Bus trigger delivers checks to `MpeCheck` with at most host.json's
//! `maxConcurrentCalls` in flight per instance; every check runs on the approver's own schedule. With
//! more than one instance (`ours2`, `ours4`: Flex Consumption adds instances as the queue grows), each
//! is its own handler process's state (its throttling book, its shared reads) and its own host pump
//! on the one simulated queue.

use crate::figures::{CpuWatch, Figures};
use crate::tenant::Tenant;
use crate::world::{self, Play, Scenario};
use azure_sim::write_success_event;
use mpe_demo::Harness;
use std::time::{Duration, Instant};

/// host.json's `extensions.serviceBus.maxConcurrentCalls`, as deployed: one instance's slots.
pub fn max_concurrent_calls() -> anyhow::Result<usize> {
    let host: serde_json::Value = serde_json::from_str(include_str!("../../../../host.json"))?;
    let n = host.pointer("/extensions/serviceBus/maxConcurrentCalls").and_then(serde_json::Value::as_u64);
    let n = n.ok_or_else(|| anyhow::anyhow!("host.json sets no extensions.serviceBus.maxConcurrentCalls"))?;
    Ok(usize::try_from(n)?)
}

/// The strategy's name for `instances` handler instances, learning readiness or not.
pub fn name(instances: usize, learn: bool) -> String {
    match (instances, learn) {
        (0 | 1, false) => "ours".into(),
        (0 | 1, true) => "ours, learning".into(),
        (n, false) => format!("ours ×{n}"),
        (n, true) => format!("ours ×{n}, learning"),
    }
}

/// Ours with `instances` handler instances; `learn`: with `MPE_LEARN_READINESS=true`.
pub async fn run(
    tenant: &Tenant,
    scenario: &Scenario,
    play: &Play,
    instances: usize,
    learn: bool,
) -> anyhow::Result<Figures> {
    let mut settings: Vec<(&str, &str)> = play.settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if learn {
        settings.push(("MPE_LEARN_READINESS", "true"));
    }
    let h = Harness::start_with(play.time_scale, &settings, scenario.options()).await?;
    play.set_latency(&h.sim);
    world::populate(&h.sim, tenant)?;
    let mut hosts = vec![h.host.clone()];
    let mut handlers = Vec::new();
    for _ in 1..instances.max(1) {
        let (url, task, _) = mpe_demo::serve_handler(&h.sim, h.clock.clone(), &settings).await?;
        let host = h.sim.host(&url);
        host.wait_ready(Duration::from_secs(10)).await?;
        hosts.push(host);
        handlers.push(task);
    }
    let (cpu0, real0) = (CpuWatch::start(), Instant::now());
    let t0 = h.sim.clock().now();
    let mut pumps = Vec::new();
    for host in &hosts {
        pumps.push(host.run_queue_pump_limited(
            h.sim.work_queue_name(),
            Duration::from_millis(5),
            play.max_concurrent_calls,
        )?);
    }
    let mut events = tokio::task::JoinSet::new();
    world::create_all(&h.sim, tenant, t0, |m| {
        let host = h.host.clone();
        let event = write_success_event(&m.id, h.sim.clock().now());
        events.spawn(async move { host.deliver_event(&event).await.map(|_| ()) });
    })
    .await;
    let settled = || world::approved(&h.sim) + h.sim.parked().len() + h.sim.dead_letters().len();
    world::wait_settled(&h.sim, tenant, t0, play, settled).await;
    let simulated = (h.sim.clock().now() - t0).to_std().unwrap_or_default();
    let real = real0.elapsed();
    for pump in pumps {
        pump.stop().await;
    }
    for task in handlers {
        task.abort();
    }
    events.abort_all();
    // The MPEs with a check still queued when the run stopped (scheduled or due): not lost, not done.
    let queued: std::collections::HashSet<String> = h
        .sim
        .work_messages()
        .iter()
        .filter_map(|m| {
            let v: serde_json::Value = serde_json::from_str(&m.body).ok()?;
            Some(v.get("mpeId")?.as_str()?.to_ascii_lowercase())
        })
        .collect();
    let cpu = cpu0.stop();
    let r = h.sim.report();
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for m in h.sim.parked() {
        *reasons.entry(m.properties.get("parkcode").cloned().unwrap_or_default()).or_default() += 1;
    }
    let mut f = Figures::from_report(
        &name(instances, learn),
        tenant,
        &r,
        h.sim.parked().len(),
        h.sim.dead_letters().len(),
        Some(h.sim.work_queue_name()),
        simulated,
        real,
        cpu,
        play.time_scale,
    );
    // How long the checks held their slots (simulated seconds: real ones × the compression).
    let mut held: Vec<f64> = r
        .invocations
        .records
        .iter()
        .filter(|i| i.function == "MpeCheck")
        .map(|i| i.duration_ms / 1000.0 * play.time_scale)
        .collect();
    held.sort_by(f64::total_cmp);
    let busy: f64 = held.iter().sum();
    f.notes.push(format!(
        "MpeCheck: {} invocations ({} failed), each held its slot p50 {:.2} s, p95 {:.2} s, max {:.1} s; slots busy {:.0} % of the run",
        held.len(),
        r.invocations.failed,
        crate::figures::pct(&held, 0.5),
        crate::figures::pct(&held, 0.95),
        held.last().copied().unwrap_or(0.0),
        100.0 * busy / ((play.max_concurrent_calls * instances.max(1)) as f64 * simulated.as_secs_f64().max(1e-9))
    ));
    let unapproved: Vec<&str> = r
        .mpes
        .iter()
        .filter(|m| m.pec_approved_at.is_none() && tenant.approves(&m.id))
        .map(|m| m.id.as_str())
        .collect();
    if !unapproved.is_empty() {
        let still = unapproved.iter().filter(|id| queued.contains(&id.to_ascii_lowercase())).count();
        let lost = unapproved.len().saturating_sub(still + f.parked + f.dead_lettered);
        f.notes.push(format!(
            "of the {} MPEs not approved when the run stopped, {still} had a check still queued, {} were parked, {} \
             dead-lettered: {}",
            unapproved.len(),
            f.parked,
            f.dead_lettered,
            if lost == 0 { "nothing lost".to_string() } else { format!("{lost} with no check left") }
        ));
    }
    if !reasons.is_empty() {
        f.notes.push(format!("parked: {reasons:?}"));
    }
    Ok(f)
}
