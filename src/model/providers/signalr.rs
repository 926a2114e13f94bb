//! SignalR shared private link resources (`Microsoft.SignalRService/signalR/sharedPrivateLinkResources`).
//!
//! `provisioningState` (Unknown/Succeeded/Failed/Canceled/Running/Creating/Updating/Deleting/Moving) and
//! `status` (Pending/Approved/Rejected/Disconnected/Timeout). Awaiting approval = Succeeded + Pending.
//! Web PubSub shares this shape (see `web_pubsub.rs`).

use super::*;

pub struct SignalR;

impl Provider for SignalR {
    fn service(&self) -> &'static str {
        "SignalR"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.SignalRService/signalR/sharedPrivateLinkResources"
    }
    fn api_version(&self) -> &'static str {
        "2024-03-01"
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.SignalRService/2024-03-01/SignalRSharedPrivateLinkResources_Get.json",
            "Microsoft.SignalRService/2024-03-01/SignalRSharedPrivateLinkResources_CreateOrUpdate.json",
            "Microsoft.SignalRService/2024-03-01/SignalRSharedPrivateLinkResources_List.json",
        ]
    }
    fn ready(&self) -> &'static str {
        "`provisioningState` `Succeeded` and `status` `Pending`"
    }
    fn confidence(&self) -> Confidence {
        Confidence::WorkingRule
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        parse_shared_private_link(self.service(), id, body)
    }
}

pub(super) fn parse_shared_private_link(
    service: &'static str,
    id: &ResourceId,
    body: &Value,
) -> Result<MpeView, ProviderError> {
    let props = body.get("properties").ok_or(ProviderError::Missing { service, field: "properties" })?;
    let target = target_at(service, "privateLinkResourceId", str_at(props, &["privateLinkResourceId"]))?;
    let (status, raw_status) = provisioned_connection(props, &["status"], "status");
    Ok(MpeView {
        id: id.clone(),
        target,
        group_id: nonempty(str_at(props, &["groupId"])),
        request_message: nonempty(str_at(props, &["requestMessage"])),
        status,
        raw_status,
        created_at: system_created_at(body),
        endpoint_id: None,
        endpoint_name: None,
    })
}
