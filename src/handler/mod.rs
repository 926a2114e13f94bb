//! The custom handler's HTTP edge: one axum `Router`, four functions, the readiness ping.
//!
//! `POST /MpeEvent` (Event Grid), `POST /MpeCheck` (Service Bus), `POST /MpeReplay` (HTTP), `POST /MpeSweep`
//! (timer). Each takes the Functions envelope and answers `{Outputs, Logs, ReturnValue}`. A 500 (still JSON) fails the
//! invocation on purpose, for transient trouble only: Service Bus then redelivers, Event Grid retries.

mod check;
pub use check::{inspect, write_outcome_events, Inspection};
mod events;
mod queued;
pub use queued::{replay_queued, rotation, status, sweep, Found, QueueDepth, Status, Sweep};
mod replay;

use crate::arm::ArmClient;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::functions::{InvocationRequest, InvocationResponse};
use crate::servicebus::{props, OutgoingMessage, QueueSender, SendError};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

pub const EVENT_FUNCTION: &str = "MpeEvent";
pub const CHECK_FUNCTION: &str = "MpeCheck";
pub const REPLAY_FUNCTION: &str = "MpeReplay";
pub const SWEEP_FUNCTION: &str = "MpeSweep";

/// Everything a function needs: configuration, the ARM client, the queue sender and the clock.
pub struct App {
    pub config: Config,
    pub arm: ArmClient,
    pub sender: Arc<dyn QueueSender>,
    pub clock: SharedClock,
}

impl App {
    /// The production wiring: ARM client and Service Bus REST sender over one token source.
    pub fn new(config: Config, tokens: Arc<dyn crate::auth::TokenSource>, clock: SharedClock) -> anyhow::Result<App> {
        if config.policy.allows_everything() {
            tracing::warn!(
                "MPE_ALLOW holds *->*: any MPE in a watched subscription may be approved on any target the \
                 approver's role reaches (the confused-deputy risk the default same-subscription rule prevents)"
            );
        }
        let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), tokens.clone(), clock.clone())?;
        let sender: Arc<dyn QueueSender> = Arc::new(crate::servicebus::RestSender::new(
            config.servicebus_endpoint.clone(),
            config.servicebus_audience.clone(),
            tokens,
            clock.clone(),
        )?);
        Ok(App { config, arm, sender, clock })
    }

    /// Put a message that cannot succeed on the parking queue, with the reason as an application property.
    pub(crate) async fn park(
        &self,
        body: String,
        reason: &crate::decision::ParkReason,
        mpe_id: Option<&str>,
        correlation_id: Option<&str>,
        source: &str,
    ) -> Result<(), SendError> {
        let mut properties = vec![
            (props::PARK_REASON.to_string(), reason.text.clone()),
            (props::PARK_CODE.to_string(), reason.code.as_str().to_string()),
            (props::PARKED_BY.to_string(), source.to_string()),
            (props::PARKED_AT.to_string(), self.clock.now().to_rfc3339()),
        ];
        if let Some(id) = mpe_id {
            properties.push((props::MPE_ID.to_string(), id.to_string()));
        }
        let msg = OutgoingMessage {
            body,
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: correlation_id.map(str::to_string),
            scheduled_enqueue_utc: None,
            time_to_live: None,
            properties,
        };
        self.sender.send(&self.config.parking_queue, msg).await
    }
}

/// A function's result: the reply, and whether the invocation should fail (transient trouble).
pub(crate) struct Reply {
    pub resp: InvocationResponse,
    pub fail: bool,
}

impl Reply {
    pub fn new() -> Self {
        Reply { resp: InvocationResponse::default(), fail: false }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = if self.fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        (status, Json(self.resp)).into_response()
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { "mpe-approver ready" }))
        .route(&format!("/{EVENT_FUNCTION}"), post(on_event))
        .route(&format!("/{CHECK_FUNCTION}"), post(on_check))
        .route(&format!("/{REPLAY_FUNCTION}"), post(on_replay))
        .route(&format!("/{SWEEP_FUNCTION}"), post(on_sweep))
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

