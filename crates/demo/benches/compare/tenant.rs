//! The simulated tenant every strategy runs over: subscriptions, targets, parents with several MPEs
//! each, when each MPE is created and how long its service takes to report it pending. Drawn once from
//! a seeded RNG, so the three strategies meet the same tenant, MPE for MPE.
//!
//! Readiness (the MPE reports awaiting approval this long after its creation), per source and target,
//! from `shared/research/coverage-sources.md` and `shared/AZURE-NOTES.md` where they say, assumed
//! otherwise (and said so in [`READINESS`]):
//! - Stream Analytics → Storage: under 5 s (the seed article); → IoT Hub: over 30 s, sometimes over a
//!   minute (the seed article);
//! - AI Search shared private link: about 90 s from the PUT to `Succeeded`/`Pending` (a recording);
//! - Managed Grafana MPE: at `Succeeded`/`Pending` by 2 min at most (a recording);
//! - Data Factory, SignalR / Web PubSub: no recorded figure; tens of seconds assumed;
//! - a long tail: 3 % of MPEs take 2–10× their draw (at most 10 min).
//!
//! The PEC shows at the target a little before its MPE reports pending (at 80 % of the readiness), as
//! the seed article saw: approving in between races the service, and the simulator fails the MPE then.

use azure_sim::MpeSpec;
use std::time::Duration;

/// A small, seeded PRNG (SplitMix64): the tenant is the same on every machine and in every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    /// Log-normal with this median and log-space standard deviation.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        median * (sigma * normal).exp()
    }
}

/// The target types MPEs connect to here (all served by the simulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Storage,
    Sql,
    KeyVault,
    IotHub,
    Web,
    Monitor,
}

impl Target {
    fn path(self, i: usize) -> String {
        match self {
            Target::Storage => format!("Microsoft.Storage/storageAccounts/st{i}"),
            Target::Sql => format!("Microsoft.Sql/servers/sql{i}"),
            Target::KeyVault => format!("Microsoft.KeyVault/vaults/kv{i}"),
            Target::IotHub => format!("Microsoft.Devices/IotHubs/hub{i}"),
            Target::Web => format!("Microsoft.Web/sites/app{i}"),
            Target::Monitor => format!("Microsoft.Monitor/accounts/amw{i}"),
        }
    }
}

/// The source services in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    DataFactory,
    StreamAnalytics,
    Search,
    Grafana,
    SignalR,
    WebPubSub,
}

/// Readiness (seconds after creation) per source and target: a log-normal (median, sigma) or a uniform
/// range, and where the figure comes from.
#[derive(Debug, Clone, Copy)]
pub enum Draw {
    LogNormal(f64, f64),
    Uniform(f64, f64),
}

pub struct Readiness {
    pub source: Source,
    pub target: Target,
    pub draw: Draw,
    pub basis: &'static str,
}

pub const READINESS: &[Readiness] = &[
    Readiness {
        source: Source::StreamAnalytics,
        target: Target::Storage,
        draw: Draw::LogNormal(3.5, 0.3),
        basis: "seed article: ready in under 5 s",
    },
    Readiness {
        source: Source::StreamAnalytics,
        target: Target::IotHub,
        draw: Draw::Uniform(30.0, 90.0),
        basis: "seed article: over 30 s, sometimes over a minute",
    },
    Readiness {
        source: Source::Search,
        target: Target::Storage,
        draw: Draw::LogNormal(90.0, 0.1),
        basis: "recording: about 90 s to Succeeded/Pending",
    },
    Readiness {
        source: Source::Search,
        target: Target::Sql,
        draw: Draw::LogNormal(90.0, 0.1),
        basis: "recording: about 90 s to Succeeded/Pending",
    },
    Readiness {
        source: Source::Grafana,
        target: Target::Monitor,
        draw: Draw::Uniform(45.0, 120.0),
        basis: "recording: Succeeded/Pending by 2 min at most",
    },
    Readiness {
        source: Source::DataFactory,
        target: Target::Storage,
        draw: Draw::LogNormal(20.0, 0.5),
        basis: "assumed: no recorded figure",
    },
    Readiness {
        source: Source::DataFactory,
        target: Target::Sql,
        draw: Draw::LogNormal(20.0, 0.5),
        basis: "assumed: no recorded figure",
    },
    Readiness {
        source: Source::DataFactory,
        target: Target::KeyVault,
        draw: Draw::LogNormal(20.0, 0.5),
        basis: "assumed: no recorded figure",
    },
    Readiness {
        source: Source::SignalR,
        target: Target::Web,
        draw: Draw::LogNormal(30.0, 0.4),
        basis: "assumed: no recorded figure",
    },
    Readiness {
        source: Source::WebPubSub,
        target: Target::Web,
        draw: Draw::LogNormal(30.0, 0.4),
        basis: "assumed: no recorded figure",
    },
];

