//! azure-sim: a local Azure on loopback, written from Azure's wire format only: the App Service
//! managed-identity endpoint, ARM (MPEs of each served service in its own vocabulary, six target types
//! with their PEC list shapes, tags, the race rule, Private Link Services and their consumers'
//! connections), Service Bus REST, Event Grid event builders, and a
//! Functions-host emulator ([`host`]) that drives any custom-handler binary through its HTTP contract.
//! Used by its own binary (`azure-sim`, `src/main.rs`), the demo (crate `mpe-demo`) and end-to-end
//! tests; it knows nothing of the approver.
//!
//! One axum server on `127.0.0.1`: `/msi/token`, `/arm/...`, `/servicebus/{queuePath}/messages...`. Time is the
//! injected [`SharedClock`]; MPE phases are computed lazily from timestamps. The simulator must never
//! listen beyond loopback, panic on a request, or call real Azure.
//!
//! Ids are passed as strings (anything `AsRef<str>`, e.g. another crate's id type) and parsed here.
//!
//! The routes ([`arm`], [`arm_lists`], [`arm_pls`], [`identity`], [`servicebus::rest`]) translate requests into calls
//! on the shared state ([`app_state::AppState`]) and the models it holds ([`state::World`], [`pls`],
//! [`servicebus::queues`], [`tokens`], [`throttle`], [`faults`], [`latency`]), which import no route.
//! This file is the public API; no module imports it.

pub mod app_state;
pub mod arm;
mod arm_create;
pub mod arm_lists;
pub mod arm_mgmt;
pub mod arm_pls;
pub mod arm_wire;
pub mod clock;
pub mod databricks;
pub mod events;
pub mod fabric;
pub mod faults;
pub mod host;
pub mod id;
pub mod identity;
pub mod invocations;
pub mod latency;
pub mod mgmt;
pub mod mpe;
pub mod pls;
pub mod servicebus;
pub mod state;
pub mod synapse;
mod sync;
pub mod throttle;
pub mod tokens;

pub use app_state::{AppState, SimOptions, DEFAULT_SERVICEBUS_NAMESPACE_ID};
pub use clock::{Clock, ScaledClock, SharedClock, SystemClock};
pub use events::{resource_write_success_event, write_success_event};
pub use faults::FaultKind;
pub use host::{FunctionsHost, HttpOutput, InvocationResult, QueuePump};
pub use id::ResourceId;
pub use invocations::{InvocationRecord, InvocationSummary};
pub use latency::Dependency;
pub use mgmt::HierarchyError;
pub use mpe::{MpeFacts, MpePhase, MpeType};
pub use pls::{ConnectionStatus, PlsConnection, PlsError};
pub use servicebus::{
    dead_letter_path, BusError, DeadLetter, OutgoingMessage, QueueCounts, QueueReport, Received, SbMessage,
    SendOutcome, ServiceBus, DEAD_LETTER_QUEUE, LOCK_DURATION, MAX_DELIVERY_COUNT,
};
pub use state::{MpeReport, MpeSpec, PecSnapshot, PecStatus, TargetKind, Violation, ViolationKind, WorldError};
pub use throttle::{RpThrottle, Throttle, ThrottleReport};

use anyhow::Context;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use sync::lock;
use tokio::task::JoinHandle;

/// What happened, for tests and the demo.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimReport {
    pub now: DateTime<Utc>,
    pub arm_calls_total: u64,
    /// ARM `GET`s among them; the rest (`PUT`, `POST`, `DELETE`) are writes.
    pub arm_reads: u64,
    pub arm_writes: u64,
    pub arm_calls_by_resource: BTreeMap<String, u64>,
    pub faults_injected: u64,
    /// Per-subscription throttling ([`SimOptions::throttle`]): 429s and calls inside a wait.
    pub throttle: ThrottleReport,
    pub tokens_issued: usize,
    pub mpes: Vec<MpeReport>,
    pub violations: Vec<Violation>,
    pub queues: Vec<QueueReport>,
    pub invocations: InvocationSummary,
}

