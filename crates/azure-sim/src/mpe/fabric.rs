//! Microsoft Fabric workspaces' managed private endpoints, served by the Fabric REST API
//! ([`crate::fabric`]), never by ARM, and raising no Azure event.
//!
//! A body as the official examples show one (`microsoft/fabric-rest-api-specs`,
//! `platform/examples/managedPrivateEndpoint/`; the repository keeps copies in `tests/fixtures/fabric/`):
//! `id` (a GUID), `name`, `targetPrivateLinkResourceId`, `targetSubresourceType`, `provisioningState` and,
//! once provisioned, `connectionState: {status, description}`. A create answers `Provisioning` without
//! `connectionState` (`CreateManagedPrivateEndpoint.json`); the decided descriptions are the enum's own
//! words (`platform/definitions/managedPrivateEndpoint.json`: "Endpoint approved", "Endpoint rejected",
//! "Endpoint disconnected"). No example shows a pending one: its description is empty here.
//!
//! The MPE has no ARM id; the world keeps it as
//! `{home}/providers/MpeApprover.Fabric/workspaces/{workspace}/managedPrivateEndpoints/{id}`, `{home}` the
//! resource group a test files the workspace under (the approver's `MPE_FABRIC_WORKSPACES` names the same
//! place): never on the wire.
//!
//! **The private endpoint's name is this simulator's choice**, `fabric-{workspace}-{id}`: Fabric publishes
//! none, and the approver ties a Fabric MPE to its PEC only by an operator's naming rule
//! (`MPE_ENDPOINT_NAMES`), which tests and the demo set to this name.

use super::{provisioned_then, MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct Fabric;

impl Service for Fabric {
    fn service(&self) -> &'static str {
        "Fabric"
    }
    fn resource_type(&self) -> &'static str {
        "MpeApprover.Fabric/workspaces/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "v1"
    }
    /// `fabric-{workspace}-{id}`: the simulator's stand-in (see the module's note).
    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("fabric-{}-{}", id.name_at(0).unwrap_or_default(), id.name())
    }
    fn data_plane(&self) -> bool {
        true
    }
    fn parents_in_arm(&self) -> bool {
        false
    }

    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, status) = provisioned_then(phase, ("Provisioning", ""), ("Failed", ""));
        let mut v = json!({
            "id": m.id.name(),
            "name": m.name,
            "targetPrivateLinkResourceId": m.target.as_str(),
            "provisioningState": provisioning,
            "targetSubresourceType": m.group_id,
        });
        let description = match status {
            "Approved" => "Endpoint approved",
            "Rejected" => "Endpoint rejected",
            "Disconnected" => "Endpoint disconnected",
            _ => "",
        };
        if !status.is_empty() {
            v["connectionState"] = json!({ "status": status, "description": description });
        }
        v
    }
}
