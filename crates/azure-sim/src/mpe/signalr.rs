//! SignalR shared private link resources (`Microsoft.SignalRService/signalR/sharedPrivateLinkResources`,
//! api-version 2024-03-01). Web PubSub answers in the same shape (`web_pubsub.rs`).

use super::{provisioned_then, MpeFacts, MpePhase, Service};
use serde_json::{json, Value};

pub struct SignalR;

impl Service for SignalR {
    fn service(&self) -> &'static str {
        "SignalR"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.SignalRService/signalR/sharedPrivateLinkResources"
    }
    fn api_version(&self) -> &'static str {
        "2024-03-01"
    }
    fn spelled_type(&self) -> &'static str {
        "Microsoft.SignalRService/SignalR/sharedPrivateLinkResources"
    }
    /// `SignalRSharedPrivateLinkResources_Get.json`.
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        shared_private_link(self.spelled_type(), m, phase)
    }
}

/// `SignalRSharedPrivateLinkResources_Get.json`, `WebPubSubSharedPrivateLinkResources_Get.json`
/// (2024-03-01): flat `properties.{groupId, privateLinkResourceId, provisioningState, requestMessage,
/// status}`. A resource being created already says `status: Pending`; only `provisioningState:
/// Succeeded` makes it mean "waiting for approval".
pub(super) fn shared_private_link(type_name: &str, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
    let (provisioning, status) = provisioned_then(phase, ("Creating", "Pending"), ("Failed", "Disconnected"));
    json!({
        "properties": {
            "groupId": m.group_id,
            "privateLinkResourceId": m.target.as_str(),
            "provisioningState": provisioning,
            "requestMessage": m.request_message,
            "status": status
        },
        "id": m.id.as_str(),
        "name": m.id.name(),
        "type": type_name
    })
}
