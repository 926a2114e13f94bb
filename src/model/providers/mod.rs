//! Provider adapters: everything about one Azure service's managed private endpoints lives in one file.
//!
//! An adapter knows its ARM resource type and api-version, how to turn the service's own JSON into the
//! normalised [`MpeView`], what the service names its private endpoint (the PEC matching rule), when its
//! MPEs usually become ready, whether the MPE reports its connection, the official examples it is
//! written from, and what the README's services table says of it. Adding a service is a new file here and one line in the `providers!` list
//! below; the operations, the role, the sweep, the README table and the tests that iterate the registry
//! follow.

use crate::resource_id::{ResourceId, ResourceIdError};
use serde_json::Value;
use std::time::Duration;

/// When a service's MPEs usually become ready, as an age (from their creation) between `from` and `to`,
/// from the timings Azure has shown ([`crate::providers::Provider::ready_window`]): its checks are the
/// schedule's first (densest) interval apart inside it, at most [`crate::schedule::BEFORE_WINDOW`] apart before it, and
/// on the schedule after it. Readiness outside it is still seen, later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyWindow {
    pub from: Duration,
    pub to: Duration,
}

impl ReadyWindow {
    /// Ages from `from` to `to` seconds.
    pub const fn seconds(from: u64, to: u64) -> ReadyWindow {
        ReadyWindow { from: Duration::from_secs(from), to: Duration::from_secs(to) }
    }
}

/// What the MPE itself says about its connection, in one vocabulary for all services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpeStatus {
    /// The service is still setting up its private endpoint. Approving now could race it.
    Provisioning(String),
    /// The service reports that its connection waits for approval: safe to approve our PEC.
    AwaitingApproval,
    /// Provisioned, but the MPE does not say whether its connection is pending (Data Explorer):
    /// the state of our PEC at the target decides.
    ProvisionedCheckTarget,
    Approved,
    Rejected,
    Disconnected,
    /// The service gave up on this endpoint (Failed, Canceled, Timeout, ...).
    Failed(String),
    Deleting,
    /// A value we do not know. Never read as pending: log it and check again later.
    Unknown(String),
    /// The resource connects to nothing privately: a Front Door origin without a private link, whose
    /// write events the approver receives like every origin's. Nothing to approve; the check ends.
    NoPrivateLink,
    /// The service's own MPE, whose connection it approves itself (a Synapse workspace's reserved MPEs
    /// to its SQL endpoints): never approved here; the check ends.
    Reserved,
}

/// The normalised view of one MPE, whatever service it comes from.
#[derive(Debug, Clone)]
pub struct MpeView {
    pub id: ResourceId,
    /// The resource the MPE connects to (its `privateLinkResourceId`); the MPE's own id where it connects
    /// to nothing ([`MpeStatus::NoPrivateLink`]).
    pub target: ResourceId,
    pub group_id: Option<String>,
    /// The request message the service sends; the target shows it as the PEC's description while Pending.
    pub request_message: Option<String>,
    pub status: MpeStatus,
    /// The service's own status fields, verbatim, for logs (`provisioningState=Succeeded status=Pending`).
    pub raw_status: String,
    /// When this MPE was created: ARM's read-only `systemData.createdAt`, where the service reports it.
    /// An MPE deleted and created again under the same name has a new one: it names the incarnation.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The full id of the MPE's private endpoint, where it is known: the MPE's own id where the MPE is
    /// itself the private endpoint (a customer's, with a manual connection; it lives in a customer
    /// subscription by design, [`MpeView::is_own_endpoint`]), or the id the service reports (Synapse's
    /// `resourceId`). Its PEC at the target is then the one whose `privateEndpoint.id` is exactly this id
    /// (no naming rule).
    pub endpoint_id: Option<String>,
    /// The name of the MPE's private endpoint where the service reports it (Databricks' `endpoint_name`):
    /// its PEC is from a private endpoint of exactly this name, whatever a naming rule says.
    pub endpoint_name: Option<String>,
}

impl MpeView {
    /// Whether the MPE is itself the private endpoint (a customer's own, [`MpeView::endpoint_id`] its id).
    pub fn is_own_endpoint(&self) -> bool {
        self.endpoint_id.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(self.id.as_str()))
    }

    /// A short, stable tag of this MPE's incarnation (its creation time), for our approval marker;
    /// `None` when the service does not report when the MPE was created.
    pub fn incarnation(&self) -> Option<String> {
        let at = self.created_at?;
        let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, at.timestamp_millis().to_string().as_bytes());
        Some(u.simple().to_string()[..4].to_string())
    }
}

