//! `cargo bench -p mpe-demo --bench compare`: the side-by-side benchmark. Figures, not
//! assertions.
//!
//! Three strategies over the same simulated tenant (seeded: the same MPEs, targets, readiness and
//! creation times for each), one after the other, each on a fresh simulator with the same options:
//! - **ours** ([`ours`]): the real handler chain through the in-process harness (Event Grid event →
//!   queue → `MpeCheck` on the approver's schedule), as deployed today;
//! - **a fixed 5 s poll** and **a fixed 1 s poll** ([`poll`]): the seed article's sample for every MPE.
//!
//! The tenant ([`tenant`]): readiness per source and target as Azure shows it, with a long tail;
//! parents with several MPEs (a Data Factory with up to 20) and several MPEs per target; strangers'
//! PECs on the targets; and the seed article's mix ([`tenant::Tenant::seed_mix`]). The scenarios
//! ([`world::Scenario`]): `seed-mix`, no throttling; `tenant`, both kinds of throttling (ARM's
//! per-subscription budget with its `x-ms-ratelimit-remaining-*` headers, and each resource provider's
//! own 429s without warning); `rp-storm`, a provider's 429s alone, every 5th call.
//!
//! It prints one table per scenario and size, and writes `docs/benchmarks.md` with the tables and two
//! SVG plots (`docs/bench-overshoot.svg`, `docs/bench-scale.svg`) unless `--no-write`.
//!
//! Arguments (after `--`): `--sizes 100,400` (the `tenant` scenario's sizes; the default; `''`: none; a size
//! may name its own strategies, `10000:ours+ours16`),
//! `--seed-mix 4` (copies of the seed article's mix in the `seed-mix` run, without throttling; 0: no such
//! run), `--storm-size 200` (0: no `rp-storm` run), `--strategies ours,poll5,poll1` (`ours2`, `ours4`: ours
//! with 2 or 4 handler instances on the one queue; `learn`: ours with `MPE_LEARN_READINESS=true`; `oracle`:
//! the floor), `--time-scale 20`
//! (simulated seconds per real second; sizes above 1000 default to less: see [`scale_for`]),
//! `--seed 20`, `--window 120` (seconds over which parents are created), `--arm-latency-ms 50`,
//! `--max-concurrent-calls N` (ours: default host.json's, one instance), `--set NAME=VALUE` (ours: an app
//! setting beyond the deployed defaults, repeatable), `--scenario calm` (the `--sizes` runs without
//! throttling; default `tenant`),
//! `--no-write`, `--out docs` (where to write), `--parts FILE` (a CSV row per approval: scenario, MPEs,
//! strategy, service, seconds from pending to the first read showing it, from that read to the approval,
//! and from the last read showing it pending to the approval; what `docs/analysis/schedule-floor.py` reads).

mod figures;
#[path = "../machine.rs"]
mod machine;
mod ours;
mod plot;
mod poll;
mod report;
mod tenant;
mod world;

use figures::Figures;
use std::time::{Duration, Instant};
use tenant::Tenant;
use world::{Play, Scenario};