/// The host's invocation id header as logged: a GUID's characters (letters, digits, `-`), at most 64 of
/// them, or `-`; any other value is not written anywhere.
fn invocation_id(headers: &HeaderMap) -> String {
    headers
        .get("x-azure-functions-invocationid")
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

async fn on_event(State(app): State<Arc<App>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
    match envelope(EVENT_FUNCTION, &body) {
        Ok(req) => {
            within_budget(EVENT_FUNCTION, app.config.budgets.event, events::run(&app, req, &invocation_id(&headers)))
                .await
        }
        Err(r) => r,
    }
}

async fn on_check(State(app): State<Arc<App>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
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
            if let Err(e) =
                app.park(String::from_utf8_lossy(&body).into_owned(), &reason, None, None, CHECK_FUNCTION).await
            {
                r.resp.log(tracing::Level::ERROR, format!("could not park the unreadable invocation: {e}"));
                r.fail = true;
            }
            r
        }
    }
}

async fn on_replay(State(app): State<Arc<App>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
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
async fn on_sweep(State(app): State<Arc<App>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
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
    let run = sweep(app, &scopes, app.config.sweep_max_calls, app.config.dry_run, deadline).await;
    r.resp.log(tracing::Level::INFO, format!("{SWEEP_FUNCTION} {invocation}: {}", run.summary()));
    for why in run.incomplete.iter().take(20) {
        r.resp.log(tracing::Level::ERROR, format!("{SWEEP_FUNCTION} {invocation}: incomplete: {why}"));
    }
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

/// Enqueue a work item on the work queue, scheduled `delay` from now.
pub async fn enqueue(
    app: &App,
    item: &crate::workitem::WorkItem,
    delay: std::time::Duration,
) -> Result<OutgoingMessage, SendError> {
    let msg = work_message(app, item, delay);
    app.sender.send(&app.config.queue, msg.clone()).await?;
    Ok(msg)
}

/// The work-queue message for `item`, scheduled `delay` from now (its id from [`WorkItem::message_id`]).
///
/// [`WorkItem::message_id`]: crate::workitem::WorkItem::message_id
pub fn work_message(app: &App, item: &crate::workitem::WorkItem, delay: std::time::Duration) -> OutgoingMessage {
    let at = scheduled_time(app.clock.now(), delay);
    OutgoingMessage {
        body: item.to_json(),
        message_id: item.message_id(),
        correlation_id: Some(item.correlation_id.clone()),
        scheduled_enqueue_utc: if delay.is_zero() { None } else { Some(at) },
        time_to_live: Some(app.config.message_ttl),
        properties: vec![
            (props::MPE_ID.into(), item.mpe_id.to_string()),
            (props::ATTEMPT.into(), item.attempt.to_string()),
        ],
    }
}

/// `now + delay`, rounded to the nearest whole second: `ScheduledEnqueueTimeUtc` travels as RFC 1123,
/// which has no fractions. Nearest (not up) keeps the average interval at the schedule's; a check a
/// fraction of a second early is harmless, since only the MPE's own state gates an approval.
pub fn scheduled_time(now: chrono::DateTime<chrono::Utc>, delay: std::time::Duration) -> chrono::DateTime<chrono::Utc> {
    let at = now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::seconds(1));
    let whole = at.timestamp() + i64::from(at.timestamp_subsec_nanos() >= 500_000_000);
    chrono::DateTime::from_timestamp(whole, 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::scheduled_time;
    use std::time::Duration;

    #[test]
    fn scheduled_times_round_to_whole_seconds() {
        let now: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00.200Z".parse().unwrap();
        assert_eq!(
            scheduled_time(now, Duration::from_millis(1800)),
            "2026-11-23T10:00:02Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        assert_eq!(
            scheduled_time(now, Duration::from_millis(1900)),
            "2026-11-23T10:00:02Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        assert_eq!(
            scheduled_time(now, Duration::from_millis(2300)),
            "2026-11-23T10:00:03Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        let whole: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        assert_eq!(
            scheduled_time(whole, Duration::from_secs(2)),
            "2026-11-23T10:00:02Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
    }
}