/// ARM's `systemData.createdAt` of a resource body, when present and a valid RFC 3339 time.
pub(crate) fn system_created_at(body: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let raw = str_at(body, &["systemData", "createdAt"])?;
    chrono::DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&chrono::Utc))
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{service} MPE body has no usable {field}")]
    Missing { service: &'static str, field: &'static str },
    #[error("{service} MPE {field} is not a valid resource id: {source}")]
    BadTarget {
        service: &'static str,
        field: &'static str,
        #[source]
        source: ResourceIdError,
    },
}

pub trait Provider: Send + Sync + 'static {
    /// Human name, e.g. "Stream Analytics".
    fn service(&self) -> &'static str;
    /// Resource type of the MPE, e.g. `Microsoft.StreamAnalytics/clusters/privateEndpoints` (ARM's, or the
    /// ARM-shaped type a data plane reports, [`Provider::data_plane`]).
    fn resource_type(&self) -> &'static str;
    /// api-version used to read the MPE.
    fn api_version(&self) -> &'static str;
    /// The ARM write operation Event Grid reports for this MPE type.
    fn write_operation(&self) -> String {
        format!("{}/write", self.resource_type())
    }
    /// Normalise the service's JSON.
    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError>;
    /// The last segment of the private endpoint id this service creates for the MPE `id` (the PEC
    /// matching rule, see AZURE-NOTES "Which PEC belongs to an MPE"); `None` where the service does not
    /// publish it: the PEC is then matched on the MPE's request message, which must single it out.
    fn endpoint_name(&self, id: &ResourceId) -> Option<String> {
        Some(id.name().to_string())
    }
    /// Whether the MPE reports its connection (pending, approved, rejected, disconnected). `false`: it
    /// says only whether it is provisioned ([`MpeStatus::ProvisionedCheckTarget`]), and the state of our
    /// PEC at the target decides, once per incarnation of the MPE.
    fn reports_connection(&self) -> bool {
        true
    }
    /// The official REST API examples of this MPE type the adapter is written from: paths under the
    /// repository's `tests/fixtures/arm-examples/` (sources in `tests/fixtures/PROVENANCE.md`), each read
    /// with this adapter by `tests/providers_fixtures.rs`.
    fn examples(&self) -> &'static [&'static str];
    /// What "awaiting approval" means for this service, for the README's services table.
    fn ready(&self) -> &'static str;
    /// How its PEC at the target is told apart, for the same table.
    fn matched(&self) -> &'static str {
        "private endpoint named after the MPE (`{mpe}`), the MPE's group, in no customer subscription"
    }
    /// How sure the matching rule is.
    fn confidence(&self) -> Confidence;
    /// When this service's MPEs towards `target` usually become ready, from Azure's published timings:
    /// checks are dense inside the window and sparse before it ([`crate::schedule::ReadyWindow`]);
    /// `None` (the default): the schedule as configured.
    fn ready_window(&self, _target: &ResourceId) -> Option<ReadyWindow> {
        None
    }
    /// How to make the service read its connection again, for a service whose MPE keeps reporting
    /// Pending after its PEC is approved until asked (Managed Grafana); `None`: the MPE follows its
    /// connection by itself.
    fn refresh(&self, _id: &ResourceId) -> Option<Refresh> {
        None
    }
    /// Where the service keeps its MPEs when not in ARM ([`DataPlane`]); `None` (the default): in ARM,
    /// each MPE write raising an event.
    fn data_plane(&self) -> Option<DataPlane> {
        None
    }
    /// Where the MPE `id` is on its data plane (`item`), and the list of its parent (`id.parent()`) it is
    /// in (`list`); `None` for a type kept in ARM, or an id that names no place there.
    fn data_plane_paths(&self, _id: &ResourceId) -> Option<DataPlanePaths> {
        None
    }
    /// The id of an item of the list of `parent` (an MPE's parent), as the data plane lists it; `None`
    /// when the item names no MPE of `parent`.
    fn data_plane_item(&self, _parent: &ResourceId, _item: &Value) -> Option<ResourceId> {
        None
    }
    /// The list parents a setting names ([`Parents::Setting`]), parsed; an error says what is wrong.
    fn data_plane_parents(&self, _raw: &str) -> Result<Vec<ResourceId>, String> {
        Ok(Vec::new())
    }
    /// The setting that must be `true` for the approver to act on this type at all (a source that would
    /// otherwise widen, on upgrade, what a deployment approves); `None`: always on.
    fn opt_in(&self) -> Option<&'static str> {
        None
    }
}

