//! What every strategy's run shares: the simulated Azure with the scenario's throttling and ARM's
//! latency, the tenant's targets and strangers, the MPEs created at their moments, and the wait until
//! every MPE is settled (or the run's limit).

use crate::tenant::{Planned, Tenant};
use azure_sim::{Dependency, RpThrottle, SimOptions, Simulator, Throttle};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A scenario: which throttling Azure applies.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub what: String,
    pub throttle: Option<Throttle>,
    pub rp_throttle: Option<RpThrottle>,
}

impl Scenario {
    /// ARM's per-subscription budget (every 40th call 429, the remaining count falling to it first) and
    /// every resource provider's own 429s without warning (every 30th call to a namespace of a
    /// subscription), both with a 2 s `Retry-After`.
    pub fn tenant() -> Scenario {
        Scenario {
            name: "tenant",
            what: "ARM's budget: every 40th call of a subscription 429 + 2 s (x-ms-ratelimit-remaining-* counting down to it); \
                   each resource provider: every 30th call to its namespace in a subscription 429 + 2 s, without warning"
                .into(),
            throttle: Some(Throttle { every: 40, wait: Duration::from_secs(2) }),
            rp_throttle: Some(RpThrottle { every: 30, wait: Duration::from_secs(2), namespaces: vec![] }),
        }
    }

    /// No throttling at all: what a schedule costs and gains with ARM and the providers always answering.
    pub fn calm() -> Scenario {
        Scenario {
            name: "calm",
            what: "no throttling: ARM and every provider answer every call".into(),
            throttle: None,
            rp_throttle: None,
        }
    }

    /// The seed article's mix ([`crate::tenant::Tenant::seed_mix`]), as the demo runs it: no throttling.
    pub fn seed_mix() -> Scenario {
        Scenario {
            name: "seed-mix",
            what: "the seed article's mix (Stream Analytics → Storage and → IoT Hub, Data Explorer, Data Factory, \
                   SignalR, Web PubSub, an MPE deleted and one rejected before they are ready, strangers' PECs), \
                   without throttling"
                .into(),
            throttle: None,
            rp_throttle: None,
        }
    }

    /// Issue #20 item 4: only a provider's 429s, every 5th call, 1 s `Retry-After`, no remaining count
    /// falling first (as the emulator run: 200 MPEs over 20 subscriptions).
    pub fn rp_storm() -> Scenario {
        Scenario {
            name: "rp-storm",
            what: "no ARM budget; each resource provider: every 5th call to its namespace in a subscription 429 + 1 s, without warning".into(),
            throttle: None,
            rp_throttle: Some(RpThrottle { every: 5, wait: Duration::from_secs(1), namespaces: vec![] }),
        }
    }

    pub fn options(&self) -> SimOptions {
        SimOptions { throttle: self.throttle, rp_throttle: self.rp_throttle.clone(), ..Default::default() }
    }
}

/// How a run is played: time compression, ARM's latency, how long to wait for stragglers.
#[derive(Debug, Clone, Copy)]
pub struct Play {
    pub time_scale: f64,
    /// ARM's answer time per call (simulated).
    pub arm_latency: Duration,
    /// Simulated time after the last MPE's readiness before the run stops waiting.
    pub grace: Duration,
    /// Ours: invocations of `MpeCheck` in flight at most (host.json's `maxConcurrentCalls`, one instance).
    pub max_concurrent_calls: usize,
    /// Ours: app settings set on the handler beyond the deployed defaults (`--set NAME=VALUE`).
    pub settings: &'static [(String, String)],
}

impl Play {
    /// ARM's latency in the simulator's real time.
    pub fn set_latency(&self, sim: &Simulator) {
        let real = self.arm_latency.div_f64(self.time_scale);
        if !real.is_zero() {
            sim.set_latency(Dependency::ArmRead, Some(real));
            sim.set_latency(Dependency::ArmWrite, Some(real));
        }
    }
}

/// The targets and strangers' PECs, before any MPE.
pub fn populate(sim: &Simulator, tenant: &Tenant) -> anyhow::Result<()> {
    for t in &tenant.targets {
        sim.add_target(t)?;
    }
    for (t, name) in &tenant.strangers {
        sim.add_stranger(t, name)?;
    }
    Ok(())
}

/// Sleep until `t0 + offset` of the simulator's time.
pub async fn until(sim: &Simulator, t0: DateTime<Utc>, offset: Duration) {
    let at = t0 + chrono::Duration::from_std(offset).unwrap_or_default();
    loop {
        let now = sim.clock().now();
        let Ok(left) = (at - now).to_std() else { return };
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(sim.clock().real(left)).await;
    }
}

/// Create the tenant's MPEs at their moments, calling `created` right after each.
pub async fn create_all(sim: &Simulator, tenant: &Tenant, t0: DateTime<Utc>, mut created: impl FnMut(&Planned)) {
    for m in &tenant.mpes {
        until(sim, t0, m.created).await;
        if let Err(e) = sim.add_mpe(m.spec()) {
            eprintln!("  could not create {}: {e}", m.id);
            continue;
        }
        created(m);
    }
}

/// Wait until `settled()` reaches the MPEs to approve, or the run's limit (the last readiness + grace).
pub async fn wait_settled(
    sim: &Simulator,
    tenant: &Tenant,
    t0: DateTime<Utc>,
    play: &Play,
    settled: impl Fn() -> usize,
) {
    let last_ready = tenant.mpes.iter().map(|m| m.created + m.pending_after).max().unwrap_or_default() + play.grace;
    let limit = t0 + chrono::Duration::from_std(last_ready).unwrap_or_default();
    loop {
        if settled() >= tenant.to_approve() || sim.clock().now() > limit {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// MPEs whose PEC is approved now.
pub fn approved(sim: &Simulator) -> usize {
    sim.mpe_reports().iter().filter(|m| m.pec_approved_at.is_some()).count()
}
