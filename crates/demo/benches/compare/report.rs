//! The figures as text: a line per run while it goes, the tables at the end, and `docs/benchmarks.md`
//! with the command, the machine, the tenant, the tables and the plots.

use crate::figures::Figures;
use crate::tenant::{Draw, READINESS, TAIL_MAX, TAIL_SHARE};
use crate::world::Scenario;
use crate::{plot, Args};
use std::fmt::Write;
use std::time::Duration;

fn secs(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "–".into()
    }
}

fn per(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "–".into()
    }
}

/// One run, as it ends.
pub fn line(f: &Figures) -> String {
    format!(
        "  {:<9} approved {}/{} (parked {}, dead-lettered {})  pending→approved median {} s, p95 {} s, max {} s  \
         ARM reads {} + writes {} per approval  SB {} per approval  429s {}  inside a wait {} ({:.2} %)  wrong {}  \
         [{:.0} simulated s in {:.0} s real, {:.1} cores, peak {:.1}]",
        f.strategy,
        f.approved,
        f.mpes,
        f.parked,
        f.dead_lettered,
        secs(f.median()),
        secs(f.p95()),
        secs(f.max()),
        per(f.reads_per()),
        per(f.writes_per()),
        per(f.sb_per()),
        f.all_429(),
        f.all_inside_wait(),
        f.inside_wait_pct(),
        f.wrong,
        f.simulated.as_secs_f64(),
        f.real.as_secs_f64(),
        f.cores(),
        f.peak_cores
    )
}

const HEADER: &str = "| strategy | approved | overshoot median / p95 / max (s) | ARM reads / writes per approval | Service Bus messages per approval | 429s received (ARM + provider) | calls inside a wait | wrong approvals | run (simulated / real, cores average / peak) |\n|---|---|---|---|---|---|---|---|---|\n";

fn row(f: &Figures) -> String {
    let sb = if f.strategy.starts_with("ours") {
        format!("{} sent ({} deliveries)", per(f.sb_per()), per(f.sb_deliveries as f64 / f.approved.max(1) as f64))
    } else {
        "–".into()
    };
    let lost = if f.strategy.starts_with("ours") {
        format!(" (parked {}, dead-lettered {})", f.parked, f.dead_lettered)
    } else {
        String::new()
    };
    format!(
        "| {} | {}/{}{} | {} / {} / {} | {} / {} | {} | {} ({} + {}) | {} ({:.2} %) | {} | {:.0} s / {:.0} s, {:.1} / {:.1} |\n",
        f.strategy,
        f.approved,
        f.mpes,
        lost,
        secs(f.median()),
        secs(f.p95()),
        secs(f.max()),
        per(f.reads_per()),
        per(f.writes_per()),
        sb,
        f.all_429(),
        f.throttled,
        f.rp_throttled,
        f.all_inside_wait(),
        f.inside_wait_pct(),
        f.wrong,
        f.simulated.as_secs_f64(),
        f.real.as_secs_f64(),
        f.cores(),
        f.peak_cores
    )
}

/// Every run's table, in Markdown.
pub fn tables(runs: &[(Scenario, usize, Vec<Figures>)]) -> String {
    let mut out = String::new();
    for (scenario, n, figs) in runs {
        let subs = figs.first().map_or(0, |f| f.subscriptions);
        let scale = figs.first().map_or(0.0, |f| f.time_scale);
        let plural = if subs == 1 { "" } else { "s" };
        let _ =
            writeln!(out, "**{}: {n} MPEs over {subs} subscription{plural}** ({scale}× compressed)\n", scenario.name);
        out.push_str(HEADER);
        for f in figs {
            out.push_str(&row(f));
        }
        out.push('\n');
        for f in figs {
            for n in &f.notes {
                let _ = writeln!(out, "- {}: {n}", f.strategy);
            }
        }
        out.push('\n');
    }
    out
}

fn readiness_table() -> String {
    let mut out = String::from("| source → target | readiness after creation (simulated) | basis |\n|---|---|---|\n");
    for r in READINESS {
        let draw = match r.draw {
            Draw::LogNormal(m, s) => format!("log-normal, median {m:.0} s, σ {s}"),
            Draw::Uniform(lo, hi) => format!("uniform {lo:.0}–{hi:.0} s"),
        };
        let _ = writeln!(out, "| {:?} → {:?} | {draw} | {} |", r.source, r.target, r.basis);
    }
    let _ = writeln!(
        out,
        "| every pair: the long tail | {:.0} % of MPEs take 2–10× their draw (Pareto, α 1.5), at most {TAIL_MAX:.0} s | \"a long tail\" |",
        TAIL_SHARE * 100.0
    );
    out
}