/// Where a service keeps its MPEs outside ARM: its data plane (a Synapse workspace's
/// `https://{workspace}.dev.azuresynapse.net`, the Databricks account API), read with a token for its own
/// audience. Its MPEs raise no ARM write event: the `MpeDiscover` timer (and the sweep) lists them. The MPE
/// keeps an ARM-shaped id (the service's own, or the approver's name for it, [`Provider::data_plane_paths`]),
/// and its target's PECs are read and approved through ARM as every other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPlane {
    /// The setting holding the endpoint (`MPE_SYNAPSE_ENDPOINT`) and its default, with the placeholder
    /// where the host is per parent.
    pub endpoint_setting: &'static str,
    pub default_endpoint: &'static str,
    /// The setting holding the token audience and its default.
    pub audience_setting: &'static str,
    pub default_audience: &'static str,
    /// Whether its calls carry `?api-version=` ([`Provider::api_version`]); `false`: the version is in
    /// the path (the Databricks account API's `/api/2.0/`).
    pub api_version_query: bool,
    /// How discovery finds the parents whose MPE lists it reads.
    pub parents: Parents,
    /// The shape of its lists.
    pub lists: ListShape,
    /// What the identity needs to read its MPEs (documentation: not an ARM role).
    pub permission: &'static str,
}

/// How discovery finds a data plane's list parents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parents {
    /// The top-level parents of the MPE type, listed through ARM (with this api-version; Synapse
    /// workspaces): each one's name replaces `placeholder` in the endpoint (its host), and its MPEs are
    /// listed under `{top}/{under}` (the id of the MPEs' parent).
    Arm { api_version: &'static str, placeholder: &'static str, under: &'static str },
    /// Named by a setting (Databricks' NCCs: `MPE_DATABRICKS_NCCS`), parsed by
    /// [`Provider::data_plane_parents`]; the endpoint is one host.
    Setting(&'static str),
}

/// The shape of a data plane's list pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListShape {
    /// `{"value": [...], "nextLink": "<url>"}`, as ARM's (Synapse's data plane).
    Value,
    /// `{"items": [...], "next_page_token": "<t>"}`, the next page at `?page_token=<t>` (Databricks).
    Items,
    /// `{"value": [...], "continuationUri": "<url>"}`, the Fabric REST API's pages.
    Continuation,
}

impl ListShape {
    /// The items of one page (none when the page has none).
    pub fn items(self, page: &Value) -> &[Value] {
        let key = match self {
            ListShape::Value | ListShape::Continuation => "value",
            ListShape::Items => "items",
        };
        page.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// The URL of the page after `page` of the list at `list`, if there is one.
    pub fn next(self, list: &str, page: &Value) -> Option<String> {
        match self {
            ListShape::Value | ListShape::Continuation => {
                let key = if self == ListShape::Value { "nextLink" } else { "continuationUri" };
                page.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
            }
            ListShape::Items => {
                let token = page.get("next_page_token").and_then(Value::as_str).filter(|s| !s.is_empty())?;
                let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
                Some(format!("{list}?page_token={token}"))
            }
        }
    }
}

/// Where an MPE, or a parent's list, is on its data plane: the parent's name that fills the endpoint's
/// placeholder (`None`: one host), and the paths under the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPlanePaths {
    pub host: Option<String>,
    /// The list of the MPE's parent.
    pub list: String,
    /// The MPE itself (empty for a parent's list alone).
    pub item: String,
}

/// A POST action that makes a service read its MPEs' connections again: nothing is changed at the
/// target or in any connection, the service only updates what its MPEs report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// The action's path: `{resource}/{action}`.
    pub path: String,
    pub api_version: &'static str,
    /// The RBAC action that authorises it (for the role).
    pub permission: &'static str,
}