#[derive(Debug, Clone)]
pub struct Args {
    /// The `tenant` scenario's sizes, each with the strategies it runs (`None`: `--strategies`).
    pub sizes: Vec<(usize, Option<Vec<String>>)>,
    /// Copies of the seed article's mix in the `seed-mix` run (0: none).
    pub seed_mix: usize,
    pub storm_size: usize,
    pub strategies: Vec<String>,
    pub time_scale: Option<f64>,
    pub seed: u64,
    pub window: Duration,
    pub arm_latency: Duration,
    /// Ours: the host's `maxConcurrentCalls` (host.json's, unless `--max-concurrent-calls`).
    pub max_concurrent_calls: usize,
    /// Ours: app settings beyond the deployed defaults (`--set NAME=VALUE`, repeatable).
    pub settings: Vec<(String, String)>,
    /// Scenarios the `--sizes` run under (`tenant`; `calm`: no throttling at all).
    pub scenario: String,
    pub write: bool,
    pub out: std::path::PathBuf,
    /// Where to write every approval's parts as CSV (`--parts`).
    pub parts: Option<std::path::PathBuf>,
    /// The command line as given, for the doc.
    pub command: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args {
        sizes: vec![(100, None), (400, None)],
        seed_mix: 4,
        storm_size: 200,
        strategies: vec!["ours".into(), "poll5".into(), "poll1".into()],
        time_scale: None,
        seed: 20,
        window: Duration::from_secs(120),
        arm_latency: Duration::from_millis(50),
        max_concurrent_calls: ours::max_concurrent_calls()?,
        settings: Vec::new(),
        scenario: "tenant".into(),
        write: true,
        out: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs"),
        parts: None,
        command: String::new(),
    };
    let mut given = Vec::new();
    let mut it = raw.iter();
    while let Some(k) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| anyhow::anyhow!("{k} needs a value"));
        match k.as_str() {
            "--bench" => {} // what cargo bench passes
            "--sizes" => {
                a.sizes = val()?.split(',').filter(|s| !s.trim().is_empty()).map(size).collect::<anyhow::Result<_>>()?
            }
            "--storm-size" => a.storm_size = val()?.parse()?,
            "--seed-mix" => a.seed_mix = val()?.parse()?,
            "--strategies" => a.strategies = val()?.split(',').map(|s| s.trim().to_string()).collect(),
            "--time-scale" => a.time_scale = Some(val()?.parse()?),
            "--seed" => a.seed = val()?.parse()?,
            "--window" => a.window = Duration::from_secs(val()?.parse()?),
            "--arm-latency-ms" => a.arm_latency = Duration::from_millis(val()?.parse()?),
            "--max-concurrent-calls" => a.max_concurrent_calls = val()?.parse()?,
            "--set" => {
                let v = val()?;
                let (name, value) = v.split_once('=').ok_or_else(|| anyhow::anyhow!("--set takes NAME=VALUE"))?;
                a.settings.push((name.trim().to_string(), value.to_string()));
            }
            "--scenario" => a.scenario = val()?,
            "--no-write" => a.write = false,
            "--out" => a.out = val()?.into(),
            "--parts" => a.parts = Some(val()?.into()),
            other => anyhow::bail!("unknown argument {other} (see the top of crates/demo/benches/compare/main.rs)"),
        }
        if k != "--bench" {
            given.push(k.clone());
        }
    }
    a.command = {
        let args: Vec<&String> = raw.iter().filter(|s| *s != "--bench").collect();
        let tail = args.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        if tail.is_empty() {
            "cargo bench -p mpe-demo --bench compare".into()
        } else {
            format!("cargo bench -p mpe-demo --bench compare -- {tail}")
        }
    };
    Ok(a)
}

/// One of `--sizes`: `400`, or `10000:ours+ours16` (that size runs only those strategies).
fn size(s: &str) -> anyhow::Result<(usize, Option<Vec<String>>)> {
    let (n, only) = match s.trim().split_once(':') {
        Some((n, only)) => (n, Some(only.split('+').map(|x| x.trim().to_string()).collect())),
        None => (s.trim(), None),
    };
    Ok((n.parse()?, only))
}

/// Subscriptions for `n` MPEs: 20 MPEs per subscription, 1 to 100 (400 over 20, as the run; 10,000
/// over 100).
pub fn subscriptions_for(n: usize) -> usize {
    (n as f64 / 20.0).round().clamp(1.0, 100.0) as usize
}

/// Time compression for `n` MPEs unless `--time-scale` says: 20× up to 1,000 MPEs, then less, so two
/// cores keep up with the 1 s poll's calls (the figures are in simulated seconds, and a real
/// millisecond of a loaded machine is `scale` simulated ones).
pub fn scale_for(n: usize, given: Option<f64>) -> f64 {
    given.unwrap_or(match n {
        0..=1000 => 20.0,
        1001..=3000 => 10.0,
        _ => 4.0,
    })
}

