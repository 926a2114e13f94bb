//! The custom handler's HTTP edge: one axum `Router`, five functions, the readiness ping.
//!
//! `POST /MpeEvent` (Event Grid), `POST /MpeCheck` (Service Bus), `POST /MpeReplay` (HTTP), `POST /MpeSweep`,
//! `POST /MpePlsScan` and `POST /MpeDiscover` (timers). Each takes the Functions envelope and answers `{Outputs, Logs, ReturnValue}`.
//! A 500 (still JSON) fails the invocation on purpose, for transient trouble only: Service Bus then
//! redelivers, Event Grid retries.

mod app;
pub(crate) use app::Reply;
pub use app::{enqueue, scheduled_time, work_message, App};
mod approving;
mod check;
pub use check::{inspect, Inspection};
mod discover;
pub use discover::{discover, sources as discovery_sources, Discovered};
pub use settle::write_outcome_events;
mod events;
mod groups;
pub use groups::{GroupCache, MAX_PAGES, REFRESH, RETRY_FAILED};
mod observe;
mod outbox;
mod pass;
mod pls;
pub use pls::{pls_scan, PlsRow, PlsScan};
mod queued;
pub use queued::{replay_queued, rotation, rotation_every, status, sweep, Found, QueueDepth, Status, Sweep};
mod replay;
mod settle;

use crate::functions::InvocationRequest;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

pub const EVENT_FUNCTION: &str = "MpeEvent";
pub const CHECK_FUNCTION: &str = "MpeCheck";
pub const REPLAY_FUNCTION: &str = "MpeReplay";
pub const SWEEP_FUNCTION: &str = "MpeSweep";
pub const PLS_SCAN_FUNCTION: &str = "MpePlsScan";
pub const DISCOVER_FUNCTION: &str = "MpeDiscover";

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { "mpe-approver ready" }))
        .route(&format!("/{EVENT_FUNCTION}"), post(on_event))
        .route(&format!("/{CHECK_FUNCTION}"), post(on_check))
        .route(&format!("/{REPLAY_FUNCTION}"), post(on_replay))
        .route(&format!("/{SWEEP_FUNCTION}"), post(on_sweep))
        .route(&format!("/{PLS_SCAN_FUNCTION}"), post(on_pls_scan))
        .route(&format!("/{DISCOVER_FUNCTION}"), post(on_discover))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "no such function"}))) })
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(app)
}

/// Parse the envelope; a body that is not one is answered 200 with an error log: retrying cannot fix it.
fn envelope(function: &str, body: &[u8]) -> Result<InvocationRequest, Reply> {
    serde_json::from_slice::<InvocationRequest>(body).map_err(|e| {
        let mut r = Reply::new();
        r.resp.log(
            tracing::Level::ERROR,
            format!("{function}: invocation body is not a Functions envelope: {}", crate::logsafe::q(&e.to_string())),
        );
        r
    })
}

/// The host's invocation id header (`x-azure-functions-invocationid`), taken from the request without
/// copying its other headers.
struct InvocationHeader(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for InvocationHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(InvocationHeader(parts.headers.get("x-azure-functions-invocationid").cloned()))
    }
}

/// The host's invocation id as logged: a GUID's characters (letters, digits, `-`), at most 64 of them,
/// or `-`; any other value is not written anywhere.
fn invocation_id(header: &InvocationHeader) -> String {
    header
        .0
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or("-")
        .to_string()
}

/// Run a function within its budget (real time): past it the invocation fails (Event Grid and Service
/// Bus deliver again), so no dependency can hold it until the host kills it.
async fn within_budget(
    function: &str,
    budget: std::time::Duration,
    run: impl std::future::Future<Output = Reply>,
) -> Reply {
    match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => {
            let mut r = Reply::new();
            r.resp.log(
                tracing::Level::ERROR,
                format!(
                    "{function}: ran past its budget of {}s; failing the invocation for redelivery",
                    budget.as_secs_f64()
                ),
            );
            r.fail = true;
            r
        }
    }
}

async fn on_event(State(app): State<Arc<App>>, headers: InvocationHeader, body: axum::body::Bytes) -> Reply {
    // Most events are writes of other resources: answered without parsing the envelope into a JSON tree.
    if let Some(r) = events::ignored(&app, &body, || invocation_id(&headers)) {
        return r;
    }
    match envelope(EVENT_FUNCTION, &body) {
        Ok(req) => {
            within_budget(EVENT_FUNCTION, app.config.budgets.event, events::run(&app, req, &invocation_id(&headers)))
                .await
        }
        Err(r) => r,
    }
}

