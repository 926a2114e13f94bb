//! The simulated world: targets, MPEs, their PECs, and the race rule. Pure data and time arithmetic.
//!
//! Every method takes `now` (virtual time) explicitly; phases are computed lazily from timestamps, so
//! nothing ticks in the background and the model is unit-testable without HTTP or a clock.
//! This file must never do I/O, sleep, or read a clock itself.

use crate::id::ResourceId;
use crate::mpe::{MpeFacts, MpePhase, MpeType};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The target resource types the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TargetKind {
    Storage,
    KeyVault,
    Web,
    IotHub,
    Sql,
    /// An Azure Monitor workspace (Managed Grafana's usual target; group `prometheusMetrics`).
    MonitorAccount,
}

impl TargetKind {
    pub const ALL: [TargetKind; 6] = [
        TargetKind::Storage,
        TargetKind::KeyVault,
        TargetKind::Web,
        TargetKind::IotHub,
        TargetKind::Sql,
        TargetKind::MonitorAccount,
    ];

    /// The kind of a top-level target resource id (case-insensitive), if served.
    pub fn of(id: &ResourceId) -> Option<TargetKind> {
        if id.parent().is_some() {
            return None;
        }
        Self::ALL.into_iter().find(|k| id.is_type(k.resource_type()))
    }
    pub fn resource_type(self) -> &'static str {
        match self {
            TargetKind::Storage => "Microsoft.Storage/storageAccounts",
            TargetKind::KeyVault => "Microsoft.KeyVault/vaults",
            TargetKind::Web => "Microsoft.Web/sites",
            TargetKind::IotHub => "Microsoft.Devices/IotHubs",
            TargetKind::Sql => "Microsoft.Sql/servers",
            TargetKind::MonitorAccount => "Microsoft.Monitor/accounts",
        }
    }
    /// The group id an MPE to this target usually asks for.
    pub fn default_group_id(self) -> &'static str {
        match self {
            TargetKind::Storage => "blob",
            TargetKind::KeyVault => "vault",
            TargetKind::Web => "sites",
            TargetKind::IotHub => "iotHub",
            TargetKind::Sql => "sqlServer",
            TargetKind::MonitorAccount => "prometheusMetrics",
        }
    }
    /// The spelling of the PEC collection segment in ids this target reports (IoT Hub capitalises it).
    pub fn pec_segment(self) -> &'static str {
        match self {
            TargetKind::IotHub => "PrivateEndpointConnections",
            _ => "privateEndpointConnections",
        }
    }
    /// Approval is a long-running operation answering 202 (Web, IoT Hub, SQL).
    pub fn approval_is_async(self) -> bool {
        matches!(self, TargetKind::Web | TargetKind::IotHub | TargetKind::Sql)
    }
}

/// How an MPE behaves over time. Offsets are from its creation: the moment it is added, unless
/// [`MpeSpec::created_ago`] says it existed before.
#[derive(Debug, Clone)]
pub struct MpeSpec {
    /// The MPE's ARM id (one of the [`MpeType`]s).
    pub id: String,
    /// Its `privateLinkResourceId`: a target the simulator serves ([`TargetKind`]).
    pub target: String,
    pub group_id: Option<String>,
    pub request_message: String,
    /// The PEC shows up Pending at the target this long after creation.
    pub pec_appears_after: Duration,
    /// The MPE itself reports awaiting approval this long after creation (>= `pec_appears_after`).
    pub pending_after: Duration,
    /// The MPE reports Approved this long after its PEC was approved.
    pub settle_after_approval: Duration,
    /// Deleted this long after creation.
    pub delete_after: Option<Duration>,
    /// A human rejects the PEC this long after creation.
    pub reject_after: Option<Duration>,
    /// The MPE was created this long before it is added to the simulation (it existed before the
    /// approver was watching); every offset above counts from its creation.
    pub created_ago: Duration,
    /// The name of its private endpoint, where the service names it otherwise than its simulated
    /// service does (a service that renamed its endpoints); `None`: the service's own name.
    pub endpoint_name: Option<String>,
    /// The name the service shows for an MPE whose id ends in another key (a Fabric MPE's id is a GUID);
    /// `None`: the id's last segment.
    pub display_name: Option<String>,
}

impl MpeSpec {
    /// Defaults: PEC after 5 s, MPE pending after 10 s, settles 5 s after approval; a request message
    /// naming the MPE (one per MPE, as a platform team writes them).
    pub fn new(id: impl AsRef<str>, target: impl AsRef<str>) -> Self {
        let name = id.as_ref().rsplit('/').next().unwrap_or_default();
        MpeSpec {
            id: id.as_ref().to_string(),
            target: target.as_ref().to_string(),
            group_id: None,
            request_message: format!("Please approve this managed private endpoint ({name})"),
            pec_appears_after: Duration::from_secs(5),
            pending_after: Duration::from_secs(10),
            settle_after_approval: Duration::from_secs(5),
            delete_after: None,
            reject_after: None,
            created_ago: Duration::ZERO,
            endpoint_name: None,
            display_name: None,
        }
    }
    /// The service shows this MPE as `name` (its id ends in another key).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
    pub fn timing(mut self, pec_appears_after: Duration, pending_after: Duration) -> Self {
        self.pec_appears_after = pec_appears_after;
        self.pending_after = pending_after.max(pec_appears_after);
        self
    }
    /// The service names this MPE's private endpoint `name`, not as its simulated service does.
    pub fn endpoint_named(mut self, name: impl Into<String>) -> Self {
        self.endpoint_name = Some(name.into());
        self
    }
    pub fn request_message(mut self, m: impl Into<String>) -> Self {
        self.request_message = m.into();
        self
    }
    pub fn group_id(mut self, g: impl Into<String>) -> Self {
        self.group_id = Some(g.into());
        self
    }
    pub fn settle_after_approval(mut self, d: Duration) -> Self {
        self.settle_after_approval = d;
        self
    }
    pub fn delete_after(mut self, d: Duration) -> Self {
        self.delete_after = Some(d);
        self
    }
    pub fn reject_after(mut self, d: Duration) -> Self {
        self.reject_after = Some(d);
        self
    }
    pub fn created_ago(mut self, d: Duration) -> Self {
        self.created_ago = d;
        self
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    #[error("{0}")]
    BadId(#[from] crate::id::IdError),
    #[error("{0} is not a supported MPE type")]
    UnsupportedMpe(String),
    #[error("{0} is not a supported target type (Storage, Key Vault, Web sites, IoT Hub, SQL servers)")]
    UnsupportedTarget(String),
    #[error("MPE {0} already exists")]
    DuplicateMpe(String),
    #[error("no MPE {0}")]
    NoMpe(String),
    #[error("no target {0}")]
    NoTarget(String),
    #[error("no private endpoint connection {0}")]
    NoPec(String),
    #[error("private endpoint connection {name} is {status} and cannot be approved")]
    NotApprovable { name: String, status: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PecStatus {
    Pending,
    Approved,
    Rejected,
    Disconnected,
}

impl PecStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PecStatus::Pending => "Pending",
            PecStatus::Approved => "Approved",
            PecStatus::Rejected => "Rejected",
            PecStatus::Disconnected => "Disconnected",
        }
    }
}

/// Whose PEC it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "mpe")]
pub enum PecOwner {
    /// The MPE's own PEC (MPE key).
    Mpe(String),
    /// Somebody else's private endpoint: must never be approved.
    Stranger,
    /// Same endpoint name as the MPE (key) but not its PEC: must never be approved.
    Twin(String),
}

#[derive(Debug, Clone)]
struct Approval {
    at: DateTime<Utc>,
    by: String,
    /// End of the target's long-running operation.
    settles_at: DateTime<Utc>,
    description: String,
}

#[derive(Debug, Clone)]
struct PecRec {
    name: String,
    endpoint_id: String,
    owner: PecOwner,
    appears_at: DateTime<Utc>,
    request: String,
    approval: Option<Approval>,
    rejected_at: Option<DateTime<Utc>>,
    disconnected_at: Option<DateTime<Utc>>,
    /// When the target's owner deleted the connection: the target no longer lists it.
    removed_at: Option<DateTime<Utc>>,
    /// The description a rejection wrote (`None`: the portal's "Rejected by an administrator").
    rejection_description: Option<String>,
}

/// A PEC as the target shows it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PecSnapshot {
    pub name: String,
    pub endpoint_id: String,
    pub status: PecStatus,
    pub description: String,
    /// True while the target's approval operation is still running.
    pub updating: bool,
    pub owner: PecOwner,
}

