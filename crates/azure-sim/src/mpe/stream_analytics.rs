//! Stream Analytics cluster private endpoints (`Microsoft.StreamAnalytics/clusters/privateEndpoints`,
//! api-version 2020-03-01).

use super::{MpeFacts, MpePhase, Service};
use serde_json::{json, Value};

pub struct StreamAnalytics;

impl Service for StreamAnalytics {
    fn service(&self) -> &'static str {
        "Stream Analytics"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.StreamAnalytics/clusters/privateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2020-03-01"
    }

    /// `PrivateEndpoint_Get.json` (2020-03-01): the state sits in
    /// `manualPrivateLinkServiceConnections[0].properties.privateLinkServiceConnectionState.status`; no
    /// provisioningState. The example shows `Pending`; the live service walks `PendingCreation` →
    /// `PendingCustomerApproval` → `SetUpComplete`.
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let status = match phase {
            MpePhase::Creating => "PendingCreation",
            MpePhase::AwaitingApproval => "PendingCustomerApproval",
            MpePhase::Approved => "SetUpComplete",
            MpePhase::Rejected => "Rejected",
            MpePhase::Disconnected => "Disconnected",
            MpePhase::Failed => "Failed",
        };
        json!({
            "id": m.id.as_str(),
            "name": m.id.name(),
            "type": self.spelled_type(),
            "properties": {
                "createdDate": "2026-01-01T00:00Z",
                "manualPrivateLinkServiceConnections": [{
                    "properties": {
                        "privateLinkServiceId": m.target.as_str(),
                        "groupIds": [m.group_id],
                        "requestMessage": m.request_message,
                        "privateLinkServiceConnectionState": {
                            "status": status,
                            "description": "",
                            "actionsRequired": "None"
                        }
                    }
                }]
            },
            "etag": "00000000-0000-0000-0000-000000000000"
        })
    }
}
