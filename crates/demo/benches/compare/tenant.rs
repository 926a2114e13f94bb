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
    DataExplorer,
    DataFactory,
    StreamAnalytics,
    Search,
    Grafana,
    SignalR,
    WebPubSub,
}

impl Source {
    /// The prefix of its parents' and MPEs' names (`adf3`, `adf3-pe0`).
    fn short(self) -> &'static str {
        match self {
            Source::DataExplorer => "adx",
            Source::DataFactory => "adf",
            Source::StreamAnalytics => "asa",
            Source::Search => "srch",
            Source::Grafana => "graf",
            Source::SignalR => "sigr",
            Source::WebPubSub => "wps",
        }
    }
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
        source: Source::DataExplorer,
        target: Target::Storage,
        draw: Draw::LogNormal(20.0, 0.5),
        basis: "assumed: no recorded figure (the seed mix only)",
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

/// How an MPE's story ends: approved (what every strategy is there for), or not to be approved at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Approve,
    /// Deleted this long after its creation, before it is ready.
    Deleted(Duration),
    /// A human rejects its PEC this long after the MPE's creation, before the MPE is ready.
    Rejected(Duration),
}

/// One MPE of the tenant: when it is created (after the run starts) and how it behaves.
#[derive(Debug, Clone)]
pub struct Planned {
    pub created: Duration,
    pub id: String,
    pub target: String,
    pub pec_after: Duration,
    pub pending_after: Duration,
    pub fate: Fate,
}

