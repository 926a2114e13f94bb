//! The obvious alternative, the seed article's sample run for every MPE: from its creation, every N
//! seconds GET the MPE; once it reports its connection pending (or, for a service that reports only
//! whether the MPE is provisioned, Data Explorer, once it is), list the target's PECs and approve the
//! Pending one that is the MPE's (the same rule as ours: the private endpoint the service names after
//! the MPE, or where the service publishes no name, the MPE's request message) with a PUT of the whole
//! PEC back, Approved; then stop. One loop per MPE, as one script per deployment.
//!
//! It reads bodies through the approver's provider adapters and PEC parser (a script would hard-code
//! each service's fields; reading them the same way keeps the comparison about the schedule). It
//! honours a 429 as the Azure SDKs' retry policy does: the same request again after `Retry-After`
//! (5 s without one), at most 3 times; it reads no `x-ms-ratelimit-remaining-*` header and keeps no
//! state per subscription.

use crate::figures::{CpuWatch, Figures};
use crate::tenant::Tenant;
use crate::world::{self, Play, Scenario};
use azure_sim::{SharedClock, SimOptions, Simulator};
use mpe_approver::pec::{self, PecStatus};
use mpe_approver::providers::{self, MpeStatus};
use mpe_approver::resource_id::ResourceId;
use mpe_approver::targets;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A 429 or 5xx is asked again at most this many times.
const RETRIES: u32 = 3;

struct Arm {
    http: reqwest::Client,
    base: String,
    token: String,
    clock: SharedClock,
}

impl Arm {
    /// One request, with the SDK-style retries; `None` when no answer came.
    async fn call(&self, method: reqwest::Method, path_or_url: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        for attempt in 0..=RETRIES {
            let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.ok()?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = resp.bytes().await.ok()?;
            if (status == 429 || status >= 500) && attempt < RETRIES {
                let wait = retry_after.unwrap_or(Duration::from_secs(5));
                tokio::time::sleep(self.clock.real(wait)).await;
                continue;
            }
            return Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
        }
        None
    }
}

/// What one look at an MPE ended with.
enum Look {
    /// Approved (by this PUT or before), gone, or ended otherwise: stop polling it.
    Done,
    Again,
}

async fn look(arm: &Arm, id: &ResourceId, label: &str) -> Look {
    let Some(provider) = providers::for_id(id) else { return Look::Done };
    let path = format!("{id}?api-version={}", provider.api_version());
    let Some((status, body)) = arm.call(reqwest::Method::GET, &path, None).await else { return Look::Again };
    match status {
        404 => return Look::Done,
        200 => {}
        _ => return Look::Again,
    }
    let Ok(view) = provider.parse(id, &body) else { return Look::Again };
    // A service that reports only "provisioned" (Data Explorer): its PEC says whether it awaits approval.
    match view.status {
        MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget => {}
        MpeStatus::Provisioning(_) | MpeStatus::Unknown(_) => return Look::Again,
        _ => return Look::Done,
    }
    let Some(tt) = targets::lookup(&view.target) else { return Look::Done };
    let mut next = Some(if tt.list {
        format!("{}/privateEndpointConnections?api-version={}", view.target, tt.api_version)
    } else {
        format!("{}?api-version={}", view.target, tt.api_version)
    });
    let name = provider.endpoint_name(id);
    let ours = |p: &pec::Pec| match &name {
        Some(n) => p.endpoint_name().is_some_and(|e| e.eq_ignore_ascii_case(n)),
        None => p.description.is_some() && p.description == view.request_message,
    };
    while let Some(link) = next.take() {
        let Some((200, page)) = arm.call(reqwest::Method::GET, &link, None).await else { return Look::Again };
        let Ok((items, next_link)) = pec::list_items(&page) else { return Look::Again };
        next = next_link.map(str::to_string);
        for item in items {
            let Ok(p) = pec::parse_pec(item) else { continue };
            if !ours(&p) {
                continue;
            }
            match p.status {
                PecStatus::Pending => {}
                PecStatus::Approved => return Look::Done,
                _ => continue,
            }
            let body = pec::approval_body(item, &format!("Approved by a {label} poll"));
            let put = format!("{}?api-version={}", p.id, tt.api_version);
            return match arm.call(reqwest::Method::PUT, &put, Some(&body)).await {
                Some((200..=299, _)) => Look::Done,
                _ => Look::Again,
            };
        }
    }
    Look::Again
}

/// `every`: the poll's interval. `oracle`: instead of polling from the MPE's creation, the first look is
/// at the instant the MPE becomes pending (the tenant's plan, which no real client knows), then every
/// `every` until approved: the floor the scenario's throttling leaves to any strategy.
pub async fn run(
    tenant: &Tenant,
    scenario: &Scenario,
    play: &Play,
    every: Duration,
    oracle: bool,
) -> anyhow::Result<Figures> {
    let clock: SharedClock = Arc::new(azure_sim::ScaledClock::new(chrono::Utc::now(), play.time_scale));
    let sim = Simulator::start(clock.clone(), SimOptions { ..scenario.options() }).await?;
    play.set_latency(&sim);
    world::populate(&sim, tenant)?;
    let arm = Arc::new(Arm {
        http: reqwest::Client::new(),
        base: sim.arm_endpoint(),
        token: sim.issue_token(azure_sim::tokens::ARM_AUDIENCE),
        clock: clock.clone(),
    });
    let label = if oracle { "oracle".to_string() } else { format!("{} s", every.as_secs()) };
    let (cpu0, real0) = (CpuWatch::start(), Instant::now());
    let t0 = sim.clock().now();
    let mut loops = tokio::task::JoinSet::new();
    world::create_all(&sim, tenant, t0, |m| {
        let (arm, label) = (arm.clone(), label.clone());
        let Ok(id) = ResourceId::parse(&m.id) else { return };
        let first = if oracle { m.pending_after } else { every };
        loops.spawn(async move {
            tokio::time::sleep(arm.clock.real(first)).await;
            loop {
                if let Look::Done = look(&arm, &id, &label).await {
                    return;
                }
                tokio::time::sleep(arm.clock.real(every)).await;
            }
        });
    })
    .await;
    world::wait_settled(&sim, tenant, t0, play, || world::approved(&sim)).await;
    let simulated = (sim.clock().now() - t0).to_std().unwrap_or_default();
    let real = real0.elapsed();
    loops.abort_all();
    let cpu = cpu0.stop();
    let r = sim.report();
    let name = if oracle { label.clone() } else { format!("{label} poll") };
    Ok(Figures::from_report(&name, tenant, &r, 0, 0, None, simulated, real, cpu, play.time_scale))
}