#[derive(Debug)]
struct TargetRec {
    id: ResourceId,
    kind: TargetKind,
    pecs: Vec<PecRec>,
    /// The target's tags, as `Microsoft.Resources/tags/default` reports them.
    tags: BTreeMap<String, String>,
}

struct MpeRec {
    spec: MpeSpec,
    id: ResourceId,
    target: ResourceId,
    kind: MpeType,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    /// The service's last refresh of its MPEs ([`MpeType::refresh_action`]): when it read the
    /// connections, and when it was done.
    refreshed: Option<(DateTime<Utc>, DateTime<Utc>)>,
    approve_puts: u32,
    arm_calls: u64,
    /// The first time a read (its GET, or a list) showed the MPE at or past its pending time.
    read_pending_at: Option<DateTime<Utc>>,
    /// The last such read before its PEC was approved.
    last_read_pending_at: Option<DateTime<Utc>>,
    violations: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub at: DateTime<Utc>,
    /// The MPE concerned, if any.
    pub mpe: Option<String>,
    pub kind: ViolationKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ViolationKind {
    /// The PEC was approved while its MPE was still Creating: the MPE failed.
    Race,
    StrangerApproved,
    TwinApproved,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveOutcome {
    /// Newly approved; `settles_at` ends the target's operation.
    Approved {
        settles_at: DateTime<Utc>,
    },
    AlreadyApproved,
}

/// A long-running operation: an approval (Web, IoT Hub, SQL) or a service's refresh of its MPEs.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The resource the operation runs on: the target, or the MPEs' parent of a refresh.
    pub target_key: String,
    /// The PEC an approval approves; `None` for a refresh, whose result has no body.
    pub pec_name: Option<String>,
    pub started_at: DateTime<Utc>,
    pub done_at: DateTime<Utc>,
}

/// Per-MPE record in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MpeReport {
    pub id: String,
    pub service: String,
    pub target: String,
    pub created_at: DateTime<Utc>,
    /// When its PEC appeared Pending at the target (if it has by now).
    pub pec_appeared_at: Option<DateTime<Utc>>,
    /// When the MPE itself started reporting awaiting approval (if it has by now).
    pub pending_at: Option<DateTime<Utc>>,
    /// When a read (its GET, or a list of its parent's MPEs) first showed it so.
    pub read_pending_at: Option<DateTime<Utc>>,
    /// The last read that showed it so before its PEC was approved: the approving check's read, when a
    /// check reads and approves.
    pub last_read_pending_at: Option<DateTime<Utc>>,
    pub pec_approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    /// Seconds from the MPE becoming pending to its PEC being approved.
    pub approval_latency_secs: Option<f64>,
    pub approve_puts: u32,
    pub deleted_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    /// The MPE's phase now (`Deleted` when gone).
    pub phase: String,
    pub arm_calls: u64,
    pub violations: Vec<String>,
}

/// Everything the simulated Azure knows about targets and MPEs.
#[derive(Default)]
pub struct World {
    targets: BTreeMap<String, TargetRec>,
    mpes: BTreeMap<String, MpeRec>,
    violations: Vec<Violation>,
    operations: HashMap<String, Operation>,
    /// Length of a target's long-running approval (Web, IoT Hub, SQL).
    pub approval_lro: Duration,
    pub arm_calls_total: u64,
    /// ARM `GET`s among [`World::arm_calls_total`] (counted by the route, which knows the method).
    pub arm_reads: u64,
    pub arm_calls_by_resource: BTreeMap<String, u64>,
    /// The managed-network subscription private endpoints are created in.
    pub managed_subscription: String,
    /// The Private Link Services and their consumers' connections.
    pub pls: crate::pls::PlsBook,
    /// The top-level parents whose MPEs live on a data plane (Synapse workspaces), by lower-cased name
    /// (the data plane's host names them): added with their first MPE, or on their own.
    data_plane_parents: BTreeMap<String, ResourceId>,
    /// The management group hierarchy.
    pub mgmt: crate::mgmt::Hierarchy,
}

/// How long a refresh of a service's MPEs runs (Grafana's took about 4 s in a recorded session).
pub const REFRESH_TAKES: Duration = Duration::from_secs(4);