/// How ours compares with the 5 s poll in one run, in words that stay true when the figures change.
fn verdict(figs: &[Figures]) -> Option<String> {
    let ours = figs.iter().find(|f| f.strategy == "ours")?;
    let poll = figs.iter().find(|f| f.strategy.starts_with("5 s"))?;
    let speed = match (ours.median() <= poll.median(), ours.p95() <= poll.p95()) {
        (true, true) => "faster",
        (false, false) => "slower",
        _ => "neither faster nor slower",
    };
    let cost = if ours.calls_per() < poll.calls_per() { "cheaper" } else { "costlier" };
    Some(format!(
        "ours is {speed} and {cost} than the 5 s poll (median {} vs {} s, p95 {} vs {} s; {} vs {} ARM calls per approval)",
        secs(ours.median()),
        secs(poll.median()),
        secs(ours.p95()),
        secs(poll.p95()),
        per(ours.calls_per()),
        per(poll.calls_per())
    ))
}

pub fn write_docs(args: &Args, runs: &[(Scenario, usize, Vec<Figures>)], total: Duration) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let ecdf: Vec<(String, &[Figures])> =
        runs.iter().map(|(s, n, f)| (format!("{}: {n} MPEs", s.name), f.as_slice())).collect();
    plot::overshoot(&args.out.join("bench-overshoot.svg"), &ecdf).map_err(|e| anyhow::anyhow!("plotting: {e}"))?;
    let tenant: Vec<&Figures> = runs.iter().filter(|(s, _, _)| s.name == "tenant").flat_map(|(_, _, f)| f).collect();
    plot::scale(&args.out.join("bench-scale.svg"), &tenant).map_err(|e| anyhow::anyhow!("plotting: {e}"))?;

    let mut d = String::new();
    d.push_str("<!-- Written by `cargo bench -p mpe-demo --bench compare` (crates/demo/benches/compare/); edit the generator, not this file. -->\n\n");
    d.push_str("# Benchmarks: ours against a fixed poll\n\n");
    d.push_str(
        "The approver's chain and the obvious alternative, side by side over the same simulated tenant in one \
         run. The figures below were printed by the run this page records; none is typed in. The handler's own \
         cost on Event Grid noise, against a bare axum server, is on its own page: [handler-cost.md](handler-cost.md) \
         (`cargo bench -p mpe-demo --bench edge`). The fewest reads any schedule could spend on these tenants \
         for a median overshoot of 1 s and a p95 of 3 s, computed on a model of them: [analysis/floors.md](analysis/floors.md).\n\n",
    );
    let _ = writeln!(d, "- **Command:** `{}`", args.command);
    let _ = writeln!(d, "- **Machine:** {}", crate::machine::describe());
    let _ = writeln!(
        d,
        "- **Whole run:** {:.0} s real. Per run (table, last column): simulated seconds, real seconds, and the cores the \
         process kept busy on average and over its busiest second (simulator, handler, host emulator and pollers share \
         one process).",
        total.as_secs_f64()
    );
    let _ = writeln!(
        d,
        "- **Time:** compressed (the simulator's `ScaledClock`); every figure is in simulated seconds. ARM answers each \
         call after {} ms (simulated); a real millisecond of the loaded machine is as many simulated milliseconds as the \
         compression factor, so a run whose peak nears 2.0 cores is measuring the machine as much as the strategy.",
        args.arm_latency.as_millis()
    );
    let _ =
        writeln!(d, "- **Seed:** {}; parents are created at random within {} s.\n", args.seed, args.window.as_secs());

    d.push_str("## The strategies\n\n");
    d.push_str(&format!(
        "- **ours**: the handler as deployed today (no setting changed): each MPE's creation delivers an Event Grid \
         `ResourceWriteSuccess` event to `MpeEvent`, which queues the first check 2 s later at least; the Functions host \
         emulator delivers checks to `MpeCheck` from the simulated Service Bus with at most {calls} calls in flight (one \
         instance, host.json's `maxConcurrentCalls`); each check reads, decides and approves or queues the next on the \
         default schedule (2 s ×15, 3 s ×20, 10 s ×24, then 30 s), on its parent's grid (the MPEs of one parent at the \
         same instants, one list of the parent's MPEs and one of a target's PECs shared by the checks that ask within \
         0.5 s; the next checks of one parent due at the same second leave as one message, checked by one invocation), \
         sparse before and dense inside a service's published ready window (AI Search, Managed Grafana, Stream \
         Analytics towards an IoT Hub).\n\
         - **ours ×N**: the same with N handler instances (each its own process state: throttling, shared reads) and \
         N host pumps on the one queue, as Flex Consumption scales out.\n\
         - **ours, learning** (`learn`): ours with `MPE_LEARN_READINESS=true` (not the default): once the instance has \
         seen 10 MPEs of a service turn pending, the checks of that service's MPEs not ready yet follow what it saw \
         (`src/core/readiness.rs`: dense where readiness crowds and for a parent with many MPEs waiting, sparse before \
         anything was seen ready, never sparser than twice the schedule), learnt during the run from nothing.\n\
         - **5 s poll**, **1 s poll**: the seed article's sample for every MPE, one loop per MPE from its creation: every \
         N s GET the MPE; once it reports pending (a Data Explorer MPE: provisioned), list the target's PECs and PUT \
         the Pending one that is the MPE's back \
         Approved (the same matching rule as ours, read through the same adapters), then stop. A 429 or 5xx is asked \
         again after its `Retry-After` (5 s without one), at most 3 times, as the Azure SDKs' retry policy does; no \
         `x-ms-ratelimit-remaining-*` header is read and nothing is shared between loops.\n\
         - **oracle** (when run): not a strategy anyone can deploy, a floor: the 1 s poll's loop, its first look at \
         the very instant the MPE starts reporting pending (the tenant's plan, which no client knows), so it spends one \
         MPE read, one PEC list and one PUT per approval, with no re-read, tags or confirmation. What it shows is what \
         the scenario's throttling alone costs.\n\n",
        calls = args.max_concurrent_calls
    ));
    d.push_str("## The tenant\n\n");
    d.push_str(
        "Generated from the seed (`crates/demo/benches/compare/tenant.rs`), the same for every strategy: 20 MPEs per \
         subscription (1 to 100 subscriptions); parents of six services, a Data Factory holding 1–20 MPEs, a Stream \
         Analytics cluster 1–6, AI Search, Managed Grafana, SignalR and Web PubSub 1–3; targets in the MPE's subscription \
         (the default policy), about four MPEs per target; a stranger's Pending PEC on every third target. A parent's MPEs \
         are created 0.5 s apart. The PEC shows at the target at 80 % of the MPE's readiness (approving then would \
         race the service: the simulator fails the MPE and counts a wrong approval).\n\n",
    );
    d.push_str(&readiness_table());
    d.push('\n');
    if args.seed_mix > 0 {
        let _ = writeln!(
            d,
            "**The seed mix** (`seed-mix`, `--seed-mix {n}`): the seed article's mix, the one its sample ran, {n} times \
             over in one subscription, each copy one deployment created at a random moment within the window: a Stream \
             Analytics cluster with an MPE to a Storage account and one to an IoT Hub, a Data Explorer cluster (whose MPE \
             says only `Succeeded`: its PEC decides, for the polls too), a Data Factory (to a Key Vault), a SignalR and a \
             Web PubSub (to a web app), each MPE at the readiness above; a Data Explorer MPE deleted 6 s after its \
             creation and a Data Factory MPE whose PEC a human rejects after 8 s, both before they are ready (the \
             demo's timings), which no strategy may approve (the \"approved\" column counts the others); a stranger's \
             Pending PEC on every target. No throttling, as the demo runs.\n",
            n = args.seed_mix
        );
    }
    d.push_str("## Scenarios\n\n");
    let mut seen = Vec::new();
    for (s, _, _) in runs {
        if !seen.contains(&s.name) {
            seen.push(s.name);
            let _ = writeln!(d, "- **{}**: {}.", s.name, s.what);
        }
    }
    d.push_str(
        "\nA provider's 429 (the simulator's `SimOptions::rp_throttle`, `crates/azure-sim/src/throttle.rs`) comes with ARM's \
         remaining count still high: nothing warns of it. \"Calls inside a wait\" counts the calls that reached ARM or \
         the provider while it had asked that subscription (or that provider in that subscription) to wait.\n\n",
    );
    d.push_str("## Figures\n\n");
    d.push_str(
        "Overshoot: seconds from the MPE first reporting pending to its PEC approved (the simulator's `pending_at` and \
         `pec_approved_at`). Per approval: ARM reads (GET) and writes (PUT, POST), Service Bus messages sent to the work \
         queue (duplicates it dropped included) and, in brackets, deliveries to `MpeCheck`. 429s: every 429 answered, \
         ARM's + the providers'. Wrong approvals: races, strangers', twins' (must be 0).\n\n",
    );
    d.push_str(&tables(runs));
    let verdicts: Vec<String> =
        runs.iter().filter_map(|(s, n, f)| verdict(f).map(|v| format!("- {}, {n} MPEs: {v}.", s.name))).collect();
    if !verdicts.is_empty() {
        d.push_str("In short:\n\n");
        d.push_str(&verdicts.join("\n"));
        d.push_str("\n\n");
    }
    d.push_str("## Plots\n\n");
    d.push_str("Overshoot distribution per strategy (share of approvals within x seconds of pending):\n\n");
    d.push_str("![overshoot distribution](bench-overshoot.svg)\n\n");
    d.push_str("Cost per approval and p95 overshoot against the number of MPEs (the `tenant` scenario):\n\n");
    d.push_str("![cost and p95 against MPEs](bench-scale.svg)\n\n");
    d.push_str(
        "A run stops at the last MPE's readiness plus 300 s (simulated); where a strategy had not approved every \
         MPE by then, its table says so and its overshoot figures (and points above) cover the approved ones only.\n\n",
    );
    d.push_str(
        "Drawn with [`plotters`](https://crates.io/crates/plotters) 0.3 (a dev-dependency of the demo crate only), \
         default features off and only `svg_backend` and `line_series` on: three small crates, no font or image \
         library; the SVG leaves text to the browser. Cheaper to keep than a hand-written SVG module.\n\n",
    );
    d.push_str(&format!(
        "Ours runs the checks of one parent's MPEs due together as one `MpeCheck` invocation (a parent with one MPE: one \
         invocation per check), {calls} invocations at a time per instance. Its schedule asks for one check per parent per \
         interval (2 s while it is likely to become ready), so an instance keeps up with a few hundred MPEs waiting at \
         once; beyond that its checks come later than its schedule says (the `MpeCheck` note under its table counts \
         the invocations; `RUST_LOG=simulator::host=debug` logs how late each message reached the handler), it spends \
         fewer calls per approval for that reason, and more instances shorten the delay. The polls are one loop per \
         MPE, with no such limit.\n\n\
         Each instance keeps its own throttling book (a 429's wait, a subscription's remaining count, its line of \
         calls): an instance learns of a subscription's wait from its own 429, so with N instances up to N calls reach \
         a wait already announced to another, and \"calls inside a wait\" grows with the instances. Honouring ARM \
         across instances needs a subscription's checks to run on one instance at a time (Service Bus sessions keyed \
         by subscription): not done yet.\n\n",
        calls = args.max_concurrent_calls
    ));
    d.push_str("## Sizes and run times\n\n");
    d.push_str(
        "| scenario | MPEs | compression | real time per strategy (in the tables' order) |\n|---|---|---|---|\n",
    );
    for (s, n, figs) in runs {
        let times: Vec<String> = figs.iter().map(|f| format!("{:.0} s", f.real.as_secs_f64())).collect();
        let scale = figs.first().map_or(0.0, |f| f.time_scale);
        let _ = writeln!(d, "| {} | {n} | {scale}× | {} |", s.name, times.join(" / "));
    }
    d.push('\n');
    d.push_str(
        "The default (`--seed-mix 4 --sizes 100,400 --storm-size 200`) takes about 6 minutes on 2 cores. Larger sizes are run with \
         `--sizes 1000,2000,10000` (a size may name its own strategies: `10000:ours+ours16`). A run lasts as long as its slowest MPE's readiness in simulated time, over the \
         compression. \
         Above 1,000 MPEs the time compression drops (10× to 3,000, 4× above; `--time-scale` overrides), so the two \
         cores keep up with the 1 s poll's calls and the figures stay the strategies' rather than the machine's.\n",
    );
    std::fs::write(args.out.join("benchmarks.md"), d)?;
    println!("wrote {}", args.out.join("benchmarks.md").display());
    Ok(())
}
