//! Synapse workspaces' managed private endpoints
//! (`Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints`), served on the
//! workspace's data plane ([`crate::synapse`]), never by ARM, and raising no ARM event.
//!
//! Bodies from the data-plane examples (`GetManagedPrivateEndpoint.json`, `ListManagedPrivateEndpoints.json`,
//! `CreateManagedPrivateEndpoint.json`, 2020-12-01) and a recorded session (azure-cli
//! `synapse/tests/latest/recordings/test_managed_private_endpoints.yaml`, 2019-06-01-preview): an ARM-shaped
//! `id`, `isReserved`, `fqdns`, `isCompliant`; while provisioning an empty `connectionState` (the recording),
//! then `Succeeded` + `Pending` with `actionsRequired: "None"`. The 2020-12-01 list example also carries
//! `resourceId`, the id of the MPE's private endpoint, rendered here for that api-version and later.

use super::{provisioned_then, MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct Synapse;

impl Service for Synapse {
    fn service(&self) -> &'static str {
        "Synapse"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2020-12-01"
    }
    /// `<workspaceName>.<mpeName>`: Synapse's managed network is Data Factory's, whose private endpoints
    /// are named so. The simulated service reports the whole id as `resourceId` anyway.
    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("{}.{}", id.name_at(0).unwrap_or_default(), id.name())
    }
    fn data_plane(&self) -> bool {
        true
    }
    /// A workspace has one managed virtual network, `default` (the data plane's paths name it so).
    fn fixed_ancestor(&self, type_segment: &str) -> Option<&'static str> {
        type_segment.eq_ignore_ascii_case("managedVirtualNetworks").then_some("default")
    }

    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, status) = provisioned_then(phase, ("Provisioning", ""), ("Failed", ""));
        let connection = if status.is_empty() {
            json!({})
        } else {
            json!({ "status": status, "description": "", "actionsRequired": "None" })
        };
        let mut props = json!({
            "privateLinkResourceId": m.target.as_str(),
            "groupId": m.group_id,
            "provisioningState": provisioning,
            "connectionState": connection,
            "isReserved": false,
            "fqdns": [],
            "isCompliant": false,
        });
        if !m.endpoint_id.is_empty() && phase != MpePhase::Creating {
            props["resourceId"] = json!(m.endpoint_id);
        }
        json!({
            "name": m.id.name(),
            "id": m.id.as_str(),
            "type": self.spelled_type(),
            "properties": props,
        })
    }
}

/// The workspace's two built-in MPEs to its own SQL endpoints, as the recorded list shows them: reserved,
/// approved by the Synapse resource provider itself.
pub fn reserved(workspace: &ResourceId) -> Vec<Value> {
    let name = workspace.name();
    [("synapse-ws-sql--", "sql", ""), ("synapse-ws-sqlOnDemand--", "sqlOnDemand", "-ondemand")]
        .iter()
        .map(|(prefix, group, host)| {
            let mpe = format!("{prefix}{name}");
            json!({
                "name": mpe,
                "id": format!("{workspace}/managedVirtualNetworks/default/managedPrivateEndpoints/{mpe}"),
                "type": "Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints",
                "properties": {
                    "privateLinkResourceId": workspace.as_str(),
                    "groupId": group,
                    "provisioningState": "Succeeded",
                    "connectionState": {
                        "status": "Approved",
                        "description": "Approved by Microsoft.Synapse Resource Provider",
                        "actionsRequired": ""
                    },
                    "isReserved": true,
                    "fqdns": [format!("{name}{host}.sql.azuresynapse.net")],
                    "isCompliant": false
                }
            })
        })
        .collect()
}