impl SimReport {
    pub fn mpe(&self, id: &str) -> Option<&MpeReport> {
        self.mpes.iter().find(|m| m.id.eq_ignore_ascii_case(id))
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    state: Arc<AppState>,
    addr: std::net::SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { "azure-sim: /msi/token, /arm/..., /servicebus/{queue}/messages\n" }))
        .route("/msi/token", get(identity::token))
        .route("/arm", any(arm::handler))
        .route("/arm/", any(arm::handler))
        .route("/arm/{*rest}", any(arm::handler))
        .route("/servicebus/{*rest}", any(servicebus::rest::handler))
        .route("/synapse/{*rest}", any(synapse::handler))
        .route("/databricks/{*rest}", any(databricks::handler))
        .route("/fabric/{*rest}", any(fabric::handler))
        .layer(axum::middleware::from_fn_with_state(state.clone(), delay))
        .with_state(state)
}

/// Middleware: wait out the request's latency ([`Simulator::set_latency`]), then answer it.
async fn delay(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let wait = lock(&st.latency).for_request(req.method(), req.uri().path());
    if let Some(wait) = wait {
        tokio::time::sleep(wait).await;
    }
    next.run(req).await
}

impl Simulator {
    pub async fn start(clock: SharedClock, options: SimOptions) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .with_context(|| format!("binding the simulator to 127.0.0.1:{}", options.port))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState::new(clock, options, format!("http://{addr}")));
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(target: "simulator", error = %e, "simulator server stopped");
            }
        });
        tracing::info!(target: "simulator", %addr, "simulator listening");
        Ok(Simulator { state, addr, server })
    }

    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    pub fn clock(&self) -> &SharedClock {
        &self.state.clock
    }
    /// `IDENTITY_ENDPOINT`.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.state.base_url)
    }
    /// `IDENTITY_HEADER`.
    pub fn identity_header(&self) -> &str {
        &self.state.identity_secret
    }
    /// ARM base URL: resource ids are appended (`{arm}{id}?api-version=...`).
    pub fn arm_endpoint(&self) -> String {
        self.state.arm_base()
    }
    /// Service Bus base URL: messages go to `{endpoint}/{queue}/messages`.
    pub fn servicebus_endpoint(&self) -> String {
        format!("{}/servicebus", self.state.base_url)
    }
    /// The ARM id of the simulated Service Bus namespace ([`SimOptions::servicebus_namespace_id`]).
    pub fn servicebus_resource_id(&self) -> &str {
        &self.state.options.servicebus_namespace_id
    }
    pub fn service_bus(&self) -> ServiceBus {
        self.state.bus.clone()
    }
    pub fn work_queue_name(&self) -> &str {
        &self.state.options.work_queue
    }
    pub fn parking_queue_name(&self) -> &str {
        &self.state.options.parking_queue
    }
    /// Messages waiting in the work queue (visible or scheduled), not taken.
    pub fn work_messages(&self) -> Vec<SbMessage> {
        self.state.bus.peek(&self.state.options.work_queue)
    }
    /// Messages parked for a human, with their application properties.
    pub fn parked(&self) -> Vec<SbMessage> {
        self.state.bus.peek(&self.state.options.parking_queue)
    }
    /// The work queue's dead-letter queue.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state.bus.dead_letters(&self.state.options.work_queue)
    }

    /// The environment a handler needs to talk to this simulator.
    pub fn handler_env(&self) -> Vec<(String, String)> {
        let work_queue = self.work_queue_name();
        let parking_queue = self.parking_queue_name();
        vec![
            ("IDENTITY_ENDPOINT".into(), self.identity_endpoint()),
            ("IDENTITY_HEADER".into(), self.identity_header().to_string()),
            ("MPE_ARM_ENDPOINT".into(), self.arm_endpoint()),
            ("MPE_SERVICEBUS_ENDPOINT".into(), self.servicebus_endpoint()),
            ("ServiceBusConnection__fullyQualifiedNamespace".into(), "localhost".into()),
            ("MPE_QUEUE_NAME".into(), work_queue.into()),
            ("MPE_PARKING_QUEUE_NAME".into(), parking_queue.into()),
            ("MPE_SERVICEBUS_RESOURCE_ID".into(), self.servicebus_resource_id().into()),
            ("MPE_SYNAPSE_ENDPOINT".into(), self.synapse_endpoint()),
            ("MPE_DATABRICKS_ENDPOINT".into(), self.databricks_endpoint()),
            ("MPE_FABRIC_ENDPOINT".into(), self.fabric_endpoint()),
        ]
    }

    /// The Synapse data plane's endpoint, `{workspace}` standing for a workspace's name
    /// ([`crate::synapse`]).
    pub fn synapse_endpoint(&self) -> String {
        format!("{}/synapse/{{workspace}}", self.base_url())
    }

    /// The MPEs created through ARM since the last call, in order ([`crate::arm_create`]): each one's
    /// `ResourceWriteSuccess` event is the caller's to deliver ([`write_success_event`]).
    pub fn take_created(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.state.created))
    }

    /// Accept `token` for `audience` from now on, as if the identity endpoint had issued it: a token a
    /// person can type (the playground's).
    pub fn accept_token(&self, token: &str, audience: &str) {
        lock(&self.state.tokens).issue_as(token, audience, self.state.clock.now());
    }

    /// The Databricks account API's endpoint ([`crate::databricks`]).
    pub fn databricks_endpoint(&self) -> String {
        format!("{}/databricks", self.base_url())
    }

    /// A Databricks network connectivity configuration the account API serves, filed under `home` (a
    /// resource group id): its id in the world, `{home}/providers/MpeApprover.Databricks/accounts/{account}/
    /// networkConnectivityConfigs/{ncc}` (as the approver's `MPE_DATABRICKS_NCCS` names it).
    pub fn add_databricks_ncc(&self, account: &str, ncc: &str, home: &str) -> Result<String, WorldError> {
        let id = format!("{home}/providers/MpeApprover.Databricks/accounts/{account}/networkConnectivityConfigs/{ncc}");
        let parsed = ResourceId::parse(&id)?;
        lock(&self.state.world).add_api_parent(&parsed);
        Ok(id)
    }

    /// The Fabric REST API's endpoint ([`crate::fabric`]).
    pub fn fabric_endpoint(&self) -> String {
        format!("{}/fabric", self.base_url())
    }

    /// A Fabric workspace the Fabric API serves, filed under `home` (a resource group id): its id in the
    /// world, `{home}/providers/MpeApprover.Fabric/workspaces/{workspace}` (as the approver's
    /// `MPE_FABRIC_WORKSPACES` names it).
    pub fn add_fabric_workspace(&self, workspace: &str, home: &str) -> Result<String, WorldError> {
        let id = format!("{home}/providers/{}/{workspace}", fabric::WORKSPACE_TYPE);
        let parsed = ResourceId::parse(&id)?;
        lock(&self.state.world).add_api_parent(&parsed);
        Ok(id)
    }

    /// A Synapse workspace (its ARM id) whose data plane serves MPEs created through it ([`crate::synapse`]).
    pub fn add_synapse_workspace(&self, workspace: impl AsRef<str>) -> Result<(), WorldError> {
        let id = ResourceId::parse(workspace.as_ref())?;
        lock(&self.state.world).add_data_plane_parent(&id);
        Ok(())
    }

    /// Issue a token directly (what `/msi/token` does), e.g. for tests that call ARM themselves.
    pub fn issue_token(&self, audience: &str) -> String {
        lock(&self.state.tokens).issue(audience, None, self.state.clock.now())
    }

    pub fn add_target(&self, target: impl AsRef<str>) -> Result<TargetKind, WorldError> {
        let target = ResourceId::parse(target.as_ref())?;
        lock(&self.state.world).add_target(&target)
    }
    /// Add an MPE created now. Returns the name its PEC will have at the target.
    pub fn add_mpe(&self, spec: MpeSpec) -> Result<String, WorldError> {
        let now = self.state.clock.now();
        lock(&self.state.world).add_mpe(spec, now)
    }
    /// A stranger's Pending PEC (private endpoint `endpoint_name`) on `target`. Returns the PEC name.
    pub fn add_stranger(&self, target: impl AsRef<str>, endpoint_name: &str) -> Result<String, WorldError> {
        let target = ResourceId::parse(target.as_ref())?;
        let now = self.state.clock.now();
        lock(&self.state.world).add_stranger(&target, endpoint_name, "Please approve my request!", now)
    }
    /// Tag a target (`Microsoft.Resources/tags/default` then reports it).
    pub fn set_target_tag(&self, target: impl AsRef<str>, name: &str, value: &str) -> Result<(), WorldError> {
        let target = ResourceId::parse(target.as_ref())?;
        lock(&self.state.world).set_target_tag(&target, name, value)
    }
    /// A second Pending PEC on the MPE's target whose endpoint has the MPE's endpoint name. Returns its name.
    pub fn add_twin(&self, mpe: impl AsRef<str>, description: Option<&str>) -> Result<String, WorldError> {
        let mpe = ResourceId::parse(mpe.as_ref())?;
        let now = self.state.clock.now();
        lock(&self.state.world).add_twin(&mpe, description, now)
    }
    pub fn delete_mpe(&self, mpe: impl AsRef<str>) -> Result<(), WorldError> {
        self.delete_mpe_at(mpe, self.state.clock.now())
    }
    pub fn delete_mpe_at(&self, mpe: impl AsRef<str>, when: DateTime<Utc>) -> Result<(), WorldError> {
        let mpe = ResourceId::parse(mpe.as_ref())?;
        lock(&self.state.world).delete_mpe(&mpe, when)
    }
    /// A human rejects the MPE's PEC now.
    pub fn reject_pec(&self, mpe: impl AsRef<str>) -> Result<(), WorldError> {
        self.reject_pec_at(mpe, self.state.clock.now())
    }
    pub fn reject_pec_at(&self, mpe: impl AsRef<str>, when: DateTime<Utc>) -> Result<(), WorldError> {
        let mpe = ResourceId::parse(mpe.as_ref())?;
        lock(&self.state.world).reject_pec(&mpe, when)
    }
    /// [`Simulator::add_twin`] whose private endpoint lives in `subscription` (a stranger's own, e.g. in
    /// another tenant): same endpoint name and group, and the MPE's request message unless `description`.
    pub fn add_twin_in(
        &self,
        mpe: impl AsRef<str>,
        subscription: &str,
        description: Option<&str>,
    ) -> Result<String, WorldError> {
        let mpe = ResourceId::parse(mpe.as_ref())?;
        let now = self.state.clock.now();
        lock(&self.state.world).add_twin_in(&mpe, description, subscription, now)
    }
    /// The target's owner approves a PEC by name now (`az network private-endpoint-connection approve
    /// --id <pec> --description <description>`), as `by`.
    pub fn approve_connection(
        &self,
        target: impl AsRef<str>,
        name: &str,
        by: &str,
        description: &str,
    ) -> Result<(), WorldError> {
        let target = ResourceId::parse(target.as_ref())?;
        lock(&self.state.world).approve(&target, name, by, description, self.state.clock.now()).map(|_| ())
    }
    /// The target's owner rejects a PEC by name now (`az network private-endpoint-connection reject
    /// --description <description>`); `None` writes the portal's "Rejected by an administrator".
    pub fn reject_connection(
        &self,
        target: impl AsRef<str>,
        name: &str,
        description: Option<&str>,
    ) -> Result<(), WorldError> {
        let target = ResourceId::parse(target.as_ref())?;
        lock(&self.state.world).reject_connection(&target, name, description, self.state.clock.now())
    }
    /// The target's owner deletes a PEC by name now (`az network private-endpoint-connection delete`):
    /// the target no longer lists it.
    pub fn remove_connection(&self, target: impl AsRef<str>, name: &str) -> Result<(), WorldError> {
        let target = ResourceId::parse(target.as_ref())?;
        lock(&self.state.world).remove_connection(&target, name, self.state.clock.now())
    }
    /// A Private Link Service (`Microsoft.Network/privateLinkServices`, top level) with no connections.
    pub fn add_pls(&self, pls: impl AsRef<str>) -> Result<(), PlsError> {
        let pls = ResourceId::parse(pls.as_ref()).map_err(|e| PlsError::NotPls(e.to_string()))?;
        lock(&self.state.world).pls.add(&pls)
    }
    /// Tag a Private Link Service (`Microsoft.Resources/tags/default` then reports it).
    pub fn set_pls_tag(&self, pls: impl AsRef<str>, name: &str, value: &str) -> Result<(), PlsError> {
        let pls = ResourceId::parse(pls.as_ref()).map_err(|e| PlsError::NotPls(e.to_string()))?;
        lock(&self.state.world).pls.set_tag(&pls, name, value)
    }
    /// A consumer's private endpoint `endpoint_name`, in `subscription` (any: another tenant's too), asks
    /// to connect to the PLS with the request message `description`: a Pending connection. Returns its
    /// name.
    pub fn connect_to_pls(
        &self,
        pls: impl AsRef<str>,
        subscription: &str,
        endpoint_name: &str,
        description: &str,
    ) -> Result<String, PlsError> {
        let endpoint = format!(
            "/subscriptions/{subscription}/resourceGroups/consumer-rg/providers/Microsoft.Network/privateEndpoints/{endpoint_name}"
        );
        self.connect_to_pls_from(pls, &endpoint, description)
    }
    /// [`Simulator::connect_to_pls`] with the private endpoint id given whole, as the connection will
    /// report it (any text: a hostile or broken one too).
    pub fn connect_to_pls_from(
        &self,
        pls: impl AsRef<str>,
        endpoint_id: &str,
        description: &str,
    ) -> Result<String, PlsError> {
        let pls = ResourceId::parse(pls.as_ref()).map_err(|e| PlsError::NotPls(e.to_string()))?;
        lock(&self.state.world).pls.connect(&pls, endpoint_id, description)
    }
    /// The PLS's connections now.
    pub fn pls_connections(&self, pls: impl AsRef<str>) -> Vec<PlsConnection> {
        let Ok(pls) = ResourceId::parse(pls.as_ref()) else { return Vec::new() };
        lock(&self.state.world).pls.connections(&pls, self.state.clock.now()).unwrap_or_default()
    }
    /// One connection of the PLS now, by name.
    pub fn pls_connection(&self, pls: impl AsRef<str>, name: &str) -> Option<PlsConnection> {
        let pls = ResourceId::parse(pls.as_ref()).ok()?;
        lock(&self.state.world).pls.connection(&pls, name, self.state.clock.now()).ok()
    }
    /// The PLS's owner sets a connection's state by hand now (`Approved` or `Rejected`), as `by`.
    pub fn set_pls_connection(
        &self,
        pls: impl AsRef<str>,
        name: &str,
        status: ConnectionStatus,
        description: &str,
        by: &str,
    ) -> Result<PlsConnection, PlsError> {
        let pls = ResourceId::parse(pls.as_ref()).map_err(|e| PlsError::NotPls(e.to_string()))?;
        let now = self.state.clock.now();
        lock(&self.state.world).pls.set_state(&pls, name, status, description, by, None, now, std::time::Duration::ZERO)
    }
    /// The consumer deletes its private endpoint: the connection reads Disconnected.
    pub fn disconnect_from_pls(&self, pls: impl AsRef<str>, name: &str) -> Result<(), PlsError> {
        let pls = ResourceId::parse(pls.as_ref()).map_err(|e| PlsError::NotPls(e.to_string()))?;
        lock(&self.state.world).pls.disconnect(&pls, name)
    }
    /// A management group `name` under `parent` (`None`: a root, such as the tenant root group).
    pub fn add_management_group(&self, name: &str, parent: Option<&str>) -> Result<(), HierarchyError> {
        lock(&self.state.world).mgmt.add_group(name, parent)
    }
    /// Put `subscription` under the management group `group` (moving it from wherever it was).
    pub fn place_subscription(&self, subscription: &str, group: &str) -> Result<(), HierarchyError> {
        lock(&self.state.world).mgmt.place_subscription(subscription, group)
    }
    /// Move the management group `group` under `parent`.
    pub fn move_management_group(&self, group: &str, parent: &str) -> Result<(), HierarchyError> {
        lock(&self.state.world).mgmt.move_group(group, parent)
    }
    /// While `on`, every ARM request at or under `resource` (any id or path) is answered 403
    /// `AuthorizationFailed`, as for a resource the identity's role does not reach.
    pub fn forbid(&self, resource: &str, on: bool) {
        let key = resource.trim_end_matches('/').to_ascii_lowercase();
        let mut f = lock(&self.state.faults);
        f.forbidden.retain(|r| *r != key);
        if on {
            f.forbidden.push(key);
        }
    }
    /// The MPE's owner gives it a new request message; its connection keeps the one it was requested with.
    pub fn set_request_message(&self, mpe: impl AsRef<str>, message: &str) -> Result<(), WorldError> {
        let mpe = ResourceId::parse(mpe.as_ref())?;
        lock(&self.state.world).set_request_message(&mpe, message)
    }
    /// The MPE's phase now (`None` when deleted or unknown).
    pub fn mpe_phase(&self, mpe: impl AsRef<str>) -> Option<MpePhase> {
        let mpe = ResourceId::parse(mpe.as_ref()).ok()?;
        lock(&self.state.world).mpe_phase(&mpe, self.state.clock.now())
    }
    /// The PECs visible at `target` now.
    pub fn pecs(&self, target: impl AsRef<str>) -> Vec<PecSnapshot> {
        let Ok(target) = ResourceId::parse(target.as_ref()) else { return Vec::new() };
        lock(&self.state.world).pecs(&target, self.state.clock.now()).unwrap_or_default()
    }
    /// Every token issued so far expires now: ARM answers its next use 401 `ExpiredAuthenticationToken`
    /// (Service Bus 401); a token fetched afterwards is good.
    pub fn expire_tokens(&self) {
        lock(&self.state.tokens).expire_all();
    }
    /// While `on`, every token for `audience` (old or new) is answered 401
    /// `InvalidAuthenticationTokenTenant` (a token from the wrong tenant).
    pub fn refuse_tokens(&self, audience: &str, on: bool) {
        lock(&self.state.tokens).refuse(audience, on);
    }
    /// Answer every request of `dependency` only after `delay` of real time (`None`: at once again):
    /// a slow dependency, not a failing one.
    pub fn set_latency(&self, dependency: Dependency, delay: Option<Duration>) {
        lock(&self.state.latency).set(dependency, delay);
    }
    /// Answer the next `n` ARM requests with `kind` (429 or 503, `Retry-After: 1`).
    pub fn inject_faults(&self, n: u32, kind: FaultKind) {
        let mut f = lock(&self.state.faults);
        f.remaining = n;
        f.kind = Some(kind);
    }
    /// Refuse the next `n` PUTs of a PEC for good with `status` and ARM's `{"error": {code, message}}`
    /// (e.g. 400); the PEC is not changed. `n` 0 ends it.
    pub fn refuse_pec_puts(&self, n: u32, status: u16, code: &str, message: &str) {
        let mut f = lock(&self.state.faults);
        f.pec_puts_refused = n;
        f.pec_put_refusal = Some((status, code.to_string(), message.to_string()));
    }
    /// A Functions host emulator aimed at `handler_url`, wired to this simulator's Service Bus, whose
    /// invocations appear in [`Simulator::report`].
    pub fn host(&self, handler_url: &str) -> FunctionsHost {
        FunctionsHost::new(handler_url, self.state.clock.clone())
            .with_service_bus(self.state.bus.clone())
            .with_log(self.state.invocations.clone())
    }

    /// Every MPE's record now: [`Simulator::report`]'s `mpes` alone, without copying the invocation log
    /// (a benchmark's poll of a run's progress).
    pub fn mpe_reports(&self) -> Vec<MpeReport> {
        lock(&self.state.world).mpe_reports(self.state.clock.now())
    }

    pub fn report(&self) -> SimReport {
        let now = self.state.clock.now();
        let world = lock(&self.state.world);
        SimReport {
            now,
            arm_calls_total: world.arm_calls_total,
            arm_reads: world.arm_reads,
            arm_writes: world.arm_calls_total - world.arm_reads,
            arm_calls_by_resource: world.arm_calls_by_resource.clone(),
            faults_injected: lock(&self.state.faults).injected,
            throttle: lock(&self.state.throttle).report(),
            tokens_issued: lock(&self.state.tokens).issued(),
            mpes: world.mpe_reports(now),
            violations: world.violations().to_vec(),
            queues: self.state.bus.report(),
            invocations: InvocationSummary::of(lock(&self.state.invocations).clone()),
        }
    }
}

/// The `azure-sim` binary: run a simulator on `port` with a clock `factor` times faster than real
/// time, print the environment a handler needs, and serve until Ctrl-C.
pub async fn run_standalone(port: u16, factor: f64) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(ScaledClock::new(Utc::now(), factor));
    let sim = Simulator::start(clock, SimOptions { port, ..Default::default() }).await?;
    println!("# azure-sim on {} (time x{factor})", sim.base_url());
    for (k, v) in sim.handler_env() {
        println!("export {k}={v}");
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("{}", serde_json::to_string_pretty(&sim.report())?);
    Ok(())
}
