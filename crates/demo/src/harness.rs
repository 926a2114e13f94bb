//! The in-process wiring of the two crates: the simulator (`azure-sim`, what Azure answers) and the
//! approver's handler (`mpe-approver`, what we decide), served on loopback with the same router as
//! `mpe-approver serve`. [`SimTime`] gives both the same compressed time; [`IdentityEndpointTokens`]
//! fetches tokens from the simulator's identity endpoint; [`Harness`] is what the demo and the
//! end-to-end tests drive.

use anyhow::Context;
use async_trait::async_trait;
use azure_sim::{FunctionsHost, ScaledClock, SimOptions, Simulator};
use mpe_approver::auth::{AuthError, TokenSource};
use mpe_approver::clock::{Clock, SharedClock};
use mpe_approver::config::Config;
use mpe_approver::handler::{self, App};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulator's clock as the handler's [`Clock`]: the one adapter between the two crates' time, so
/// the handler's schedule and the simulated Azure run on the same compressed time.
pub struct SimTime(pub azure_sim::SharedClock);

impl Clock for SimTime {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.now()
    }
    fn real(&self, d: Duration) -> Duration {
        self.0.real(d)
    }
}

/// Tokens from the simulator's App Service identity endpoint, over the same protocol as in Azure.
pub struct IdentityEndpointTokens {
    http: reqwest::Client,
    endpoint: String,
    secret: String,
    cache: Mutex<HashMap<String, String>>,
}

impl IdentityEndpointTokens {
    pub fn new(endpoint: String, secret: String) -> Self {
        IdentityEndpointTokens { http: reqwest::Client::new(), endpoint, secret, cache: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl TokenSource for IdentityEndpointTokens {
    async fn token(&self, audience: &str) -> Result<String, AuthError> {
        let err = |m: String| AuthError::transient(audience, m);
        if let Some(t) = self.cache.lock().map_err(|_| err("token cache poisoned".into()))?.get(audience) {
            return Ok(t.clone());
        }
        self.fresh_token(audience).await
    }

    /// Ask the endpoint, whatever the cache holds, and cache the answer.
    async fn fresh_token(&self, audience: &str) -> Result<String, AuthError> {
        let err = |m: String| AuthError::transient(audience, m);
        let resp = self
            .http
            .get(&self.endpoint)
            .query(&[("api-version", "2019-08-01"), ("resource", audience)])
            .header("X-IDENTITY-HEADER", &self.secret)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(err(format!("identity endpoint answered {}", resp.status())));
        }
        let v: serde_json::Value = resp.json().await.map_err(|e| err(e.to_string()))?;
        let token = v.get("access_token").and_then(|t| t.as_str()).ok_or_else(|| err("no access_token".into()))?;
        self.cache
            .lock()
            .map_err(|_| err("token cache poisoned".into()))?
            .insert(audience.to_string(), token.to_string());
        Ok(token.to_string())
    }
}

/// A running simulator with a handler attached, for the demo and end-to-end tests.
pub struct Harness {
    pub sim: Simulator,
    pub host: FunctionsHost,
    /// The simulator's clock, as the handler sees it.
    pub clock: SharedClock,
    handler: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.handler.abort();
    }
}

impl Harness {
    /// Start the simulator and an in-process handler configured only through `Config::from_lookup`
    /// over the simulator's environment plus `extra` settings.
    pub async fn start(time_scale: f64, extra: &[(&str, &str)]) -> anyhow::Result<Harness> {
        Self::start_with(time_scale, extra, SimOptions::default()).await
    }

    /// [`Harness::start`] with the simulator's options (e.g. paged PEC lists); the queues are always
    /// the handler's defaults.
    pub async fn start_with(time_scale: f64, extra: &[(&str, &str)], options: SimOptions) -> anyhow::Result<Harness> {
        let sim_clock: azure_sim::SharedClock = Arc::new(ScaledClock::new(chrono::Utc::now(), time_scale));
        let clock: SharedClock = Arc::new(SimTime(sim_clock.clone()));
        let sim = Simulator::start(
            sim_clock,
            SimOptions { work_queue: "mpe-approvals".into(), parking_queue: "mpe-approvals-parked".into(), ..options },
        )
        .await?;
        let (url, handler, _) = serve_handler(&sim, clock.clone(), extra).await?;
        let host = sim.host(&url);
        host.wait_ready(Duration::from_secs(10)).await?;
        Ok(Harness { sim, host, clock, handler })
    }
}

/// The operator's naming rule for the simulator's Fabric private endpoints (`fabric-{workspace}-{mpe}`: the
/// simulator's stand-in, Fabric publishes none), set by [`serve_handler`] unless a test sets its own.
pub const FABRIC_RULE: &str = "MpeApprover.Fabric/workspaces/managedPrivateEndpoints=fabric-{parent}-{mpe}";

/// Start an in-process handler over `sim`, configured only through `Config::from_lookup` over the
/// simulator's environment (with the opt-in sources on) plus `extra` settings. Returns its URL, its task and its `App` (for calling
/// the operator functions, e.g. `handler::replay_queued`, with the same configuration).
pub async fn serve_handler(
    sim: &Simulator,
    clock: SharedClock,
    extra: &[(&str, &str)],
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>, Arc<App>)> {
    let mut env: HashMap<String, String> = sim.handler_env().into_iter().collect();
    // The local deployment turns the opt-in sources on (the demo and the suites cover them); `extra` may
    // turn them off again.
    env.insert("MPE_CUSTOMER_ENDPOINTS".into(), "true".into());
    env.insert("MPE_SYNAPSE".into(), "true".into());
    env.insert("MPE_DATABRICKS".into(), "true".into());
    env.insert("MPE_FABRIC".into(), "true".into());
    // Fabric publishes no tie between a PEC and its MPE: the local deployment sets the operator's rule for
    // the simulator's Fabric private endpoints (`extra` may set `MPE_ENDPOINT_NAMES` otherwise, `""` none).
    env.insert("MPE_ENDPOINT_NAMES".into(), FABRIC_RULE.into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let tokens: Arc<dyn TokenSource> =
        Arc::new(IdentityEndpointTokens::new(sim.identity_endpoint(), sim.identity_header().to_string()));
    let app = Arc::new(App::new(config, tokens, clock)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the handler")?;
    let url = format!("http://{}", listener.local_addr()?);
    let served = app.clone();
    let handler = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, handler::router(served)).await {
            tracing::error!(error = %e, "handler stopped");
        }
    });
    Ok((url, handler, app))
}
