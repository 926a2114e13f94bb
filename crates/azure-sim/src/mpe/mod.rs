//! The managed-private-endpoint types the simulated ARM serves, one file per service, and how each
//! service's API renders its MPE in each phase of its life: **what Azure answers** for a `GET` of an MPE.
//!
//! Written from the services' official REST examples (the repository keeps verbatim copies in
//! `tests/fixtures/arm-examples/`, sources in `tests/fixtures/PROVENANCE.md`) and the values the live
//! services report where the examples show only one state. Each service speaks its own vocabulary; these
//! files never borrow the approver's reading of it, so a mistake in an adapter is not mirrored here.
//! The approver's `tests/sim_bodies.rs` is where the two meet: every type × phase rendered here is read
//! by the approver's adapters.
//!
//! Serving a new service is a new file here implementing [`Service`] and one line in the `services!`
//! list below; the routes, the lists and the events follow.

use crate::id::ResourceId;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Where an MPE is in its life, as the simulated service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MpePhase {
    /// The service is still creating its private endpoint (approving now races it).
    Creating,
    /// The service reports that its connection waits for approval.
    AwaitingApproval,
    Approved,
    Rejected,
    /// The private endpoint connection was removed at the target.
    Disconnected,
    /// The service broke the endpoint (what an early approval does).
    Failed,
}

impl MpePhase {
    pub const ALL: [MpePhase; 6] = [
        MpePhase::Creating,
        MpePhase::AwaitingApproval,
        MpePhase::Approved,
        MpePhase::Rejected,
        MpePhase::Disconnected,
        MpePhase::Failed,
    ];
}

/// What the service knows about one MPE, to render its body.
#[derive(Debug, Clone, Copy)]
pub struct MpeFacts<'a> {
    pub id: &'a ResourceId,
    pub target: &'a ResourceId,
    pub group_id: &'a str,
    pub request_message: &'a str,
    /// The name the service shows for the MPE: its id's last segment, unless the id ends in another key
    /// (a Fabric MPE's id is a GUID).
    pub name: &'a str,
    /// When the MPE was created (`systemData.createdAt` where the service reports it).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The id of the private endpoint the service created for the MPE (empty when it has none), for a
    /// service that reports it (Synapse's `resourceId`).
    pub endpoint_id: &'a str,
}

/// One service's managed private endpoints, as its REST API answers for them.
pub trait Service: Send + Sync + 'static {
    /// The service's name, for reports, e.g. "Stream Analytics".
    fn service(&self) -> &'static str;
    /// The ARM resource type of the MPE, as the service's REST API paths spell it.
    fn resource_type(&self) -> &'static str;
    /// The api-version whose examples this service's bodies are written from.
    fn api_version(&self) -> &'static str;
    /// How the service spells the MPE's type in the bodies it answers (Kusto capitalises:
    /// `Microsoft.Kusto/Clusters/ManagedPrivateEndpoints`); its ancestors are spelled as its prefixes.
    fn spelled_type(&self) -> &'static str {
        self.resource_type()
    }
    /// The name the service gives the private endpoint it creates in its managed network for the MPE
    /// `id` (the last segment of `privateEndpoint.id` at the target): the MPE's name, unless the
    /// service says otherwise.
    fn endpoint_name(&self, id: &ResourceId) -> String {
        id.name().to_string()
    }
    /// Whether the MPE's body reports its connection (pending, approved, rejected, disconnected).
    /// `false`: the body says only whether the MPE is provisioned, and the target's PEC tells the rest.
    fn reports_connection(&self) -> bool {
        true
    }
    /// Whether the MPE is itself the private endpoint (a customer's, with a manual connection): its PEC at
    /// the target names the MPE's own id, in the MPE's subscription.
    fn own_endpoint(&self) -> bool {
        false
    }
    /// The name the service always gives the ancestor of type `type_segment` (a Synapse workspace's one
    /// managed virtual network is `default`); `None`: any name.
    fn fixed_ancestor(&self, _type_segment: &str) -> Option<&'static str> {
        None
    }
    /// Whether the service keeps its MPEs on its own data plane ([`crate::synapse`]): ARM serves neither
    /// the MPE nor the lists under its top-level parent, and its writes raise no ARM event.
    fn data_plane(&self) -> bool {
        false
    }
    /// Whether the MPEs' parents are ARM resources (a Synapse workspace is; a Databricks NCC is not: ARM
    /// lists nothing of the type).
    fn parents_in_arm(&self) -> bool {
        true
    }
    /// The POST action on the MPE's parent (`{parent}/{action}`) the service needs before its MPE reports
    /// an approved connection (Managed Grafana's `refreshManagedPrivateEndpoints`); `None`: the MPE follows
    /// its connection by itself.
    fn refresh_action(&self) -> Option<&'static str> {
        None
    }
    /// The body `GET {mpe}?api-version=...` answers in `phase`.
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value;
}