/// Share of MPEs in the long tail, and how much longer they take (Pareto, 2–10×, at most `TAIL_MAX`).
pub const TAIL_SHARE: f64 = 0.03;
pub const TAIL_MAX: f64 = 600.0;

/// A parent kind: its source, how many MPEs a parent holds, its targets (weighted), its share of parents.
struct ParentKind {
    source: Source,
    mpes: (usize, usize),
    targets: &'static [(Target, f64)],
    weight: f64,
}

const PARENTS: &[ParentKind] = &[
    ParentKind {
        source: Source::DataFactory,
        mpes: (1, 20),
        targets: &[(Target::Storage, 0.5), (Target::Sql, 0.25), (Target::KeyVault, 0.25)],
        weight: 0.2,
    },
    ParentKind {
        source: Source::StreamAnalytics,
        mpes: (1, 6),
        targets: &[(Target::Storage, 0.6), (Target::IotHub, 0.4)],
        weight: 0.3,
    },
    ParentKind {
        source: Source::Search,
        mpes: (1, 3),
        targets: &[(Target::Storage, 0.6), (Target::Sql, 0.4)],
        weight: 0.15,
    },
    ParentKind { source: Source::Grafana, mpes: (1, 3), targets: &[(Target::Monitor, 1.0)], weight: 0.15 },
    ParentKind { source: Source::SignalR, mpes: (1, 2), targets: &[(Target::Web, 1.0)], weight: 0.1 },
    ParentKind { source: Source::WebPubSub, mpes: (1, 2), targets: &[(Target::Web, 1.0)], weight: 0.1 },
];

/// One MPE of the tenant: when it is created (after the run starts) and how it behaves.
#[derive(Debug, Clone)]
pub struct Planned {
    pub created: Duration,
    pub id: String,
    pub target: String,
    pub pec_after: Duration,
    pub pending_after: Duration,
}

impl Planned {
    pub fn spec(&self) -> MpeSpec {
        MpeSpec::new(&self.id, &self.target).timing(self.pec_after, self.pending_after)
    }
}

/// The whole tenant.
pub struct Tenant {
    pub subscriptions: Vec<String>,
    pub targets: Vec<String>,
    /// Strangers' Pending PECs (target, endpoint name): never to be approved.
    pub strangers: Vec<(String, String)>,
    /// In creation order.
    pub mpes: Vec<Planned>,
    pub parents: usize,
}

