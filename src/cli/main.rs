//! `mpe-approver`: the custom handler (`serve`, the default under the Functions host) and the operator
//! commands (`replay`, `status`, `check`, `pls-scan`, `print`). The local demo and the simulator are other packages
//! of the workspace (`mpe-demo`, `azure-sim`); `demo` and `simulate` say exactly what to run instead.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mpe_approver::auth::{AzureIdentity, TokenSource};
use mpe_approver::clock::{SharedClock, SystemClock};
use mpe_approver::config::{Config, ProcessEnv};
use mpe_approver::handler::{self, App};
use mpe_approver::logsafe::{self, q, q_max, scrub};
use mpe_approver::workitem::{Origin, WorkItem};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod progress;

/// `demo --time-scale` and `simulate --time-scale` when not given (the mpe-demo and azure-sim binaries'
/// defaults).
const DEMO_TIME_SCALE: f64 = 10.0;
const SIMULATE_TIME_SCALE: f64 = 1.0;

#[derive(Parser)]
#[command(name = "mpe-approver", version, about = "Approves Azure managed private endpoint connections, race-safe")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Azure Functions custom handler (the default when FUNCTIONS_CUSTOMHANDLER_PORT is set).
    Serve {
        /// Port on 127.0.0.1; defaults to $FUNCTIONS_CUSTOMHANDLER_PORT.
        #[arg(long)]
        port: Option<u16>,
    },
    /// The local demo (the whole flow on the Azure simulator) is the mpe-demo package: prints what to run
    /// instead (`cargo demo` from a source checkout) and exits 3.
    Demo {
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = DEMO_TIME_SCALE)]
        time_scale: f64,
    },
    /// The local Azure simulator (ARM, identity endpoint, Service Bus) is the azure-sim package: prints what
    /// to run instead (`cargo run --release -p azure-sim -- --port N` from a source checkout) and exits 3.
    Simulate {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 7780)]
        port: u16,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = SIMULATE_TIME_SCALE)]
        time_scale: f64,
    },
    /// Manual replay, with the same settings and credential as the handler: queue an immediate check of
    /// MPEs by id, move parked (--parked) or dead-lettered (--dead-letter, --parked-dead-letter) messages
    /// back into flight, or queue a check of every MPE not yet approved under a scope (--scope).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["mpe_ids", "parked", "dead_letter", "parked_dead_letter", "scope"]).multiple(true)))]
    #[command(group(clap::ArgGroup::new("queued").args(["parked", "dead_letter", "parked_dead_letter"])))]
    Replay {
        /// MPE resource ids.
        mpe_ids: Vec<String>,
        /// Replay messages of the parking queue.
        #[arg(long, conflicts_with_all = ["mpe_ids", "dead_letter", "parked_dead_letter", "scope"])]
        parked: bool,
        /// Replay messages of the work queue's dead-letter queue.
        #[arg(long, conflicts_with_all = ["mpe_ids", "parked_dead_letter", "scope"])]
        dead_letter: bool,
        /// Replay messages of the parking queue's own dead-letter queue (parked items whose deliveries,
        /// scans included, reached the parking queue's maxDeliveryCount).
        #[arg(long, conflicts_with_all = ["mpe_ids", "scope"])]
        parked_dead_letter: bool,
        /// Every supported MPE under /subscriptions/<id> or /subscriptions/<id>/resourceGroups/<name>.
        #[arg(long, conflicts_with = "mpe_ids")]
        scope: Option<String>,
        /// Only messages with this park code (or dead-letter reason).
        #[arg(long, requires = "queued")]
        reason: Option<String>,
        /// Messages to look at, at most (each is locked while the scan runs).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000), requires = "queued")]
        max: u32,
        /// List what would be replayed; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue depths (work, parked, dead-letter) from ARM, and the parked and dead-lettered messages
    /// grouped by reason (every message looked at counts a delivery).
    Status {
        /// Parked and dead-lettered messages to look at, at most.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10000))]
        max: u32,
        /// Print the result as JSON (with --watch: one document per line per round).
        #[arg(long)]
        json: bool,
        /// Run the report again every --every seconds until Ctrl-C: redrawn on a terminal, otherwise one
        /// report after another, each after a `status at <time>` line. Every round looks at the parked and
        /// dead-lettered messages again (a delivery each).
        #[arg(long)]
        watch: bool,
        /// Seconds between the rounds of --watch (each round counts a delivery of every parked message it
        /// looks at: the parking queue dead-letters one after 1000).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400), requires = "watch")]
        every: u64,
        /// Stop --watch after this many rounds (for tests and scripts).
        #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(1..), requires = "watch")]
        rounds: Option<u32>,
    },
    /// Run one reconciliation of an MPE now and print what it saw and decided, and why. Approves only
    /// with --approve; never queues or parks anything.
    Check {
        /// The MPE's resource id.
        mpe_id: String,
        /// Approve when the decision is to approve (otherwise a dry run); writes the audit line and
        /// the outcome event on stderr, as the function does.
        #[arg(long)]
        approve: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one Private Link Service scan now, as the MpePlsScan timer does: read the watched PLSs'
    /// connections, approve those MPE_PLS_ALLOW allows (reject those left Pending too long when
    /// MPE_PLS_REJECT_AFTER is set and this process has seen them that long), and print what it did.
    PlsScan {
        /// A Private Link Service id, subscription or resource group to scan instead of MPE_PLS_WATCH
        /// (repeatable).
        #[arg(long = "watch")]
        watch: Vec<String>,
        /// Decide and print; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one discovery now, as the MpeDiscover timer does: list the MPEs of the sources that raise no ARM
    /// event and are turned on (MPE_SYNAPSE: the workspaces under the sweep scopes; MPE_DATABRICKS: the NCCs
    /// MPE_DATABRICKS_NCCS names; MPE_FABRIC: the workspaces MPE_FABRIC_WORKSPACES names) and queue a check of
    /// each one not yet approved; print what it found.
    Discover {
        /// List and print; queue nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print what a deployment needs from the code, as JSON (infra/generated/ holds the checked-in copies).
    Print {
        #[command(subcommand)]
        what: PrintWhat,
    },
}

#[derive(Subcommand)]
enum PrintWhat {
    /// The MPE write operations Event Grid must deliver (the event subscription's operationName filter).
    Operations,
    /// The supported MPE types: service, resource type, api-version, what "awaiting approval" means, how
    /// its PEC is matched and how sure that rule is.
    Services,
    /// The least-privilege custom role, as `az role definition create --role-definition @file` takes it.
    Role {
        /// An assignable scope, e.g. /subscriptions/<id> (repeatable); a placeholder when none is given.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

fn print(what: PrintWhat) -> anyhow::Result<()> {
    use mpe_approver::deploy;
    let json = match what {
        PrintWhat::Operations => serde_json::to_string_pretty(&deploy::watched_operations())?,
        PrintWhat::Services => serde_json::to_string_pretty(&mpe_approver::providers::services_json())?,
        PrintWhat::Role { scopes } => {
            for s in &scopes {
                anyhow::ensure!(
                    s.starts_with('/') && !s.contains(char::is_whitespace),
                    "--scope {s:?} is not a resource id such as /subscriptions/<id>"
                );
            }
            let scopes = if scopes.is_empty() { vec![deploy::PLACEHOLDER_SCOPE.to_string()] } else { scopes };
            serde_json::to_string_pretty(&deploy::role_definition(scopes))?
        }
    };
    // A closed pipe (`| head`) is an error to report, not a panic.
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{json}").context("writing to stdout")
}

fn build_app(config: Config, clock: SharedClock) -> anyhow::Result<App> {
    let managed = ProcessEnv::from_env().managed_identity;
    let identity = AzureIdentity::new(config.client_id.clone(), managed, Default::default())
        .context("setting up the Azure credential")?;
    tracing::info!(credential = identity.kind(), "credential ready");
    let tokens: Arc<dyn TokenSource> = Arc::new(identity);
    App::new(config, tokens, clock)
}

async fn serve(port: Option<u16>) -> anyhow::Result<()> {
    let port = match port {
        Some(p) => p,
        None => ProcessEnv::from_env().port()?,
    };
    let config = Config::from_env()?;
    tracing::info!(
        queue = %config.queue, parking = %config.parking_queue, arm = %config.arm_endpoint,
        servicebus = %config.servicebus_endpoint, dry_run = config.dry_run, "configuration loaded"
    );
    let app = Arc::new(build_app(config, Arc::new(SystemClock))?);
    handler::write_outcome_events(true);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    tracing::info!(port, "mpe-approver custom handler listening");
    handler::serve(listener, app).await
}

struct ReplayArgs {
    mpe_ids: Vec<String>,
    parked: bool,
    dead_letter: bool,
    parked_dead_letter: bool,
    scope: Option<String>,
    reason: Option<String>,
    max: u32,
    dry_run: bool,
    json: bool,
}

/// Add one to `n` when `yes`; the count after.
fn count(n: &AtomicU32, yes: bool) -> u32 {
    n.fetch_add(u32::from(yes), Ordering::Relaxed) + u32::from(yes)
}

/// How long a CLI replay or sweep may run (a laptop has no host to kill it, but no run should hang).
const CLI_BUDGET: std::time::Duration = std::time::Duration::from_secs(15 * 60);

async fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    use mpe_approver::replay::{QueuedReplay, Source};
    use mpe_approver::resource_id::ListScope;
    use std::io::Write;
    // Validate everything before touching Azure.
    let mut ids = Vec::new();
    for raw in &a.mpe_ids {
        ids.push(mpe_approver::providers::parse_mpe_id(raw).map_err(anyhow::Error::msg)?);
    }
    let scope = a.scope.as_deref().map(ListScope::parse).transpose().map_err(anyhow::Error::msg)?;
    let config = Config::from_env()?;
    // What the function refuses (403), the CLI refuses too, before anything is listed or queued. A filter
    // naming a management group is left to the checks, which resolve it.
    let watched = &config.source_subscriptions;
    let refused: Vec<String> = ids
        .iter()
        .map(|id| id.subscription())
        .chain(scope.as_ref().map(ListScope::subscription))
        .filter(|_| watched.groups().is_empty())
        .filter_map(|s| watched.refusal(s))
        .collect();
    if !refused.is_empty() {
        anyhow::bail!("refused, nothing was queued: {}", refused.join("; "));
    }
    let deadline = tokio::time::Instant::now() + CLI_BUDGET;
    let app = build_app(config, Arc::new(SystemClock))?;
    let mut out = std::io::stdout().lock();
    if a.parked || a.dead_letter || a.parked_dead_letter {
        let source = match (a.parked, a.dead_letter) {
            (true, _) => Source::Parked,
            (false, true) => Source::DeadLetter,
            (false, false) => Source::ParkedDeadLetter,
        };
        let request = QueuedReplay { source, reason: a.reason, max: a.max, dry_run: a.dry_run };
        let queue = source.queue(&app.config.queue, &app.config.parking_queue);
        let line = progress::Line::on_stderr();
        line.set(format!("{}: looking for messages", q(&queue)));
        let (seen, replayed, failed) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
        // Every value of a row is the queue's (a sender's) text: quoted, or scrubbed when it is ours.
        let progress = |r: &mpe_approver::replay::Row| {
            line.println(&format!(
                "message {}  mpe {}  {}",
                q(&r.message_id),
                r.mpe_id.as_deref().map_or("-".into(), |m| q(m).to_string()),
                scrub(&r.action)
            ));
            if !line.is_drawn() {
                return;
            }
            // One row per message seen; its action starts with `replayed` or `failed` when it was one.
            let seen = count(&seen, true);
            let replayed = count(&replayed, r.action.starts_with("replayed"));
            let failed = count(&failed, r.action.starts_with("failed"));
            line.set(format!(
                "{}: {seen} seen, {replayed} replayed, {failed} failed; last: message {}",
                q(&queue),
                q_max(&r.message_id, 64)
            ));
        };
        let r = handler::replay_queued(&app, &request, deadline, &progress).await;
        line.clear();
        if a.json {
            writeln!(out, "{}", logsafe::json(&r, true)?)?;
        } else {
            writeln!(
                out,
                "{:<38}  {:<20}  {:<6}  {:<27}  {:<14}  mpe",
                "message", "reason", "count", "parked at", "action"
            )?;
            let shown = |v: Option<&str>, max: usize| v.map_or_else(|| "-".to_string(), |v| q_max(v, max).to_string());
            for row in &r.rows {
                let action: String = scrub(&row.action).chars().take(60).collect();
                writeln!(
                    out,
                    "{:<38}  {:<20}  {:<6}  {:<27}  {:<14}  {}",
                    q_max(&row.message_id, 128),
                    shown(row.reason.as_deref(), 64),
                    row.delivery_count,
                    shown(row.parked_at.as_deref(), 40),
                    action,
                    shown(row.mpe_id.as_deref(), 1024)
                )?;
            }
            writeln!(
                out,
                "{}: {} seen, {} replayed, {} failed, {} too large to receive (left in place){}{}",
                r.queue,
                r.seen,
                r.replayed,
                r.failed,
                r.too_large,
                if r.more { "; more may remain (raise --max or run again)" } else { "" },
                r.stopped.as_deref().map(|s| format!("; stopped: {}", scrub(s))).unwrap_or_default()
            )?;
        }
        let bad = r.failed > 0 || (r.stopped.is_some() && !r.more);
        return Ok(if bad { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    if let Some(scope) = scope {
        let max_calls = app.config.sweep_max_calls;
        let line = progress::Line::on_stderr();
        line.set(format!("listing the MPEs under {scope}"));
        let wanted = AtomicU32::new(0);
        let progress = |f: &handler::Found, run: &handler::Sweep| {
            if !line.is_drawn() {
                return;
            }
            let wanted = count(&wanted, f.enqueue);
            let queued =
                if a.dry_run { format!("{wanted} would be queued") } else { format!("{} queued", run.enqueued) };
            line.set(format!(
                "{scope}: {} MPEs found, {queued}, {} ARM calls; last: {}",
                run.found.len(),
                run.arm_calls,
                q_max(&f.mpe_id, 200)
            ));
        };
        let r = handler::sweep(&app, std::slice::from_ref(&scope), max_calls, a.dry_run, deadline, &progress).await;
        line.clear();
        if a.json {
            writeln!(out, "{}", logsafe::json(&r, true)?)?;
        } else {
            for f in &r.found {
                let what = match (f.enqueue, a.dry_run, &f.not_queued) {
                    (true, true, _) => "would queue",
                    (true, false, None) => "queued",
                    (true, false, Some(_)) => "not queued",
                    (false, _, _) => "final",
                };
                writeln!(out, "{what:<12} {:<30} {}", q_max(&f.status, 28), f.mpe_id)?;
            }
            writeln!(out, "{}", r.summary())?;
            for why in &r.incomplete {
                writeln!(out, "incomplete: {}", scrub(why))?;
            }
        }
        return Ok(if r.incomplete.is_empty() && r.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let mut failed = false;
    for id in ids {
        let item = WorkItem::new(id, chrono::Utc::now(), uuid::Uuid::new_v4().to_string(), Origin::Replay);
        if a.dry_run {
            writeln!(out, "would queue a check of {}", item.mpe_id)?;
            continue;
        }
        match handler::enqueue(&app, &item, std::time::Duration::ZERO).await {
            Ok(msg) => writeln!(
                out,
                "queued check of {} (message {}, correlation {})",
                item.mpe_id, msg.message_id, item.correlation_id
            )?,
            Err(e) => {
                failed = true;
                eprintln!("{}: not queued: {e}", item.mpe_id);
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn status(max: u32, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    let app = build_app(config, Arc::new(SystemClock))?;
    let r = handler::status(&app, max, tokio::time::Instant::now() + CLI_BUDGET).await;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", logsafe::json(&r, true)?)?;
    } else {
        write!(out, "{}", r.render())?;
    }
    Ok(if r.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `status --watch`: the report every `every` until Ctrl-C (or after `rounds` rounds). On a terminal
/// stdout is cleared and the report drawn again under a `status at <time>` line; otherwise each report
/// follows the last, after its `status at <time>` line; with `json`, one compact document per round, one
/// per line. Exits as `status` does for the last round shown.
async fn status_watch(
    max: u32,
    json: bool,
    every: std::time::Duration,
    rounds: Option<u32>,
) -> anyhow::Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    let config = Config::from_env()?;
    let app = build_app(config, Arc::new(SystemClock))?;
    let redraw = std::io::stdout().is_terminal();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut code = ExitCode::SUCCESS;
    let mut round = 0u32;
    loop {
        round += 1;
        let r = tokio::select! {
            r = handler::status(&app, max, tokio::time::Instant::now() + CLI_BUDGET) => r,
            _ = &mut stop => return Ok(code),
        };
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        {
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", logsafe::json(&r, false)?)?;
            } else if redraw {
                // Cursor home, clear the screen: the report replaces the last one.
                write!(out, "\x1b[H\x1b[2J")?;
                writeln!(out, "status at {at}, every {} s (Ctrl-C stops)", every.as_secs())?;
                write!(out, "{}", r.render())?;
            } else {
                writeln!(out, "status at {at}")?;
                write!(out, "{}", r.render())?;
            }
            out.flush().context("writing to stdout")?;
        }
        code = if r.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
        if rounds.is_some_and(|n| round >= n) {
            return Ok(code);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut stop => return Ok(code),
        }
    }
}

async fn check(mpe_id: &str, approve: bool, json: bool) -> anyhow::Result<ExitCode> {
    let id = mpe_approver::providers::parse_mpe_id(mpe_id).map_err(anyhow::Error::msg)?;
    let mut config = Config::from_env()?;
    if config.dry_run && approve {
        eprintln!("MPE_DRY_RUN is set: --approve is ignored, nothing is changed");
    }
    config.dry_run = config.dry_run || !approve;
    let app = build_app(config, Arc::new(SystemClock))?;
    let item = WorkItem::new(id, chrono::Utc::now(), uuid::Uuid::new_v4().to_string(), Origin::Replay);
    let r = handler::inspect(&app, &item).await;
    use std::io::Write;
    if !app.config.dry_run {
        // An approving check writes what the function writes, where the operator's logs go (stderr): the
        // audit line and, when it ends the MPE's chain, the outcome event.
        let mut err = std::io::stderr().lock();
        if let Some(audit) = &r.audit {
            writeln!(err, "mpe.audit {}", logsafe::json(audit, false)?).context("writing to stderr")?;
        }
        if let Some(event) = &r.outcome_event {
            writeln!(err, "{}", logsafe::json(event, false)?).context("writing to stderr")?;
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", logsafe::json(&r, true)?).context("writing to stdout")?;
    } else {
        // The reason and the log lines quote what came from Azure; scrub keeps them one line each.
        writeln!(out, "MPE      {}", r.mpe_id)?;
        writeln!(out, "outcome  {}{}", scrub(&r.outcome), r.park_code.map(|c| format!(" [{c}]")).unwrap_or_default())?;
        writeln!(out, "why      {}", scrub(&r.reason))?;
        for l in &r.logs {
            writeln!(out, "  {}", scrub(l))?;
        }
    }
    Ok(if r.outcome == "transient failure" { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn pls_scan(watch: &[String], dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    // Validate everything before touching Azure.
    let given = mpe_approver::pls::parse_watch(&watch.join(",")).map_err(|e| anyhow::anyhow!("--watch: {e}"))?;
    let mut config = Config::from_env()?;
    // What the settings refuse for MPE_PLS_WATCH, the command refuses for --watch.
    let refused: Vec<String> = given
        .iter()
        .filter_map(|w| {
            let sub = match w {
                mpe_approver::pls::Watched::Pls(id) => id.subscription(),
                mpe_approver::pls::Watched::Scope(s) => s.subscription(),
            };
            config.target_subscriptions.refusal(sub).map(|why| format!("{w}: {why}"))
        })
        .collect();
    anyhow::ensure!(refused.is_empty(), "refused, nothing was read: {}", refused.join("; "));
    let watch = if given.is_empty() { config.pls.watch.clone() } else { given };
    anyhow::ensure!(!watch.is_empty(), "nothing to scan: set MPE_PLS_WATCH or pass --watch <id or scope>");
    if config.dry_run && !dry_run {
        eprintln!("MPE_DRY_RUN is set: nothing is changed");
    }
    config.dry_run = config.dry_run || dry_run;
    let max_calls = config.pls.max_calls;
    let app = build_app(config, Arc::new(SystemClock))?;
    let deadline = tokio::time::Instant::now() + CLI_BUDGET;
    let r = handler::pls_scan(&app, &watch, max_calls, app.config.dry_run, deadline).await;
    use std::io::Write;
    {
        // The run's log lines (the audit lines among them) where the operator's logs go, as the function
        // logs them.
        let mut err = std::io::stderr().lock();
        for line in &r.logs {
            writeln!(err, "{}", scrub(line)).context("writing to stderr")?;
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", logsafe::json(&r, true)?).context("writing to stdout")?;
    } else {
        // Ids and reasons quote what came from Azure; scrub keeps each one line.
        for row in &r.rows {
            writeln!(
                out,
                "{:<15} {:<17} {}",
                row.outcome,
                row.wait.as_deref().unwrap_or("-"),
                q_max(&row.pec_id, 1024)
            )?;
            writeln!(out, "{:<15} {}", "", scrub(&row.reason))?;
        }
        writeln!(out, "{}", r.summary())?;
        for why in &r.incomplete {
            writeln!(out, "incomplete: {}", scrub(why))?;
        }
    }
    Ok(if r.incomplete.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn discover(dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    let scopes = config.sweep_scopes();
    let max_calls = config.discover_max_calls;
    let app = build_app(config, Arc::new(SystemClock))?;
    anyhow::ensure!(
        !handler::discovery_sources(&app).is_empty(),
        "no source without ARM events is turned on: set MPE_SYNAPSE=true (and MPE_SWEEP_SCOPES or \
         MPE_SOURCE_SUBSCRIPTIONS), MPE_DATABRICKS=true (and MPE_DATABRICKS_NCCS) or MPE_FABRIC=true (and \
         MPE_FABRIC_WORKSPACES)"
    );
    let dry_run = dry_run || app.config.dry_run;
    let deadline = tokio::time::Instant::now() + CLI_BUDGET;
    let r = handler::discover(&app, &scopes, max_calls, dry_run, deadline).await;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", logsafe::json(&r, true)?).context("writing to stdout")?;
    } else {
        // Ids and states quote what came from Azure; scrub keeps each one line.
        for f in &r.found {
            let what = match (&f.message_id, &f.not_queued, f.enqueue) {
                (_, Some(_), _) => "not queued",
                (Some(_), None, true) if dry_run => "would queue",
                (Some(_), None, true) => "queued",
                _ => "-",
            };
            writeln!(out, "{what:<12} {}  {}", q_max(&f.mpe_id, 1024), scrub(&f.status))?;
        }
        writeln!(out, "{}", r.summary())?;
        for why in &r.incomplete {
            writeln!(out, "incomplete: {}", scrub(why))?;
        }
    }
    Ok(if r.incomplete.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `demo` and `simulate` are not in this binary, the deployed one: the demo is the workspace's
/// `mpe-demo` package, the simulator its `azure-sim` package. The commands take the same flags, say
/// exactly what to run instead (those flags included) and exit with [`ELSEWHERE`].
const ELSEWHERE: u8 = 3;

fn demo_elsewhere(json: bool, time_scale: f64) -> ExitCode {
    let mut flags = String::new();
    if json {
        flags.push_str(" --json");
    }
    if time_scale != DEMO_TIME_SCALE {
        flags.push_str(&format!(" --time-scale {time_scale}"));
    }
    let package = if flags.is_empty() { String::new() } else { format!(" --{flags}") };
    eprintln!(
        "mpe-approver demo: the demo is not part of this binary (the deployed package holds only the approver); \
         it lives in the mpe-demo package. From a source checkout run `cargo demo{flags}` \
         (or `cargo run --release -p mpe-demo{package}`)."
    );
    ExitCode::from(ELSEWHERE)
}

fn simulate_elsewhere(port: u16, time_scale: f64) -> ExitCode {
    let scale = if time_scale == SIMULATE_TIME_SCALE { String::new() } else { format!(" --time-scale {time_scale}") };
    eprintln!(
        "mpe-approver simulate: the simulator is not part of this binary (the deployed package holds only the \
         approver); it lives in the azure-sim package. From a source checkout run \
         `cargo run --release -p azure-sim -- --port {port}{scale}`."
    );
    ExitCode::from(ELSEWHERE)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `demo` and `print` write only their result; logs stay at error unless RUST_LOG asks for more.
    logsafe::init_tracing(
        if matches!(cli.command, Some(Command::Demo { .. } | Command::Print { .. })) { "error" } else { "info" },
        ProcessEnv::from_env().json_logs,
        matches!(cli.command, None | Some(Command::Serve { .. })),
    );
    let command = match cli.command {
        Some(c) => c,
        None if ProcessEnv::from_env().handler_port.is_some() => Command::Serve { port: None },
        None => {
            eprintln!(
                "no command given and FUNCTIONS_CUSTOMHANDLER_PORT is not set; try --help (the local demo: `cargo demo` in a source checkout)"
            );
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", scrub(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        match command {
            Command::Serve { port } => serve(port).await.map(|_| ExitCode::SUCCESS),
            Command::Replay { mpe_ids, parked, dead_letter, parked_dead_letter, scope, reason, max, dry_run, json } => {
                let what =
                    ReplayArgs { mpe_ids, parked, dead_letter, parked_dead_letter, scope, reason, max, dry_run, json };
                replay(what).await
            }
            Command::Status { max, json, watch: false, .. } => status(max, json).await,
            Command::Status { max, json, watch: true, every, rounds } => {
                status_watch(max, json, std::time::Duration::from_secs(every), rounds).await
            }
            Command::Check { mpe_id, approve, json } => check(&mpe_id, approve, json).await,
            Command::PlsScan { watch, dry_run, json } => pls_scan(&watch, dry_run, json).await,
            Command::Discover { dry_run, json } => discover(dry_run, json).await,
            Command::Demo { json, time_scale } => Ok(demo_elsewhere(json, time_scale)),
            Command::Simulate { port, time_scale } => Ok(simulate_elsewhere(port, time_scale)),
            Command::Print { what } => print(what).map(|_| ExitCode::SUCCESS),
        }
    })
}