/// How sure a provider's matching rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// Verified from a recorded Azure response (an azure-cli test recording shows the PEC at the target).
    Recorded,
    /// Verified: what public automation for the service relies on and AZURE-NOTES records as verified.
    Verified,
    /// Written in the service's documentation.
    Documented,
    /// What public automation relies on, not confirmed by a recording or the documentation.
    WorkingRule,
    /// Nothing published ties the PEC to the MPE: only the operator's `MPE_ENDPOINT_NAMES` rule does.
    OperatorRule,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Recorded => "verified (a recorded Azure response shows it)",
            Confidence::Verified => "verified (public automation relies on it)",
            Confidence::Documented => "documented",
            Confidence::WorkingRule => "a working rule",
            Confidence::OperatorRule => "none published: the operator's rule only",
        }
    }
}

/// The supported MPE types as data (`mpe-approver print services`): per provider its service, resource
/// type, api-version, write operation, what "awaiting approval" means, how its PEC is matched and how
/// sure that rule is.
pub fn services_json() -> Value {
    Value::Array(
        registry()
            .iter()
            .map(|p| {
                serde_json::json!({
                    "service": p.service(),
                    "resourceType": p.resource_type(),
                    "apiVersion": p.api_version(),
                    "writeOperation": p.write_operation(),
                    "ready": p.ready(),
                    "matched": p.matched(),
                    "confidence": p.confidence().as_str(),
                })
            })
            .collect(),
    )
}

/// The README's services table, one row per provider of the registry (`tests/services_table.rs` holds
/// the README to it).
pub fn services_table() -> String {
    let mut out = String::from(
        "| service | MPE resource type | \"awaiting approval\" means | its PEC is the one with | how sure |\n|---|---|---|---|---|\n",
    );
    for p in registry() {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            p.service(),
            p.resource_type(),
            p.ready(),
            p.matched(),
            p.confidence().as_str()
        ));
    }
    out
}

/// Declares each provider's module and lists it in [`registry`]: one line per provider.
macro_rules! providers {
    ($($module:ident :: $provider:ident),+ $(,)?) => {
        $(mod $module;)+
        /// Every supported MPE type, in the order the README's services table lists them.
        pub fn registry() -> &'static [&'static dyn Provider] {
            &[$(&$module::$provider as &dyn Provider),+]
        }
    };
}

providers! {
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

/// The provider for an MPE id, by its resource type (case-insensitive).
pub fn for_id(id: &ResourceId) -> Option<&'static dyn Provider> {
    registry().iter().copied().find(|p| id.is_type(p.resource_type()))
}

/// Parse `raw` as the id of an MPE of a supported type: the one check behind the CLI's ids, `MpeReplay`'s
/// and a replayed message's, with the same message everywhere.
pub fn parse_mpe_id(raw: &str) -> Result<ResourceId, String> {
    let id = ResourceId::parse(raw).map_err(|e| e.to_string())?;
    if for_id(&id).is_none() {
        let types: Vec<&str> = registry().iter().map(|p| p.resource_type()).collect();
        return Err(format!("{} is not a supported MPE type (supported: {})", id.resource_type(), types.join(", ")));
    }
    Ok(id)
}

/// The provider whose MPE write operation this is (case-insensitive).
pub fn for_operation(operation: &str) -> Option<&'static dyn Provider> {
    // `{resource type}/write`, compared without building each provider's operation name (every Event
    // Grid event asks).
    const WRITE: &str = "/write";
    let split = operation.len().checked_sub(WRITE.len())?;
    let (resource_type, suffix) = (operation.get(..split)?, operation.get(split..)?);
    if !suffix.eq_ignore_ascii_case(WRITE) {
        return None;
    }
    registry().iter().copied().find(|p| p.resource_type().eq_ignore_ascii_case(resource_type))
}

// ---- small JSON helpers shared by the adapters ----

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// A status field: `Ok("")` when absent or null, `Ok(text)` for a string, `Err(json)` for anything else
/// (a number, an object ...), which callers report as [`MpeStatus::Unknown`] rather than "not set yet".
pub(crate) fn status_at<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(next) => cur = next,
            None => return Ok(""),
        }
    }
    match cur {
        Value::Null => Ok(""),
        Value::String(s) => Ok(s),
        other => Err(other.to_string()),
    }
}

/// A [`status_at`] result for logs: the string quoted, or the odd JSON as it was.
pub(crate) fn shown(r: Result<&str, String>) -> String {
    r.map_or_else(|bad| bad, |s| format!("{s:?}"))
}

pub(crate) fn target_at(
    service: &'static str,
    field: &'static str,
    value: Option<&str>,
) -> Result<ResourceId, ProviderError> {
    let s = value.filter(|s| !s.is_empty()).ok_or(ProviderError::Missing { service, field })?;
    ResourceId::parse(s).map_err(|source| ProviderError::BadTarget { service, field, source })
}