impl Planned {
    pub fn spec(&self) -> MpeSpec {
        let spec = MpeSpec::new(&self.id, &self.target).timing(self.pec_after, self.pending_after);
        match self.fate {
            Fate::Approve => spec,
            Fate::Deleted(after) => spec.delete_after(after),
            Fate::Rejected(after) => spec.reject_after(after),
        }
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
    /// The ids (lower case) of the MPEs not to approve (deleted or rejected before they are ready): what
    /// `mpes` says, kept as a set for the per-MPE lookups of a 10,000-MPE report.
    spared: std::collections::HashSet<String>,
}

/// A parent of the seed mix: its service and its MPEs (target, fate).
type MixParent = (Source, &'static [(Target, Fate)]);

/// The seed article's mix, one copy ([`Tenant::seed_mix`]).
const SEED_MIX: &[MixParent] = &[
    (Source::StreamAnalytics, &[(Target::Storage, Fate::Approve), (Target::IotHub, Fate::Approve)]),
    (
        Source::DataExplorer,
        &[(Target::Storage, Fate::Approve), (Target::Storage, Fate::Deleted(Duration::from_secs(6)))],
    ),
    (
        Source::DataFactory,
        &[(Target::KeyVault, Fate::Approve), (Target::Storage, Fate::Rejected(Duration::from_secs(8)))],
    ),
    (Source::SignalR, &[(Target::Web, Fate::Approve)]),
    (Source::WebPubSub, &[(Target::Web, Fate::Approve)]),
];

/// Seconds → `Duration`.
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// One readiness draw for `source` → `target`, the long tail included.
fn draw_readiness(rng: &mut Rng, source: Source, target: Target) -> f64 {
    let r = READINESS.iter().find(|r| r.source == source && r.target == target).expect("a readiness per pair");
    let mut ready = match r.draw {
        Draw::LogNormal(m, s) => rng.lognormal(m, s),
        Draw::Uniform(lo, hi) => rng.range(lo, hi),
    };
    if rng.unit() < TAIL_SHARE {
        let factor = (2.0 / (1.0 - rng.unit()).powf(1.0 / 1.5)).min(10.0);
        ready = (ready * factor).min(TAIL_MAX);
    }
    ready.max(1.0)
}

/// The MPE collection of a parent of `source` called `name` under the resource group `rg`.
fn parent_path(rg: &str, source: Source, name: &str) -> String {
    match source {
        Source::DataExplorer => format!("{rg}/providers/Microsoft.Kusto/clusters/{name}/managedPrivateEndpoints"),
        Source::DataFactory => format!(
            "{rg}/providers/Microsoft.DataFactory/factories/{name}/managedVirtualNetworks/default/managedPrivateEndpoints"
        ),
        Source::StreamAnalytics => format!("{rg}/providers/Microsoft.StreamAnalytics/clusters/{name}/privateEndpoints"),
        Source::Search => format!("{rg}/providers/Microsoft.Search/searchServices/{name}/sharedPrivateLinkResources"),
        Source::Grafana => format!("{rg}/providers/Microsoft.Dashboard/grafana/{name}/managedPrivateEndpoints"),
        Source::SignalR => format!("{rg}/providers/Microsoft.SignalRService/signalR/{name}/sharedPrivateLinkResources"),
        Source::WebPubSub => {
            format!("{rg}/providers/Microsoft.SignalRService/webPubSub/{name}/sharedPrivateLinkResources")
        }
    }
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
            let short = kind.source.short();
            let parent = parent_path(&rg, kind.source, &format!("{short}{p}"));
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
                let ready = draw_readiness(&mut rng, kind.source, target);
                mpes.push(Planned {
                    created: Duration::from_secs_f64(start + 0.5 * i as f64),
                    id: format!("{parent}/{short}{p}-pe{i}"),
                    target: target_id,
                    pec_after: Duration::from_secs_f64(ready * 0.8),
                    pending_after: Duration::from_secs_f64(ready),
                    fate: Fate::Approve,
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
        Tenant { subscriptions, targets, strangers, mpes, parents, spared: Default::default() }
    }

    /// The seed article's mix, `copies` times over in one subscription (one deployment each, created at
    /// random within `window`): a Stream Analytics cluster with an MPE to a Storage account and one to an
    /// IoT Hub, a Data Explorer cluster (whose MPE says only `Succeeded`: its PEC decides), a Data Factory,
    /// a SignalR and a Web PubSub, each with one MPE at its usual readiness; an MPE deleted before it is
    /// ready and one whose PEC a human rejects before it is ready (the demo's timings; neither may be
    /// approved); a stranger's Pending PEC on every target.
    pub fn seed_mix(copies: usize, window: Duration, seed: u64) -> Tenant {
        let mut rng = Rng::new(seed);
        let sub = "7d3c2b1a-0000-4000-8000-5eed00000000".to_string();
        let rg = format!("/subscriptions/{sub}/resourceGroups/seed");
        let mut mpes = Vec::new();
        let mut targets = Vec::new();
        let mut parents = 0;
        for c in 0..copies {
            let target = |t: Target| format!("/subscriptions/{sub}/resourceGroups/targets/providers/{}", t.path(c));
            for t in [Target::Storage, Target::IotHub, Target::KeyVault, Target::Web] {
                targets.push(target(t));
            }
            for &(source, members) in SEED_MIX {
                let short = source.short();
                let parent = parent_path(&rg, source, &format!("{short}{c}"));
                parents += 1;
                let start = rng.range(0.0, window.as_secs_f64());
                for (i, (t, fate)) in members.iter().enumerate() {
                    // The fixed cases keep the demo's timings: ready well after the deletion or rejection.
                    let (pec_after, pending_after) = match fate {
                        Fate::Approve => {
                            let ready = draw_readiness(&mut rng, source, *t);
                            (ready * 0.8, ready)
                        }
                        Fate::Deleted(_) => (20.0, 40.0),
                        Fate::Rejected(_) => (4.0, 20.0),
                    };
                    mpes.push(Planned {
                        created: secs(start + 0.5 * i as f64),
                        id: format!("{parent}/{short}{c}-pe{i}"),
                        target: target(*t),
                        pec_after: secs(pec_after),
                        pending_after: secs(pending_after),
                        fate: *fate,
                    });
                }
            }
        }
        mpes.sort_by_key(|m| m.created);
        let strangers = targets.iter().enumerate().map(|(i, t)| (t.clone(), format!("someone-elses-pe-{i}"))).collect();
        let spared = mpes.iter().filter(|m| m.fate != Fate::Approve).map(|m| m.id.to_ascii_lowercase()).collect();
        Tenant { subscriptions: vec![sub], targets, strangers, mpes, parents, spared }
    }

    /// The MPEs every strategy is there to approve (the others are deleted or rejected before they are ready).
    pub fn to_approve(&self) -> usize {
        self.mpes.iter().filter(|m| m.fate == Fate::Approve).count()
    }

    /// Whether the MPE `id` (any case) is one to approve; `true` for an MPE not in the tenant.
    pub fn approves(&self, id: &str) -> bool {
        self.spared.is_empty() || !self.spared.contains(&id.to_ascii_lowercase())
    }

    /// The readiness figures of this tenant: (median, p95, max) seconds.
    pub fn readiness(&self) -> (f64, f64, f64) {
        let mut r: Vec<f64> = self.mpes.iter().map(|m| m.pending_after.as_secs_f64()).collect();
        r.sort_by(f64::total_cmp);
        (crate::figures::pct(&r, 0.5), crate::figures::pct(&r, 0.95), r.last().copied().unwrap_or(0.0))
    }
}
