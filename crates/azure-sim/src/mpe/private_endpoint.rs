//! A customer's own private endpoint with a manual connection (`Microsoft.Network/privateEndpoints`,
//! api-version 2024-05-01, the shape of the 2025-05-01 and 2025-07-01 examples).
//!
//! `PrivateEndpointGetForManualApproval.json` (2025-07-01): the endpoint's `provisioningState`, its
//! `manualPrivateLinkServiceConnections[]` each with `properties.{privateLinkServiceId, groupIds[],
//! requestMessage, privateLinkServiceConnectionState.{status, description, actionsRequired}}` ("Pending",
//! "Awaiting approval"), `subnet`, `networkInterfaces`, `ipConfigurations`. The recorded azure-cli session
//! (`network/tests/latest/recordings/test_network_private_endpoints.yaml`) shows the rest this file follows:
//! `provisioningState` `Updating` for about 42 s, then `Succeeded`; a decision at the target shows in the
//! connection's state on the next GET. The endpoint is the customer's own resource: the PEC at the target names its id exactly
//! ([`Service::own_endpoint`]).

use super::{MpeFacts, MpePhase, Service};
use serde_json::{json, Value};

pub struct PrivateEndpoint;

impl Service for PrivateEndpoint {
    fn service(&self) -> &'static str {
        "Private endpoint (manual)"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Network/privateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2024-05-01"
    }
    fn own_endpoint(&self) -> bool {
        true
    }
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, status, description) = match phase {
            MpePhase::Creating => ("Updating", "Pending", "Awaiting approval"),
            MpePhase::Failed => ("Failed", "Pending", "Awaiting approval"),
            MpePhase::AwaitingApproval => ("Succeeded", "Pending", "Awaiting approval"),
            MpePhase::Approved => ("Succeeded", "Approved", "Approved"),
            MpePhase::Rejected => ("Succeeded", "Rejected", "Rejected"),
            MpePhase::Disconnected => ("Succeeded", "Disconnected", "Removed"),
        };
        // The endpoint's own resource group: `/subscriptions/{sub}/resourceGroups/{rg}/...`.
        let rg = m.id.as_str().split('/').nth(4).unwrap_or("rg");
        let sub = m.id.subscription();
        json!({
            "name": m.id.name(),
            "id": m.id.as_str(),
            "type": "Microsoft.Network/privateEndpoints",
            "location": "eastus",
            "properties": {
                "provisioningState": provisioning,
                "privateLinkServiceConnections": [],
                "manualPrivateLinkServiceConnections": [
                    {
                        "id": format!("{}/manualPrivateLinkServiceConnections/{}-connection", m.id.as_str(), m.id.name()),
                        "properties": {
                            "privateLinkServiceId": m.target.as_str(),
                            "groupIds": [m.group_id],
                            "requestMessage": m.request_message,
                            "privateLinkServiceConnectionState": {
                                "status": status,
                                "description": description,
                                "actionsRequired": "None"
                            }
                        }
                    }
                ],
                "subnet": {
                    "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/spoke-vnet/subnets/endpoints")
                },
                "networkInterfaces": [
                    {
                        "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/{}.nic.0001", m.id.name())
                    }
                ],
                "customDnsConfigs": [],
                "applicationSecurityGroups": [],
                "ipConfigurations": []
            }
        })
    }
}