/// A served MPE type: one [`Service`] of the registry.
#[derive(Clone, Copy)]
pub struct MpeType(&'static dyn Service);

impl MpeType {
    /// Every served MPE type, in registry order.
    pub fn all() -> &'static [MpeType] {
        SERVICES
    }

    /// The type of an MPE id (case-insensitive), if served.
    pub fn of(id: &ResourceId) -> Option<MpeType> {
        Self::all().iter().copied().find(|t| id.is_type(t.resource_type()))
    }

    pub fn resource_type(self) -> &'static str {
        self.0.resource_type()
    }

    /// The service's name, for reports.
    pub fn service(self) -> &'static str {
        self.0.service()
    }

    /// The api-version the service's bodies follow.
    pub fn api_version(self) -> &'static str {
        self.0.api_version()
    }

    /// How the service spells its MPE type in bodies ([`Service::spelled_type`]).
    pub fn spelled_type(self) -> &'static str {
        self.0.spelled_type()
    }

    /// The ARM write operation (Event Grid's `operationName`) for this type.
    pub fn write_operation(self) -> String {
        format!("{}/write", self.resource_type())
    }

    /// The name of the private endpoint the service creates for the MPE `id` ([`Service::endpoint_name`]).
    pub fn endpoint_name(self, id: &ResourceId) -> String {
        self.0.endpoint_name(id)
    }

    /// Whether the MPE's body reports its connection ([`Service::reports_connection`]).
    pub fn reports_connection(self) -> bool {
        self.0.reports_connection()
    }

    /// Whether the MPE is itself the private endpoint ([`Service::own_endpoint`]).
    pub fn own_endpoint(self) -> bool {
        self.0.own_endpoint()
    }

    /// Whether the service keeps its MPEs on its data plane ([`Service::data_plane`]).
    pub fn data_plane(self) -> bool {
        self.0.data_plane()
    }

    /// Whether its MPEs' parents are ARM resources ([`Service::parents_in_arm`]).
    pub fn parents_in_arm(self) -> bool {
        self.0.parents_in_arm()
    }

    /// The refresh its MPE needs before it reports an approval ([`Service::refresh_action`]).
    pub fn refresh_action(self) -> Option<&'static str> {
        self.0.refresh_action()
    }

    /// The body `GET {mpe}?api-version=...` answers in `phase`.
    pub fn render(self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        self.0.render(m, phase)
    }
}

impl PartialEq for MpeType {
    fn eq(&self, other: &Self) -> bool {
        self.resource_type().eq_ignore_ascii_case(other.resource_type())
    }
}

impl Eq for MpeType {}

impl fmt::Debug for MpeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MpeType({})", self.service())
    }
}

/// Declares each service's module and lists it in [`MpeType::all`]: one line per service.
macro_rules! services {
    ($($module:ident :: $service:ident),+ $(,)?) => {
        $(mod $module;)+
        const SERVICES: &[MpeType] = &[$(MpeType(&$module::$service)),+];
    };
}

services! {
    stream_analytics::StreamAnalytics,
    data_explorer::DataExplorer,
    data_factory::DataFactory,
    signalr::SignalR,
    web_pubsub::WebPubSub,
    search::Search,
    grafana::Grafana,
    front_door::FrontDoor,
    private_endpoint::PrivateEndpoint,
    synapse::Synapse,
    databricks::Databricks,
    fabric::Fabric,
}

pub use synapse::reserved as synapse_reserved;

/// An id of an MPE of `resource_type` called `name`:
/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}/...`, each ancestor
/// named by `ancestor(depth, its type segment)`, unless the service names it itself
/// ([`Service::fixed_ancestor`]: a Synapse workspace's one managed virtual network is `default`).
pub fn id_of_type(
    resource_type: &str,
    sub: &str,
    rg: &str,
    name: &str,
    ancestor: impl Fn(usize, &str) -> String,
) -> String {
    let mut segments = resource_type.split('/');
    let namespace = segments.next().unwrap_or_default();
    let types: Vec<&str> = segments.collect();
    let mut id = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}");
    let served = MpeType::all().iter().find(|m| m.resource_type().eq_ignore_ascii_case(resource_type));
    for (depth, t) in types.iter().enumerate() {
        let fixed = served.and_then(|m| m.0.fixed_ancestor(t));
        let n = match fixed {
            _ if depth + 1 == types.len() => name.to_string(),
            Some(f) => f.to_string(),
            None => ancestor(depth, t),
        };
        id.push_str(&format!("/{t}/{n}"));
    }
    id
}

/// `provisioningState` and the connection's `status` of a resource being provisioned, then waiting,
/// approved, rejected or disconnected; `(provisioning, status)` per phase, for the services that
/// report both.
pub(crate) fn provisioned_then(
    phase: MpePhase,
    creating: (&'static str, &'static str),
    failed: (&'static str, &'static str),
) -> (&'static str, &'static str) {
    match phase {
        MpePhase::Creating => creating,
        MpePhase::Failed => failed,
        MpePhase::AwaitingApproval => ("Succeeded", "Pending"),
        MpePhase::Approved => ("Succeeded", "Approved"),
        MpePhase::Rejected => ("Succeeded", "Rejected"),
        MpePhase::Disconnected => ("Succeeded", "Disconnected"),
    }
}

/// The 64-bit FNV-1a hash of `text`: a stable, opaque part of the names a service gives its private
/// endpoints where it does not publish them (AI Search, Front Door).
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_type_is_distinct_and_found_by_its_ids() {
        let all = MpeType::all();
        for (i, t) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|u| u != t), "{t:?} served twice");
            let id =
                ResourceId::parse(&id_of_type(t.resource_type(), "s", "rg", "m", |d, ty| format!("{ty}{d}"))).unwrap();
            assert_eq!(MpeType::of(&id), Some(*t));
            assert_eq!((id.name(), id.subscription()), ("m", "s"));
            let ancestors = t.resource_type().split('/').skip(1).count() - 1;
            for (d, ty) in t.resource_type().split('/').skip(1).take(ancestors).enumerate() {
                let want = t.0.fixed_ancestor(ty).map_or_else(|| format!("{ty}{d}"), str::to_string);
                assert_eq!(id.name_at(d), Some(want.as_str()), "{id}");
            }
            assert!(t.spelled_type().eq_ignore_ascii_case(t.resource_type()), "{t:?}");
        }
    }
}