async fn run_one(strategy: &str, tenant: &Tenant, scenario: &Scenario, play: &Play) -> anyhow::Result<Figures> {
    match strategy {
        "ours" => ours::run(tenant, scenario, play, 1, false).await,
        "learn" => ours::run(tenant, scenario, play, 1, true).await,
        s if s.starts_with("ours") => {
            let n: usize = s["ours".len()..].parse().map_err(|_| {
                anyhow::anyhow!("unknown strategy {s} (ours, ours2, ours4, learn, poll5, poll1, oracle)")
            })?;
            ours::run(tenant, scenario, play, n, false).await
        }
        "poll5" => poll::run(tenant, scenario, play, Duration::from_secs(5), false).await,
        "poll1" => poll::run(tenant, scenario, play, Duration::from_secs(1), false).await,
        "oracle" => poll::run(tenant, scenario, play, Duration::from_secs(1), true).await,
        other => anyhow::bail!("unknown strategy {other} (ours, ours2, ours4, learn, poll5, poll1, oracle)"),
    }
}

/// Every approval's parts ([`figures::Parts`]), one CSV row each.
fn write_parts(path: &std::path::Path, runs: &[(Scenario, usize, Vec<Figures>)]) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut csv = String::from("scenario,mpes,strategy,service,to_read,to_approval,approving\n");
    for (scenario, n, figs) in runs {
        for f in figs {
            for p in &f.parts {
                writeln!(
                    csv,
                    "{},{n},\"{}\",{},{:.3},{:.3},{:.3}",
                    scenario.name, f.strategy, p.service, p.to_read, p.to_approval, p.approving
                )?;
            }
        }
    }
    std::fs::write(path, csv).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    println!("parts: {}", path.display());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let args = parse_args()?;
    if std::env::var_os("RUST_LOG").is_some() {
        // The handler's and the simulator's logs on stderr, to read a run (`RUST_LOG=info`).
        mpe_approver::logsafe::init_tracing("info", false, false);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = Instant::now();
    let mut runs: Vec<(Scenario, usize, Vec<Figures>)> = Vec::new();
    let sized = match args.scenario.as_str() {
        "tenant" => Scenario::tenant(),
        "calm" => Scenario::calm(),
        other => anyhow::bail!("unknown scenario {other} (tenant, calm)"),
    };
    let settings: &'static [(String, String)] = Box::leak(args.settings.clone().into_boxed_slice());
    let mut plan: Vec<(Scenario, Tenant, &[String])> = Vec::new();
    if args.seed_mix > 0 {
        let tenant = Tenant::seed_mix(args.seed_mix, args.window, args.seed);
        plan.push((Scenario::seed_mix(), tenant, &args.strategies));
    }
    for (n, only) in &args.sizes {
        let tenant = Tenant::generate(*n, subscriptions_for(*n), args.window, args.seed);
        plan.push((sized.clone(), tenant, only.as_deref().unwrap_or(&args.strategies)));
    }
    if args.storm_size > 0 {
        // As the emulator run: 200 MPEs over 20 subscriptions.
        plan.push((
            Scenario::rp_storm(),
            Tenant::generate(args.storm_size, 20, args.window, args.seed),
            &args.strategies,
        ));
    }
    for (scenario, tenant, strategies) in plan {
        let (n, subs) = (tenant.mpes.len(), tenant.subscriptions.len());
        let play = Play {
            time_scale: scale_for(n, args.time_scale),
            arm_latency: args.arm_latency,
            grace: Duration::from_secs(300),
            max_concurrent_calls: args.max_concurrent_calls,
            settings,
        };
        let (med, p95, max) = tenant.readiness();
        println!(
            "\n== {} · {n} MPEs over {subs} subscriptions, {} parents, {} targets; readiness median {med:.0} s, p95 {p95:.0} s, max {max:.0} s; {}x compressed",
            scenario.name,
            tenant.parents,
            tenant.targets.len(),
            play.time_scale
        );
        println!("   {}", scenario.what);
        let mut figs = Vec::new();
        for s in strategies {
            let f = rt.block_on(run_one(s, &tenant, &scenario, &play))?;
            println!("{}", report::line(&f));
            for n in &f.notes {
                println!("      {n}");
            }
            figs.push(f);
        }
        runs.push((scenario, n, figs));
    }
    let total = started.elapsed();
    println!("\n{}", report::tables(&runs));
    println!("whole run: {:.0} s real", total.as_secs_f64());
    if args.write {
        report::write_docs(&args, &runs, total)?;
    }
    if let Some(path) = &args.parts {
        write_parts(path, &runs)?;
    }
    Ok(())
}