impl Tenant {
    /// `n` MPEs over `subs` subscriptions, parents created at random within `window`, their MPEs one
    /// after another (0.5 s apart, as a deployment creates them).
    pub fn generate(n: usize, subs: usize, window: Duration, seed: u64) -> Tenant {
        let mut rng = Rng::new(seed);
        let subscriptions: Vec<String> = (0..subs).map(|s| format!("7d3c2b1a-0000-4000-8000-{s:012x}")).collect();
        // About four MPEs per target: each subscription's pool of each target type.
        let per_sub = n.div_ceil(subs);
        let pool = (per_sub / 24).max(1);
        let mut mpes = Vec::with_capacity(n);
        let mut parents = 0;
        let total_weight: f64 = PARENTS.iter().map(|p| p.weight).sum();
        let mut targets = std::collections::BTreeSet::new();
        while mpes.len() < n {
            let mut pick = rng.unit() * total_weight;
            let kind = PARENTS.iter().find(|p| (pick -= p.weight, pick < 0.0).1).unwrap_or(&PARENTS[0]);
            let sub = &subscriptions[parents % subs];
            let rg = format!("/subscriptions/{sub}/resourceGroups/rg{}", parents % 3);
            let p = parents;
            parents += 1;
            // MPE names unique in the tenant: a service that names its private endpoint after the MPE
            // alone (Stream Analytics, SignalR) would otherwise give two parents' MPEs to one target the
            // same endpoint name, which no rule can tell apart (ours parks them, a poll races).
            let (parent, short) = match kind.source {
                Source::DataFactory => (format!("{rg}/providers/Microsoft.DataFactory/factories/adf{p}/managedVirtualNetworks/default/managedPrivateEndpoints"), "adf"),
                Source::StreamAnalytics => (format!("{rg}/providers/Microsoft.StreamAnalytics/clusters/asa{p}/privateEndpoints"), "asa"),
                Source::Search => (format!("{rg}/providers/Microsoft.Search/searchServices/srch{p}/sharedPrivateLinkResources"), "srch"),
                Source::Grafana => (format!("{rg}/providers/Microsoft.Dashboard/grafana/graf{p}/managedPrivateEndpoints"), "graf"),
                Source::SignalR => (format!("{rg}/providers/Microsoft.SignalRService/signalR/sigr{p}/sharedPrivateLinkResources"), "sigr"),
                Source::WebPubSub => (format!("{rg}/providers/Microsoft.SignalRService/webPubSub/wps{p}/sharedPrivateLinkResources"), "wps"),
            };
            let start = rng.range(0.0, window.as_secs_f64());
            let count = rng.int(kind.mpes.0, kind.mpes.1).min(n - mpes.len());
            for i in 0..count {
                let mut pick = rng.unit();
                let target =
                    kind.targets.iter().find(|t| (pick -= t.1, pick < 0.0).1).map_or(kind.targets[0].0, |t| t.0);
                let target_id = format!(
                    "/subscriptions/{sub}/resourceGroups/targets/providers/{}",
                    target.path(rng.int(0, pool - 1))
                );
                targets.insert(target_id.clone());
                let r = READINESS
                    .iter()
                    .find(|r| r.source == kind.source && r.target == target)
                    .expect("a readiness per pair");
                let mut ready = match r.draw {
                    Draw::LogNormal(m, s) => rng.lognormal(m, s),
                    Draw::Uniform(lo, hi) => rng.range(lo, hi),
                };
                if rng.unit() < TAIL_SHARE {
                    let factor = (2.0 / (1.0 - rng.unit()).powf(1.0 / 1.5)).min(10.0);
                    ready = (ready * factor).min(TAIL_MAX);
                }
                let ready = ready.max(1.0);
                mpes.push(Planned {
                    created: Duration::from_secs_f64(start + 0.5 * i as f64),
                    id: format!("{parent}/{short}{p}-pe{i}"),
                    target: target_id,
                    pec_after: Duration::from_secs_f64(ready * 0.8),
                    pending_after: Duration::from_secs_f64(ready),
                });
            }
        }
        mpes.sort_by_key(|m| m.created);
        let targets: Vec<String> = targets.into_iter().collect();
        // A stranger's Pending PEC on about one target in three.
        let strangers = targets
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0)
            .map(|(i, t)| (t.clone(), format!("someone-elses-pe-{i}")))
            .collect();
        Tenant { subscriptions, targets, strangers, mpes, parents }
    }

    /// The readiness figures of this tenant: (median, p95, max) seconds.
    pub fn readiness(&self) -> (f64, f64, f64) {
        let mut r: Vec<f64> = self.mpes.iter().map(|m| m.pending_after.as_secs_f64()).collect();
        r.sort_by(f64::total_cmp);
        (crate::figures::pct(&r, 0.5), crate::figures::pct(&r, 0.95), r.last().copied().unwrap_or(0.0))
    }
}