/// `provisioningState` vocabulary shared by most ARM resources.
pub(crate) fn provisioning_status(state: &str) -> Option<MpeStatus> {
    let s = state.to_ascii_lowercase();
    Some(match s.as_str() {
        "creating" | "provisioning" | "updating" | "running" | "accepted" | "moving" | "unknown" => {
            MpeStatus::Provisioning(state.to_string())
        }
        "failed" | "canceled" | "cancelled" => MpeStatus::Failed(format!("provisioningState {state}")),
        "deleting" => MpeStatus::Deleting,
        _ => return None,
    })
}

/// The common "provisioningState, then the connection's status" model (Data Factory, SignalR, Web PubSub).
/// Pending counts only once provisioning has Succeeded. Returns the status and the raw fields for logs;
/// `label` names the status field (`connectionState.status`, `status`).
pub(crate) fn provisioned_connection(props: &Value, status_path: &[&str], label: &str) -> (MpeStatus, String) {
    match (status_at(props, &["provisioningState"]), status_at(props, status_path)) {
        (Ok(ps), Ok(st)) => {
            let status = if let Some(s) = provisioning_status(ps) {
                // A connection status outside the vocabulary is reported whatever the provisioning says.
                match connection_status(st) {
                    odd @ MpeStatus::Unknown(_) if !st.is_empty() => odd,
                    _ => s,
                }
            } else if ps.eq_ignore_ascii_case("succeeded") {
                if st.is_empty() {
                    MpeStatus::Provisioning(format!("no {} yet", label.split('.').next().unwrap_or(label)))
                } else {
                    connection_status(st)
                }
            } else {
                MpeStatus::Unknown(format!("provisioningState {ps:?}"))
            };
            (status, format!("provisioningState={ps:?} {label}={st:?}"))
        }
        (ps, st) => {
            let (ps, st) = (shown(ps), shown(st));
            (
                MpeStatus::Unknown(format!("provisioningState {ps} {label} {st}: not strings")),
                format!("provisioningState={ps} {label}={st}"),
            )
        }
    }
}

/// The `status` vocabulary of private link connections (Pending/Approved/Rejected/Disconnected/Timeout).
pub(crate) fn connection_status(status: &str) -> MpeStatus {
    match status.to_ascii_lowercase().as_str() {
        "pending" => MpeStatus::AwaitingApproval,
        "approved" => MpeStatus::Approved,
        "rejected" => MpeStatus::Rejected,
        "disconnected" => MpeStatus::Disconnected,
        "timeout" => MpeStatus::Failed("connection status Timeout".into()),
        _ => MpeStatus::Unknown(format!("status {status}")),
    }
}

pub(crate) fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_lookups_are_case_insensitive() {
        let id = ResourceId::parse(
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.kusto/Clusters/c/ManagedPrivateEndpoints/m",
        )
        .unwrap();
        assert_eq!(for_id(&id).unwrap().service(), "Data Explorer");
        assert_eq!(
            for_operation("MICROSOFT.STREAMANALYTICS/CLUSTERS/PRIVATEENDPOINTS/WRITE").unwrap().service(),
            "Stream Analytics"
        );
        assert!(for_operation("Microsoft.Storage/storageAccounts/write").is_none());
        // Only `{type}/write`, whole: no other action, no prefix or suffix of one, no short or odd text.
        for op in [
            "Microsoft.StreamAnalytics/clusters/privateEndpoints/delete",
            "Microsoft.StreamAnalytics/clusters/privateEndpoints/write/",
            "Microsoft.StreamAnalytics/clusters/privateEndpoints/writes",
            "Microsoft.StreamAnalytics/clusters/privateEndpoints//write",
            "Microsoft.StreamAnalytics/clusters/write",
            "/write",
            "write",
            "",
            "Microsoft.StreamAnalytics/clusters/privateEndpoints/wrïte",
            "ï/write",
        ] {
            assert!(for_operation(op).is_none(), "{op}");
        }
        for p in registry() {
            assert_eq!(for_operation(&p.write_operation()).map(|q| q.service()), Some(p.service()));
        }
    }

    #[test]
    fn registry_has_unique_types() {
        let mut types: Vec<String> = registry().iter().map(|p| p.resource_type().to_ascii_lowercase()).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), registry().len());
    }
}