fn at(base: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| base.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl PecRec {
    fn rejection(&self) -> String {
        self.rejection_description.clone().unwrap_or_else(|| "Rejected by an administrator".into())
    }

    fn snapshot(&self, now: DateTime<Utc>) -> Option<PecSnapshot> {
        if now < self.appears_at
            || self.disconnected_at.is_some_and(|d| d <= self.appears_at)
            || self.removed_at.is_some_and(|r| r <= now)
        {
            return None;
        }
        let approved = self.approval.as_ref().filter(|a| a.at <= now);
        let rejected = self.rejected_at.filter(|r| *r <= now);
        let (status, description, updating) = if self.disconnected_at.is_some_and(|d| d <= now) {
            (PecStatus::Disconnected, "The private endpoint was deleted".to_string(), false)
        } else {
            match (approved, rejected) {
                (Some(a), Some(r)) if r > a.at => (PecStatus::Rejected, self.rejection(), false),
                (Some(a), _) => (PecStatus::Approved, a.description.clone(), now < a.settles_at),
                (None, Some(_)) => (PecStatus::Rejected, self.rejection(), false),
                (None, None) => (PecStatus::Pending, self.request.clone(), false),
            }
        };
        Some(PecSnapshot {
            name: self.name.clone(),
            endpoint_id: self.endpoint_id.clone(),
            status,
            description,
            updating,
            owner: self.owner.clone(),
        })
    }
}

impl World {
    pub fn new(approval_lro: Duration) -> Self {
        World {
            approval_lro,
            managed_subscription: "9f8e7d6c-5b4a-4321-8fed-cba987654321".into(),
            ..Default::default()
        }
    }

    fn endpoint_id(&self, rg: &str, endpoint_name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Network/privateEndpoints/{endpoint_name}",
            self.managed_subscription
        )
    }

    fn pec_name(endpoint_name: &str) -> String {
        format!("{endpoint_name}.{}", uuid::Uuid::new_v4())
    }

    pub fn add_target(&mut self, id: &ResourceId) -> Result<TargetKind, WorldError> {
        let kind = TargetKind::of(id).ok_or_else(|| WorldError::UnsupportedTarget(id.to_string()))?;
        self.targets.entry(id.key()).or_insert_with(|| TargetRec {
            id: id.clone(),
            kind,
            pecs: Vec::new(),
            tags: BTreeMap::new(),
        });
        Ok(kind)
    }

    /// Set a tag on a target (added if needed).
    pub fn set_target_tag(&mut self, id: &ResourceId, name: &str, value: &str) -> Result<(), WorldError> {
        self.add_target(id)?;
        if let Some(t) = self.targets.get_mut(&id.key()) {
            t.tags.insert(name.to_string(), value.to_string());
        }
        Ok(())
    }

    /// A target's tags (a Private Link Service's too); `None` for an unknown target.
    pub fn target_tags(&self, id: &ResourceId) -> Option<&BTreeMap<String, String>> {
        self.targets.get(&id.key()).map(|t| &t.tags).or_else(|| self.pls.tags(id))
    }

    /// Add an MPE at `now`, created then or [`MpeSpec::created_ago`] before; its target is added if
    /// needed. Returns the PEC name it will have.
    pub fn add_mpe(&mut self, mut spec: MpeSpec, added: DateTime<Utc>) -> Result<String, WorldError> {
        let now = chrono::Duration::from_std(spec.created_ago)
            .ok()
            .and_then(|d| added.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let id = ResourceId::parse(&spec.id)?;
        let mpe_type = MpeType::of(&id).ok_or_else(|| WorldError::UnsupportedMpe(spec.id.clone()))?;
        // A name is free again once its MPE is deleted: the new MPE is another resource of the same id.
        if self.mpes.get(&id.key()).is_some_and(|m| m.deleted_at.is_none_or(|d| d > now)) {
            return Err(WorldError::DuplicateMpe(spec.id.clone()));
        }
        let target = ResourceId::parse(&spec.target)?;
        let kind = self.add_target(&target)?;
        spec.pending_after = spec.pending_after.max(spec.pec_appears_after);
        if spec.group_id.is_none() {
            spec.group_id = Some(kind.default_group_id().to_string());
        }
        let endpoint_name = spec.endpoint_name.clone().unwrap_or_else(|| mpe_type.endpoint_name(&id));
        let rg = format!("managed-rg-{}", id.name_at(0).unwrap_or("mpe"));
        let pec = PecRec {
            name: Self::pec_name(&endpoint_name),
            endpoint_id: if mpe_type.own_endpoint() { id.to_string() } else { self.endpoint_id(&rg, &endpoint_name) },
            owner: PecOwner::Mpe(id.key()),
            appears_at: at(now, spec.pec_appears_after),
            request: spec.request_message.clone(),
            approval: None,
            rejected_at: spec.reject_after.map(|d| at(now, d)),
            disconnected_at: spec.delete_after.map(|d| at(now, d)),
            removed_at: None,
            rejection_description: None,
        };
        let name = pec.name.clone();
        if let Some(t) = self.targets.get_mut(&target.key()) {
            t.pecs.push(pec);
        }
        if mpe_type.data_plane() && mpe_type.parents_in_arm() {
            let mut top = id.clone();
            while let Some(p) = top.parent() {
                top = p;
            }
            self.add_data_plane_parent(&top);
        } else if mpe_type.data_plane() {
            if let Some(parent) = id.parent() {
                self.add_api_parent(&parent);
            }
        }
        let deleted_at = spec.delete_after.map(|d| at(now, d));
        self.mpes.insert(
            id.key(),
            MpeRec {
                spec,
                id,
                target,
                kind: mpe_type,
                created_at: now,
                deleted_at,
                failed_at: None,
                refreshed: None,
                approve_puts: 0,
                arm_calls: 0,
                read_pending_at: None,
                last_read_pending_at: None,
                violations: Vec::new(),
            },
        );
        Ok(name)
    }

    /// A top-level parent whose MPEs live on a data plane (a Synapse workspace), known by its name.
    pub fn add_data_plane_parent(&mut self, id: &ResourceId) {
        self.data_plane_parents.entry(id.name().to_ascii_lowercase()).or_insert_with(|| id.clone());
    }

    /// A data-plane parent ARM does not know (a Databricks NCC, a Fabric workspace): known by its type and
    /// the names along its id ([`World::api_parent`]).
    pub fn add_api_parent(&mut self, parent: &ResourceId) {
        let names: Vec<&str> = (0..).map_while(|d| parent.name_at(d)).collect();
        self.data_plane_parents.entry(api_key(&parent.resource_type(), &names)).or_insert_with(|| parent.clone());
    }

    /// The parent of type `resource_type` whose names along its id are `names` (case-insensitive): a
    /// Databricks NCC by its account and NCC ids, a Fabric workspace by its id.
    pub fn api_parent(&self, resource_type: &str, names: &[&str]) -> Option<ResourceId> {
        self.data_plane_parents.get(&api_key(resource_type, names)).cloned()
    }

    /// The NCC of `account` called `ncc` (case-insensitive).
    pub fn ncc(&self, account: &str, ncc: &str) -> Option<ResourceId> {
        self.api_parent("MpeApprover.Databricks/accounts/networkConnectivityConfigs", &[account, ncc])
    }

    /// Every data-plane parent, in name order.
    pub fn data_plane_parents(&self) -> Vec<ResourceId> {
        self.data_plane_parents.iter().filter(|(k, _)| !k.contains('/')).map(|(_, v)| v.clone()).collect()
    }

    /// The data-plane parent called `name` (case-insensitive).
    pub fn data_plane_parent(&self, name: &str) -> Option<ResourceId> {
        self.data_plane_parents.get(&name.to_ascii_lowercase()).cloned()
    }

    /// The MPEs under `parent` that exist at `now`, in key order.
    pub fn live_mpes_under(&self, parent: &ResourceId, now: DateTime<Utc>) -> Vec<ResourceId> {
        self.live_mpes_keyed(&format!("{}/", parent.key()), now)
    }

    /// The MPEs that exist at `now` whose lower-cased id starts with `prefix` (a scope, or a parent's id
    /// and `/`), in key order: a range of the MPEs' map, so a list costs its own MPEs, not the tenant's.
    pub fn live_mpes_keyed(&self, prefix: &str, now: DateTime<Utc>) -> Vec<ResourceId> {
        self.mpes
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, m)| m.deleted_at.is_none_or(|d| d > now))
            .map(|(_, m)| m.id.clone())
            .collect()
    }

    /// A stranger's Pending PEC on `target` whose private endpoint is `endpoint_name`. Returns the PEC name.
    pub fn add_stranger(
        &mut self,
        target: &ResourceId,
        endpoint_name: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<String, WorldError> {
        self.add_target(target)?;
        let pec = PecRec {
            name: Self::pec_name(endpoint_name),
            endpoint_id: self.endpoint_id("someone-elses-rg", endpoint_name),
            owner: PecOwner::Stranger,
            appears_at: now,
            request: description.to_string(),
            approval: None,
            rejected_at: None,
            disconnected_at: None,
            removed_at: None,
            rejection_description: None,
        };
        let name = pec.name.clone();
        if let Some(t) = self.targets.get_mut(&target.key()) {
            t.pecs.push(pec);
        }
        Ok(name)
    }

    /// A second Pending PEC on the MPE's target whose private endpoint has the same name as the MPE's.
    /// `description` `None` copies the MPE's request message. Returns the PEC name.
    pub fn add_twin(
        &mut self,
        mpe: &ResourceId,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, WorldError> {
        let managed = self.managed_subscription.clone();
        self.add_twin_in(mpe, description, &managed, now)
    }

    /// [`World::add_twin`] whose private endpoint lives in `subscription` (e.g. a stranger's own
    /// subscription, in another tenant): same endpoint name, group and, by default, request message.
    pub fn add_twin_in(
        &mut self,
        mpe: &ResourceId,
        description: Option<&str>,
        subscription: &str,
        now: DateTime<Utc>,
    ) -> Result<String, WorldError> {
        let m = self.mpes.get(&mpe.key()).ok_or_else(|| WorldError::NoMpe(mpe.to_string()))?;
        let endpoint_name = m.kind.endpoint_name(&m.id);
        let target_key = m.target.key();
        let request = description.unwrap_or(&m.spec.request_message).to_string();
        let pec = PecRec {
            name: Self::pec_name(&endpoint_name),
            endpoint_id: format!(
                "/subscriptions/{subscription}/resourceGroups/twin-rg/providers/Microsoft.Network/privateEndpoints/{endpoint_name}"
            ),
            owner: PecOwner::Twin(mpe.key()),
            appears_at: now,
            request,
            approval: None,
            rejected_at: None,
            disconnected_at: None,
            removed_at: None,
            rejection_description: None,
        };
        let name = pec.name.clone();
        let t = self.targets.get_mut(&target_key).ok_or_else(|| WorldError::NoTarget(target_key.clone()))?;
        t.pecs.push(pec);
        Ok(name)
    }

    /// The MPE's own PEC: the newest of its id (an MPE created again under a deleted one's id has its own).
    fn own_pec_mut(&mut self, mpe_key: &str) -> Option<&mut PecRec> {
        let target = self.mpes.get(mpe_key)?.target.key();
        self.targets.get_mut(&target)?.pecs.iter_mut().rev().find(|p| p.owner == PecOwner::Mpe(mpe_key.to_string()))
    }

    fn own_pec(&self, mpe_key: &str) -> Option<&PecRec> {
        let target = self.mpes.get(mpe_key)?.target.key();
        self.targets.get(&target)?.pecs.iter().rev().find(|p| p.owner == PecOwner::Mpe(mpe_key.to_string()))
    }

    /// Delete the MPE at `when` (may be in the future): 404 afterwards, its PEC Disconnected.
    pub fn delete_mpe(&mut self, mpe: &ResourceId, when: DateTime<Utc>) -> Result<(), WorldError> {
        let m = self.mpes.get_mut(&mpe.key()).ok_or_else(|| WorldError::NoMpe(mpe.to_string()))?;
        m.deleted_at = Some(when);
        if let Some(p) = self.own_pec_mut(&mpe.key()) {
            p.disconnected_at = Some(when);
        }
        Ok(())
    }

    /// A human rejects the MPE's PEC at `when` (may be in the future).
    pub fn reject_pec(&mut self, mpe: &ResourceId, when: DateTime<Utc>) -> Result<(), WorldError> {
        if !self.mpes.contains_key(&mpe.key()) {
            return Err(WorldError::NoMpe(mpe.to_string()));
        }
        let p = self.own_pec_mut(&mpe.key()).ok_or_else(|| WorldError::NoPec(mpe.to_string()))?;
        p.rejected_at = Some(when);
        Ok(())
    }

    /// A human rejects a PEC of `target` by name at `when` (`az network private-endpoint-connection
    /// reject --description`), whoever's it is; `None` writes the portal's "Rejected by an administrator".
    pub fn reject_connection(
        &mut self,
        target: &ResourceId,
        name: &str,
        description: Option<&str>,
        when: DateTime<Utc>,
    ) -> Result<(), WorldError> {
        let p = self.connection_mut(target, name, when)?;
        p.rejected_at = Some(when);
        p.rejection_description = description.map(str::to_string);
        Ok(())
    }

    /// The target's owner deletes a PEC of `target` by name at `when` (`az network
    /// private-endpoint-connection delete`): the target no longer lists it, and an MPE whose connection
    /// it was reports it Disconnected.
    pub fn remove_connection(
        &mut self,
        target: &ResourceId,
        name: &str,
        when: DateTime<Utc>,
    ) -> Result<(), WorldError> {
        let p = self.connection_mut(target, name, when)?;
        p.removed_at = Some(when);
        Ok(())
    }

    /// A PEC the target lists at `now`, by name (case-insensitive), to change.
    fn connection_mut(
        &mut self,
        target: &ResourceId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<&mut PecRec, WorldError> {
        let t = self.targets.get_mut(&target.key()).ok_or_else(|| WorldError::NoTarget(target.to_string()))?;
        t.pecs
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name) && p.snapshot(now).is_some())
            .ok_or_else(|| WorldError::NoPec(name.to_string()))
    }

    /// The MPE's owner changes its request message (Data Explorer's and SignalR's MPEs take a new
    /// `requestMessage` in an update): the MPE reports the new one, while its connection at the target
    /// keeps the message it was requested with.
    pub fn set_request_message(&mut self, mpe: &ResourceId, message: &str) -> Result<(), WorldError> {
        let m = self.mpes.get_mut(&mpe.key()).ok_or_else(|| WorldError::NoMpe(mpe.to_string()))?;
        m.spec.request_message = message.to_string();
        Ok(())
    }

    /// The MPE's phase at `now`; `None` when unknown or deleted.
    pub fn mpe_phase(&self, mpe: &ResourceId, now: DateTime<Utc>) -> Option<MpePhase> {
        let m = self.mpes.get(&mpe.key())?;
        if m.deleted_at.is_some_and(|d| d <= now) {
            return None;
        }
        if m.failed_at.is_some_and(|f| f <= now) {
            return Some(MpePhase::Failed);
        }
        if self.own_pec(&mpe.key()).is_some_and(|p| p.removed_at.is_some_and(|r| r <= now)) {
            return Some(MpePhase::Disconnected);
        }
        if let Some(snap) = self.own_pec(&mpe.key()).and_then(|p| p.snapshot(now)) {
            match snap.status {
                PecStatus::Rejected => return Some(MpePhase::Rejected),
                PecStatus::Disconnected => return Some(MpePhase::Disconnected),
                PecStatus::Approved => {
                    let approved_at = self.own_pec(&mpe.key()).and_then(|p| p.approval.as_ref()).map(|a| a.at);
                    // A service that needs a refresh shows the approval only after one that finished
                    // after the approval settled.
                    let shown = |a: DateTime<Utc>| match m.kind.refresh_action() {
                        None => now >= at(a, m.spec.settle_after_approval),
                        Some(_) => m.refreshed.is_some_and(|(read, done)| read >= a && now >= done),
                    };
                    if approved_at.is_some_and(shown) {
                        return Some(MpePhase::Approved);
                    }
                }
                PecStatus::Pending => {}
            }
        }
        if now < at(m.created_at, m.spec.pending_after) {
            Some(MpePhase::Creating)
        } else {
            Some(MpePhase::AwaitingApproval)
        }
    }

    /// `POST {parent}/{action}`: the service refreshes every MPE under `parent` whose type needs that
    /// refresh ([`MpeType::refresh_action`]), done `REFRESH_TAKES` after `now`. Returns how many it
    /// refreshes; `None` when no MPE type has that parent type and action.
    pub fn refresh_mpes(&mut self, parent: &ResourceId, action: &str, now: DateTime<Utc>) -> Option<usize> {
        let applies = |t: MpeType| {
            t.refresh_action().is_some_and(|a| a.eq_ignore_ascii_case(action))
                && t.resource_type().rsplit_once('/').is_some_and(|(p, _)| parent.is_type(p))
        };
        if !MpeType::all().iter().any(|t| applies(*t)) {
            return None;
        }
        let done = at(now, REFRESH_TAKES);
        let mut n = 0;
        for m in self.mpes.values_mut() {
            if applies(m.kind)
                && m.id.parent().is_some_and(|p| p.key() == parent.key())
                && m.deleted_at.is_none_or(|d| d > now)
            {
                m.refreshed = Some((now, done));
                n += 1;
            }
        }
        Some(n)
    }

    /// [`World::read_mpe`] of every MPE under `parent` that exists at `now`, in key order: a data plane's list.
    pub fn read_mpes_under(&mut self, parent: &ResourceId, now: DateTime<Utc>) -> Vec<serde_json::Value> {
        self.live_mpes_under(parent, now).iter().filter_map(|id| self.read_mpe(id, now)).collect()
    }

    /// [`World::mpe_body`] for a reader (its GET, or a list): the first read at or past the MPE's pending
    /// time is remembered ([`MpeReport::read_pending_at`]), and the last such read before its PEC was
    /// approved ([`MpeReport::last_read_pending_at`]).
    pub fn read_mpe(&mut self, mpe: &ResourceId, now: DateTime<Utc>) -> Option<serde_json::Value> {
        let body = self.mpe_body(mpe, now)?;
        let key = mpe.key();
        let pending = self.mpes.get(&key).is_some_and(|m| at(m.created_at, m.spec.pending_after) <= now);
        if !pending {
            return Some(body);
        }
        let approved = self.own_pec(&key).and_then(|p| p.approval.as_ref()).is_some_and(|a| a.at <= now);
        if let Some(m) = self.mpes.get_mut(&key) {
            m.read_pending_at.get_or_insert(now);
            if !approved {
                m.last_read_pending_at = Some(now);
            }
        }
        Some(body)
    }

    /// The MPE's ARM body at `now`, in its service's vocabulary ([`MpeType::render`]); `None` when unknown or deleted (404).
    pub fn mpe_body(&self, mpe: &ResourceId, now: DateTime<Utc>) -> Option<serde_json::Value> {
        let phase = self.mpe_phase(mpe, now)?;
        let m = self.mpes.get(&mpe.key())?;
        let facts = MpeFacts {
            id: &m.id,
            target: &m.target,
            group_id: m.spec.group_id.as_deref().unwrap_or_default(),
            request_message: &m.spec.request_message,
            name: m.spec.display_name.as_deref().unwrap_or(m.id.name()),
            created_at: m.created_at,
            endpoint_id: self.own_pec(&mpe.key()).map(|p| p.endpoint_id.as_str()).unwrap_or_default(),
        };
        Some(m.kind.render(&facts, phase))
    }

    /// The ids of the MPEs that exist at `now` (created, not yet deleted), in key order, casing as added.
    pub fn live_mpes(&self, now: DateTime<Utc>) -> Vec<ResourceId> {
        self.mpes.values().filter(|m| m.deleted_at.is_none_or(|d| d > now)).map(|m| m.id.clone()).collect()
    }

    /// The target's id and kind (case-insensitive lookup).
    pub fn target(&self, id: &ResourceId) -> Option<(ResourceId, TargetKind)> {
        self.targets.get(&id.key()).map(|t| (t.id.clone(), t.kind))
    }

    /// The PECs visible at the target at `now`, in creation order.
    pub fn pecs(&self, target: &ResourceId, now: DateTime<Utc>) -> Option<Vec<PecSnapshot>> {
        let t = self.targets.get(&target.key())?;
        Some(t.pecs.iter().filter_map(|p| p.snapshot(now)).collect())
    }

    /// One PEC at `now` by name (case-insensitive).
    pub fn pec(&self, target: &ResourceId, name: &str, now: DateTime<Utc>) -> Option<PecSnapshot> {
        let t = self.targets.get(&target.key())?;
        t.pecs.iter().find(|p| p.name.eq_ignore_ascii_case(name)).and_then(|p| p.snapshot(now))
    }

    /// Approve a PEC at `now` on behalf of `by`. Applies the race rule and records violations.
    pub fn approve(
        &mut self,
        target: &ResourceId,
        name: &str,
        by: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<ApproveOutcome, WorldError> {
        let snap = self.pec(target, name, now).ok_or_else(|| WorldError::NoPec(name.to_string()))?;
        let kind = self.targets.get(&target.key()).map(|t| t.kind);
        if let PecOwner::Mpe(k) = &snap.owner {
            if let Some(m) = self.mpes.get_mut(k) {
                m.approve_puts += 1;
            }
        }
        match snap.status {
            PecStatus::Approved => return Ok(ApproveOutcome::AlreadyApproved),
            PecStatus::Rejected | PecStatus::Disconnected => {
                return Err(WorldError::NotApprovable { name: snap.name, status: snap.status.as_str() })
            }
            PecStatus::Pending => {}
        }
        let lro = if kind.is_some_and(TargetKind::approval_is_async) { self.approval_lro } else { Duration::ZERO };
        let settles_at = at(now, lro);
        // Race rule: approving while the MPE is still Creating breaks it for good.
        let mut violation = None;
        match &snap.owner {
            PecOwner::Mpe(k) => {
                let id = self.mpes.get(k).map(|m| m.id.clone());
                if let Some(id) = id {
                    if self.mpe_phase(&id, now) == Some(MpePhase::Creating) {
                        if let Some(m) = self.mpes.get_mut(k) {
                            m.failed_at = Some(now);
                        }
                        violation = Some((
                            Some(k.clone()),
                            ViolationKind::Race,
                            format!("PEC {} approved while MPE {} was still Creating; the MPE failed", snap.name, id),
                        ));
                    }
                }
            }
            PecOwner::Stranger => {
                violation = Some((
                    None,
                    ViolationKind::StrangerApproved,
                    format!("stranger's PEC {} ({}) on {} approved by {by}", snap.name, snap.endpoint_id, target),
                ));
            }
            PecOwner::Twin(k) => {
                violation = Some((
                    Some(k.clone()),
                    ViolationKind::TwinApproved,
                    format!("ambiguous twin PEC {} ({}) approved by {by}", snap.name, snap.endpoint_id),
                ));
            }
        }
        if let Some(t) = self.targets.get_mut(&target.key()) {
            if let Some(p) = t.pecs.iter_mut().find(|p| p.name.eq_ignore_ascii_case(name)) {
                p.approval =
                    Some(Approval { at: now, by: by.to_string(), settles_at, description: description.to_string() });
            }
        }
        if let Some((mpe, kind, detail)) = violation {
            tracing::warn!(target: "simulator", ?kind, %detail, "violation");
            if let Some(m) = mpe.as_ref().and_then(|k| self.mpes.get_mut(k)) {
                m.violations.push(detail.clone());
            }
            let mpe = mpe.and_then(|k| self.mpes.get(&k).map(|m| m.id.to_string()));
            self.violations.push(Violation { at: now, mpe, kind, detail });
        }
        Ok(ApproveOutcome::Approved { settles_at })
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Record an asynchronous operation; returns its id.
    pub fn start_operation(&mut self, op: Operation) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.operations.insert(id.clone(), op);
        id
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.get(&id.to_ascii_lowercase())
    }

    /// Count one ARM call on `path` (any casing): in total, per resource, and for each MPE it concerns
    /// (the MPE itself, every MPE a list of its parent's MPEs shows, or every MPE connecting to the target
    /// the call is about). Looks up the path's
    /// ancestors (the MPE or target it is about) rather than scanning every MPE: a tenant of thousands.
    /// A call to a data plane (Synapse's, the Databricks account API, the Fabric API), counted with ARM's
    /// under the ARM-shaped id it concerns: the list `collection`, or its member `item`; a read also counts
    /// as one ([`World::arm_reads`]).
    pub fn count_data_plane_call(&mut self, collection: &str, item: Option<&str>, read: bool) {
        match item {
            Some(item) => self.count_arm_call(&format!("{collection}/{item}")),
            None => self.count_arm_call(collection),
        }
        if read {
            self.arm_reads += 1;
        }
    }

    pub fn count_arm_call(&mut self, path: &str) {
        self.arm_calls_total += 1;
        let key = path.trim_end_matches('/').to_ascii_lowercase();
        *self.arm_calls_by_resource.entry(key.clone()).or_default() += 1;
        // The path itself and each of its ancestors (`{id}` of `{id}/...`).
        let ancestors = key.match_indices('/').map(|(i, _)| &key[..i]).filter(|a| !a.is_empty()).chain([key.as_str()]);
        let mut concerned = std::collections::BTreeSet::new();
        for a in ancestors {
            if self.mpes.contains_key(a) {
                concerned.insert(a.to_string());
            }
            if let Some(t) = self.targets.get(a) {
                for p in &t.pecs {
                    if let PecOwner::Mpe(k) = &p.owner {
                        if self.mpes.get(k).is_some_and(|m| m.target.key() == a) {
                            concerned.insert(k.clone());
                        }
                    }
                }
            }
        }
        // A list of a parent's MPEs: every MPE it lists (the MPE map's keys under the list's path).
        let prefix = format!("{key}/");
        for (k, _) in self.mpes.range(prefix.clone()..) {
            match k.strip_prefix(&prefix) {
                Some(rest) if !rest.contains('/') => {
                    concerned.insert(k.clone());
                }
                Some(_) => {}
                None => break,
            }
        }
        for k in concerned {
            if let Some(m) = self.mpes.get_mut(&k) {
                m.arm_calls += 1;
            }
        }
    }

    pub fn mpe_reports(&self, now: DateTime<Utc>) -> Vec<MpeReport> {
        self.mpes
            .iter()
            .map(|(k, m)| {
                let pec = self.own_pec(k);
                let pec_appeared_at =
                    pec.map(|p| p.appears_at).filter(|a| *a <= now && m.deleted_at.is_none_or(|d| d > *a));
                let pending = at(m.created_at, m.spec.pending_after);
                let pending_at = Some(pending)
                    .filter(|p| *p <= now && m.deleted_at.is_none_or(|d| d > *p) && m.failed_at.is_none_or(|f| f > *p));
                let approval = pec.and_then(|p| p.approval.as_ref()).filter(|a| a.at <= now);
                let phase = match self.mpe_phase(&m.id, now) {
                    None => "Deleted".to_string(),
                    Some(p) => format!("{p:?}"),
                };
                MpeReport {
                    id: m.id.to_string(),
                    service: m.kind.service().to_string(),
                    target: m.target.to_string(),
                    created_at: m.created_at,
                    pec_appeared_at,
                    pending_at,
                    read_pending_at: m.read_pending_at.filter(|_| pending_at.is_some()),
                    last_read_pending_at: m.last_read_pending_at.filter(|_| pending_at.is_some()),
                    pec_approved_at: approval.map(|a| a.at),
                    approved_by: approval.map(|a| a.by.clone()),
                    approval_latency_secs: match (pending_at, approval) {
                        (Some(p), Some(a)) => Some((a.at - p).num_milliseconds() as f64 / 1000.0),
                        _ => None,
                    },
                    approve_puts: m.approve_puts,
                    deleted_at: m.deleted_at.filter(|d| *d <= now),
                    rejected_at: pec.and_then(|p| p.rejected_at).filter(|r| *r <= now),
                    phase,
                    arm_calls: m.arm_calls,
                    violations: m.violations.clone(),
                }
            })
            .collect()
    }
}

/// The key of a data-plane parent ARM does not know: its type, then its names (a resource type always
/// holds a `/`, so no Synapse workspace's key, its bare name, is one).
fn api_key(resource_type: &str, names: &[&str]) -> String {
    format!("{resource_type}|{}", names.join("/")).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }
    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }
    fn plus(n: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(n)
    }
    fn target() -> ResourceId {
        ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct")
            .unwrap()
    }
    fn mpe() -> ResourceId {
        ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe1",
        )
        .unwrap()
    }
    fn world() -> (World, String) {
        let mut w = World::new(secs(3));
        let name = w.add_mpe(MpeSpec::new(mpe(), target()).timing(secs(5), secs(10)), t0()).unwrap();
        (w, name)
    }

    #[test]
    fn lifecycle_phases() {
        let (w, name) = world();
        assert_eq!(w.mpe_phase(&mpe(), plus(1)), Some(MpePhase::Creating));
        assert!(w.pec(&target(), &name, plus(1)).is_none());
        let p = w.pec(&target(), &name, plus(6)).unwrap();
        assert_eq!(p.status, PecStatus::Pending);
        assert_eq!(p.description, "Please approve this managed private endpoint (pe1)");
        assert!(p.endpoint_id.ends_with("/Microsoft.Network/privateEndpoints/pe1"));
        assert_eq!(w.mpe_phase(&mpe(), plus(6)), Some(MpePhase::Creating));
        assert_eq!(w.mpe_phase(&mpe(), plus(11)), Some(MpePhase::AwaitingApproval));
    }

    /// Grafana (as recorded): an approved connection shows on the MPE only after a refresh of the
    /// workspace's MPEs that ran after the approval, and once that refresh is done.
    #[test]
    fn a_refreshing_service_shows_the_approval_only_after_a_refresh() {
        let ws =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Dashboard/grafana/g").unwrap();
        let mpe = ResourceId::parse(&format!("{ws}/managedPrivateEndpoints/m1")).unwrap();
        let mut w = World::new(secs(3));
        let name = w.add_mpe(MpeSpec::new(mpe.as_str(), target()).timing(secs(5), secs(10)), t0()).unwrap();
        assert!(w.pec(&target(), &name, plus(6)).unwrap().endpoint_id.ends_with("/privateEndpoints/grafana-g-m1"));
        assert_eq!(w.refresh_mpes(&ws, "refreshManagedPrivateEndpoints", plus(11)), Some(1), "before the approval");
        w.approve(&target(), &name, "mi", "ok", plus(12)).unwrap();
        assert_eq!(w.mpe_phase(&mpe, plus(100)), Some(MpePhase::AwaitingApproval), "no refresh since the approval");
        assert_eq!(w.refresh_mpes(&ws, "refreshManagedPrivateEndpoints", plus(101)), Some(1));
        assert_eq!(w.mpe_phase(&mpe, plus(103)), Some(MpePhase::AwaitingApproval), "the refresh still running");
        assert_eq!(w.mpe_phase(&mpe, plus(105)), Some(MpePhase::Approved));
        // Not a refresh of this MPE's type, or of another workspace.
        assert_eq!(w.refresh_mpes(&ws, "somethingElse", plus(106)), None);
        assert_eq!(w.refresh_mpes(&target(), "refreshManagedPrivateEndpoints", plus(106)), None);
        let other =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Dashboard/grafana/h").unwrap();
        assert_eq!(w.refresh_mpes(&other, "refreshManagedPrivateEndpoints", plus(106)), Some(0));
    }

    #[test]
    fn the_first_and_the_last_read_showing_pending_before_the_approval_are_remembered() {
        let (mut w, name) = world();
        let half = |s: i64| t0() + chrono::Duration::milliseconds(s * 500);
        for at in [plus(9), plus(11), half(23)] {
            assert!(w.read_mpe(&mpe(), at).is_some());
        }
        w.approve(&target(), &name, "mi", "ok", plus(12)).unwrap();
        assert!(w.read_mpe(&mpe(), plus(13)).is_some());
        let r = &w.mpe_reports(plus(20))[0];
        assert_eq!(r.read_pending_at, Some(plus(11)), "the read at 9 s came before pending at 10 s");
        assert_eq!(r.last_read_pending_at, Some(half(23)), "the read at 13 s came after the approval");
    }

    #[test]
    fn approval_after_pending_is_clean_and_settles() {
        let (mut w, name) = world();
        let out = w.approve(&target(), &name, "mi", "ok", plus(12)).unwrap();
        assert_eq!(out, ApproveOutcome::Approved { settles_at: plus(12) });
        assert_eq!(w.mpe_phase(&mpe(), plus(13)), Some(MpePhase::AwaitingApproval));
        assert_eq!(w.mpe_phase(&mpe(), plus(18)), Some(MpePhase::Approved));
        assert_eq!(w.approve(&target(), &name, "mi", "ok", plus(20)).unwrap(), ApproveOutcome::AlreadyApproved);
        assert!(w.violations().is_empty());
        let r = &w.mpe_reports(plus(20))[0];
        assert_eq!(r.pending_at, Some(plus(10)));
        assert_eq!(r.pec_approved_at, Some(plus(12)));
        assert_eq!(r.approved_by.as_deref(), Some("mi"));
        assert_eq!(r.approval_latency_secs, Some(2.0));
        assert_eq!(r.approve_puts, 2);
    }

    #[test]
    fn race_rule_fails_the_mpe_for_good() {
        let (mut w, name) = world();
        // PEC visible at +6, MPE still Creating until +10.
        w.approve(&target(), &name, "mi", "ok", plus(7)).unwrap();
        assert_eq!(w.mpe_phase(&mpe(), plus(8)), Some(MpePhase::Failed));
        assert_eq!(w.mpe_phase(&mpe(), plus(1000)), Some(MpePhase::Failed));
        assert_eq!(w.violations().len(), 1);
        assert_eq!(w.violations()[0].kind, ViolationKind::Race);
        assert_eq!(w.mpe_reports(plus(20))[0].violations.len(), 1);
    }

    #[test]
    fn rejection_and_deletion() {
        let (mut w, name) = world();
        w.reject_pec(&mpe(), plus(11)).unwrap();
        assert_eq!(w.mpe_phase(&mpe(), plus(10)), Some(MpePhase::AwaitingApproval));
        assert_eq!(w.mpe_phase(&mpe(), plus(12)), Some(MpePhase::Rejected));
        assert_eq!(w.pec(&target(), &name, plus(12)).unwrap().status, PecStatus::Rejected);
        assert!(matches!(
            w.approve(&target(), &name, "mi", "ok", plus(13)),
            Err(WorldError::NotApprovable { status: "Rejected", .. })
        ));
        w.delete_mpe(&mpe(), plus(20)).unwrap();
        assert!(w.mpe_body(&mpe(), plus(19)).is_some());
        assert!(w.mpe_body(&mpe(), plus(21)).is_none());
        assert_eq!(w.pec(&target(), &name, plus(21)).unwrap().status, PecStatus::Disconnected);
        assert!(w.approve(&target(), &name, "mi", "ok", plus(22)).is_err());
    }

    #[test]
    fn owners_act_on_connections_by_name() {
        let (mut w, name) = world();
        let other = "00000000-0000-0000-0000-0000000000ff";
        let twin = w.add_twin_in(&mpe(), None, other, plus(1)).unwrap();
        let t = w.pec(&target(), &twin, plus(2)).unwrap();
        assert!(t.endpoint_id.starts_with(&format!("/subscriptions/{other}/")) && t.endpoint_id.ends_with("/pe1"));
        assert_eq!(t.description, "Please approve this managed private endpoint (pe1)");
        w.reject_connection(&target(), &twin, None, plus(3)).unwrap();
        assert_eq!(w.pec(&target(), &twin, plus(3)).unwrap().status, PecStatus::Rejected);
        w.remove_connection(&target(), &twin, plus(4)).unwrap();
        assert!(w.pec(&target(), &twin, plus(4)).is_none(), "a deleted connection is no longer listed");
        assert!(w.remove_connection(&target(), &twin, plus(5)).is_err(), "nothing left to delete");
        assert_eq!(w.mpe_phase(&mpe(), plus(11)), Some(MpePhase::AwaitingApproval), "the MPE is untouched");
        w.remove_connection(&target(), &name, plus(12)).unwrap();
        assert_eq!(w.mpe_phase(&mpe(), plus(12)), Some(MpePhase::Disconnected), "its own connection deleted");
        assert!(w.violations().is_empty());
    }

    #[test]
    fn an_mpe_created_again_under_a_deleted_ones_id_has_a_pec_of_its_own() {
        let (mut w, first) = world();
        assert!(matches!(w.add_mpe(MpeSpec::new(mpe(), target()), plus(1)), Err(WorldError::DuplicateMpe(_))));
        w.delete_mpe(&mpe(), plus(20)).unwrap();
        let second = w.add_mpe(MpeSpec::new(mpe(), target()).timing(secs(5), secs(10)), plus(30)).unwrap();
        assert_ne!(first, second);
        assert_eq!(w.pec(&target(), &first, plus(36)).unwrap().status, PecStatus::Disconnected);
        assert_eq!(w.pec(&target(), &second, plus(36)).unwrap().status, PecStatus::Pending);
        assert_eq!(w.mpe_phase(&mpe(), plus(41)), Some(MpePhase::AwaitingApproval));
        assert_eq!(w.mpe_reports(plus(41))[0].created_at, plus(30));
    }

    #[test]
    fn an_mpe_created_before_it_was_added_is_already_along() {
        let mut w = World::new(secs(3));
        let name =
            w.add_mpe(MpeSpec::new(mpe(), target()).timing(secs(5), secs(10)).created_ago(secs(3600)), t0()).unwrap();
        assert_eq!(w.mpe_reports(t0())[0].created_at, plus(-3600));
        assert_eq!(w.mpe_phase(&mpe(), t0()), Some(MpePhase::AwaitingApproval));
        assert_eq!(w.pec(&target(), &name, t0()).unwrap().status, PecStatus::Pending);
        w.set_request_message(&mpe(), "a new message").unwrap();
        let body = w.mpe_body(&mpe(), t0()).unwrap();
        assert_eq!(
            body.pointer("/properties/manualPrivateLinkServiceConnections/0/properties/requestMessage"),
            Some(&serde_json::json!("a new message"))
        );
        assert_eq!(
            w.pec(&target(), &name, t0()).unwrap().description,
            "Please approve this managed private endpoint (pe1)"
        );
    }

    #[test]
    fn deleted_before_pec_appears_leaves_no_pec() {
        let mut w = World::new(secs(3));
        let name =
            w.add_mpe(MpeSpec::new(mpe(), target()).timing(secs(5), secs(10)).delete_after(secs(2)), t0()).unwrap();
        assert!(w.pec(&target(), &name, plus(30)).is_none());
        assert_eq!(w.mpe_reports(plus(30))[0].phase, "Deleted");
    }

    #[test]
    fn strangers_and_twins_are_violations() {
        let (mut w, _) = world();
        let s = w.add_stranger(&target(), "someone", "let me in", t0()).unwrap();
        let tw = w.add_twin(&mpe(), None, t0()).unwrap();
        let twin = w.pec(&target(), &tw, plus(1)).unwrap();
        assert!(twin.endpoint_id.ends_with("/pe1"));
        assert_eq!(twin.description, "Please approve this managed private endpoint (pe1)");
        w.approve(&target(), &s, "mi", "ok", plus(12)).unwrap();
        w.approve(&target(), &tw, "mi", "ok", plus(12)).unwrap();
        let kinds: Vec<_> = w.violations().iter().map(|v| v.kind).collect();
        assert_eq!(kinds, vec![ViolationKind::StrangerApproved, ViolationKind::TwinApproved]);
        // The MPE itself is untouched.
        assert_eq!(w.mpe_phase(&mpe(), plus(30)), Some(MpePhase::AwaitingApproval));
    }

    #[test]
    fn ids_are_case_insensitive_and_async_targets_update() {
        let mut w = World::new(secs(3));
        let sql = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/db").unwrap();
        let name = w.add_mpe(MpeSpec::new(mpe(), sql.clone()).timing(secs(1), secs(1)), t0()).unwrap();
        let upper =
            ResourceId::parse(&sql.as_str().to_uppercase().replace("/SUBSCRIPTIONS/", "/subscriptions/")).unwrap();
        let out = w.approve(&upper, &name.to_uppercase(), "mi", "ok", plus(2)).unwrap();
        assert_eq!(out, ApproveOutcome::Approved { settles_at: plus(5) });
        assert!(w.pec(&sql, &name, plus(3)).unwrap().updating);
        assert!(!w.pec(&sql, &name, plus(6)).unwrap().updating);
        assert_eq!(
            w.mpe_phase(&ResourceId::parse(&mpe().as_str().to_lowercase()).unwrap(), plus(2)),
            Some(MpePhase::AwaitingApproval)
        );
    }

    #[test]
    fn arm_calls_are_attributed() {
        let (mut w, _) = world();
        w.count_arm_call(mpe().as_str());
        w.count_arm_call(&format!("{}/privateEndpointConnections", target().as_str().to_uppercase()));
        w.count_arm_call("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct2");
        assert_eq!(w.arm_calls_total, 3);
        assert_eq!(w.mpe_reports(t0())[0].arm_calls, 2);
        // A list of its parent's MPEs counts for it; a list elsewhere does not.
        let id = mpe().as_str().to_string();
        let (collection, _) = id.rsplit_once('/').unwrap();
        w.count_arm_call(&collection.to_uppercase());
        w.count_arm_call(&format!("{collection}x"));
        assert_eq!(w.mpe_reports(t0())[0].arm_calls, 3);
    }

    #[test]
    fn live_mpes_leave_out_the_deleted() {
        let (mut w, _) = world();
        assert_eq!(w.live_mpes(plus(1)), vec![mpe()]);
        w.delete_mpe(&mpe(), plus(5)).unwrap();
        assert_eq!(w.live_mpes(plus(4)).len(), 1);
        assert!(w.live_mpes(plus(5)).is_empty());
    }

    #[test]
    fn rejects_unsupported_types() {
        let mut w = World::new(secs(3));
        let bad_target =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Foo/bars/b").unwrap();
        assert!(matches!(w.add_mpe(MpeSpec::new(mpe(), bad_target), t0()), Err(WorldError::UnsupportedTarget(_))));
        assert!(matches!(w.add_mpe(MpeSpec::new(target(), target()), t0()), Err(WorldError::UnsupportedMpe(_))));
    }
}