async fn on_check(State(app): State<Arc<App>>, headers: InvocationHeader, body: axum::body::Bytes) -> Reply {
    match envelope(CHECK_FUNCTION, &body) {
        Ok(req) => {
            within_budget(CHECK_FUNCTION, app.config.budgets.check, check::run(&app, req, &invocation_id(&headers)))
                .await
        }
        // Answering 200 would complete the message and lose it: park what arrived (or fail, so Service
        // Bus redelivers, when even that is impossible).
        Err(mut r) => {
            let reason = crate::decision::ParkReason::new(
                crate::decision::ParkCode::InvalidInput,
                "MpeCheck invocation body is not a Functions envelope",
            );
            let body = String::from_utf8_lossy(&body).into_owned();
            app.park_or_fail(&mut r, "the unreadable invocation", body, &reason, None, CHECK_FUNCTION).await;
            r
        }
    }
}

async fn on_replay(State(app): State<Arc<App>>, headers: InvocationHeader, body: axum::body::Bytes) -> Reply {
    match envelope(REPLAY_FUNCTION, &body) {
        Ok(req) => {
            let mut r = within_budget(
                REPLAY_FUNCTION,
                app.config.budgets.replay,
                replay::run(&app, req, &invocation_id(&headers)),
            )
            .await;
            if r.fail && !r.resp.outputs.contains_key("res") {
                r.resp.outputs.insert(
                    "res".into(),
                    crate::functions::http_response(
                        503,
                        &serde_json::json!({"error": "replay ran past its budget; try again"}),
                    ),
                );
            }
            r
        }
        Err(mut r) => {
            r.resp.outputs.insert(
                "res".into(),
                crate::functions::http_response(400, &serde_json::json!({"error": "not a Functions HTTP invocation"})),
            );
            r
        }
    }
}

/// The timer: queue a check of every MPE not yet approved under the sweep scopes. The whole run, the
/// lists and the sends, stays within `MPE_SWEEP_BUDGET`: the walk stops at nine tenths of it and says
/// what it left, and [`within_budget`] ends the invocation at the budget whatever a dependency does. A
/// timer invocation is not retried by the host, so what a run could not reach is logged as an error
/// and the next run (which starts elsewhere, see [`queued::rotation`]) or `replay --scope` covers it.
async fn on_sweep(State(app): State<Arc<App>>, headers: InvocationHeader, body: axum::body::Bytes) -> Reply {
    let r = match envelope(SWEEP_FUNCTION, &body) {
        Ok(_) => Reply::new(),
        Err(r) => r,
    };
    let invocation = invocation_id(&headers);
    within_budget(SWEEP_FUNCTION, app.config.budgets.sweep, sweep_run(&app, r, &invocation)).await
}

async fn sweep_run(app: &App, mut r: Reply, invocation: &str) -> Reply {
    let scopes = app.config.sweep_scopes();
    if scopes.is_empty() {
        r.resp.log(
            tracing::Level::WARN,
            format!(
                "{SWEEP_FUNCTION} {invocation}: nothing to sweep: set MPE_SWEEP_SCOPES or MPE_SOURCE_SUBSCRIPTIONS"
            ),
        );
        return r;
    }
    let deadline = tokio::time::Instant::now() + app.config.budgets.sweep.mul_f64(0.9);
    let run = sweep(app, &scopes, app.config.sweep_max_calls, app.config.dry_run, deadline, &|_, _| {}).await;
    r.resp.log(tracing::Level::INFO, format!("{SWEEP_FUNCTION} {invocation}: {}", run.summary()));
    for why in run.incomplete.iter().take(20) {
        r.resp.log(tracing::Level::ERROR, format!("{SWEEP_FUNCTION} {invocation}: incomplete: {why}"));
    }
    r
}

/// The timer of discovery: list the MPEs of the sources that raise no ARM event (`MPE_SYNAPSE`) under the
/// sweep scopes and queue a check of each one not yet approved and not queued lately
/// ([`discover::Discovered`]). Within `MPE_DISCOVER_BUDGET`: the walk stops at nine tenths of it, and
/// [`within_budget`] ends the invocation at the budget. A timer is not retried: the next run lists again.
async fn on_discover(State(app): State<Arc<App>>, headers: InvocationHeader, body: axum::body::Bytes) -> Reply {
    let r = match envelope(DISCOVER_FUNCTION, &body) {
        Ok(_) => Reply::new(),
        Err(r) => r,
    };
    let invocation = invocation_id(&headers);
    within_budget(DISCOVER_FUNCTION, app.config.budgets.discover, discover_run(&app, r, &invocation)).await
}

