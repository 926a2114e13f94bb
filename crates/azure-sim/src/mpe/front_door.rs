//! Azure Front Door Premium origins with a private link (`Microsoft.Cdn/profiles/originGroups/origins`,
//! api-version 2025-06-01).
//!
//! `AFDOrigins_Get.json` and `AFDOrigins_Create.json` (2025-06-01): `properties.{hostName, httpPort,
//! httpsPort, originHostHeader, priority, weight, enabledState, provisioningState, deploymentStatus,
//! originGroupName, sharedPrivateLinkResource, enforceCertificateNameCheck}`, the type and id spelled
//! `origingroups`; the create answers 202 with `provisioningState: Creating`. Both examples show
//! `sharedPrivateLinkResource: null` (an origin without a private link). Every origin served here has one,
//! in the Cdn specification's `SharedPrivateLinkResourceProperties` shape (`afdx.json`):
//! `{privateLink: {id}, groupId, privateLinkLocation, requestMessage, status}`, status
//! Pending/Approved/Rejected/Disconnected/Timeout. The private endpoint lives in a Microsoft-managed
//! subscription under a name Front Door does not publish: the one here is this simulator's own.

use super::{fnv1a, provisioned_then, MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct FrontDoor;

impl Service for FrontDoor {
    fn service(&self) -> &'static str {
        "Front Door"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Cdn/profiles/originGroups/origins"
    }
    fn api_version(&self) -> &'static str {
        "2025-06-01"
    }
    fn spelled_type(&self) -> &'static str {
        "Microsoft.Cdn/profiles/origingroups/origins"
    }
    /// A name of Front Door's own choosing, unrelated to the origin's.
    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("afd-{:016x}", fnv1a(&id.as_str().to_ascii_lowercase()))
    }
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, status) = provisioned_then(phase, ("Creating", "Pending"), ("Failed", "Pending"));
        let host = match m.target.namespace().to_ascii_lowercase().as_str() {
            "microsoft.storage" => format!("{}.blob.core.windows.net", m.target.name()),
            "microsoft.web" => format!("{}.azurewebsites.net", m.target.name()),
            _ => format!("{}.example.net", m.target.name()),
        };
        json!({
            "name": m.id.name(),
            "type": self.spelled_type(),
            "id": m.id.as_str(),
            "properties": {
                "deploymentStatus": "NotStarted",
                "enabledState": "Enabled",
                "enforceCertificateNameCheck": true,
                "hostName": host,
                "httpPort": 80,
                "httpsPort": 443,
                "originGroupName": m.id.name_at(1),
                "originHostHeader": host,
                "priority": 1,
                "provisioningState": provisioning,
                "sharedPrivateLinkResource": {
                    "privateLink": {"id": m.target.as_str()},
                    "groupId": m.group_id,
                    "privateLinkLocation": "westeurope",
                    "requestMessage": m.request_message,
                    "status": status
                },
                "weight": 1000
            }
        })
    }
}