async fn discover_run(app: &App, mut r: Reply, invocation: &str) -> Reply {
    let prefix = format!("{DISCOVER_FUNCTION} {invocation}");
    let sources = discover::sources(app);
    if sources.is_empty() {
        r.resp.log(
            tracing::Level::INFO,
            format!(
                "{prefix}: no source without ARM events is turned on (MPE_SYNAPSE, MPE_DATABRICKS, MPE_FABRIC); \
                 nothing to discover"
            ),
        );
        return r;
    }
    let scopes = app.config.sweep_scopes();
    // Parents a setting names (Databricks' NCCs, Fabric's workspaces) are listed whatever the scopes.
    let named = sources.iter().any(|p| app.config.data_plane(p.resource_type()).is_some_and(|d| !d.parents.is_empty()));
    if scopes.is_empty() && !named {
        r.resp.log(
            tracing::Level::WARN,
            format!("{prefix}: nothing to discover under: set MPE_SWEEP_SCOPES or MPE_SOURCE_SUBSCRIPTIONS"),
        );
        return r;
    }
    let deadline = tokio::time::Instant::now() + app.config.budgets.discover.mul_f64(0.9);
    let run = discover(app, &scopes, app.config.discover_max_calls, app.config.dry_run, deadline).await;
    r.resp.log(tracing::Level::INFO, format!("{prefix}: {}", run.summary()));
    for why in run.incomplete.iter().take(20) {
        r.resp.log(tracing::Level::ERROR, format!("{prefix}: incomplete: {why}"));
    }
    r.resp.return_value = serde_json::json!({
        "found": run.found.len(),
        "wanted": run.wanted(),
        "enqueued": run.enqueued,
        "calls": run.arm_calls,
        "incomplete": run.incomplete.len(),
    });
    r
}

/// The timer of the Private Link Service scan: read the connections of the PLSs `MPE_PLS_WATCH` names,
/// approve those the rules allow (and, with `MPE_PLS_REJECT_AFTER`, reject those left Pending too long),
/// audit every decision and log what the run did, the strangers waiting among it. Within
/// `MPE_PLS_BUDGET`: the scan stops at nine tenths of it, and [`within_budget`] ends the invocation at
/// the budget whatever a dependency does. A timer is not retried: the next run reads everything again.
async fn on_pls_scan(State(app): State<Arc<App>>, headers: InvocationHeader, body: axum::body::Bytes) -> Reply {
    let r = match envelope(PLS_SCAN_FUNCTION, &body) {
        Ok(_) => Reply::new(),
        Err(r) => r,
    };
    let invocation = invocation_id(&headers);
    within_budget(PLS_SCAN_FUNCTION, app.config.budgets.pls, pls_run(&app, r, &invocation)).await
}

async fn pls_run(app: &App, mut r: Reply, invocation: &str) -> Reply {
    let watch = &app.config.pls.watch;
    if watch.is_empty() {
        r.resp.log(
            tracing::Level::INFO,
            format!("{PLS_SCAN_FUNCTION} {invocation}: no Private Link Service is watched (MPE_PLS_WATCH is empty)"),
        );
        return r;
    }
    let deadline = tokio::time::Instant::now() + app.config.budgets.pls.mul_f64(0.9);
    let run = pls_scan(app, watch, app.config.pls.max_calls, app.config.dry_run, deadline).await;
    r.resp.logs.extend(run.logs.iter().cloned());
    let prefix = format!("{PLS_SCAN_FUNCTION} {invocation}");
    r.resp.log(tracing::Level::INFO, format!("{prefix}: {}", run.summary()));
    if run.strangers_waiting > 0 {
        r.resp.log(
            tracing::Level::WARN,
            format!(
                "{prefix}: strangers waiting: {} (Pending connections whose consumer no rule allows: MPE_PLS_ALLOW, \
                 the mpe-approver-allow-from tag); see the mpe.audit lines with outcome left-pending",
                run.strangers_waiting
            ),
        );
    }
    for why in run.incomplete.iter().take(20) {
        r.resp.log(tracing::Level::ERROR, format!("{prefix}: incomplete: {why}"));
    }
    r.resp.return_value = run.counts();
    r
}

/// Serve until the process is told to stop.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> anyhow::Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (how the Functions host stops a worker on Linux): in-flight invocations finish first.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down after in-flight invocations");
}
