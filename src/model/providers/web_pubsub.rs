//! Web PubSub shared private link resources (`Microsoft.SignalRService/webPubSub/sharedPrivateLinkResources`).
//! Same data model as SignalR's.

use super::signalr::parse_shared_private_link;
use super::*;

pub struct WebPubSub;

impl Provider for WebPubSub {
    fn service(&self) -> &'static str {
        "Web PubSub"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.SignalRService/webPubSub/sharedPrivateLinkResources"
    }
    fn api_version(&self) -> &'static str {
        "2024-03-01"
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.SignalRService/2024-03-01/WebPubSubSharedPrivateLinkResources_Get.json",
            "Microsoft.SignalRService/2024-03-01/WebPubSubSharedPrivateLinkResources_CreateOrUpdate.json",
            "Microsoft.SignalRService/2024-03-01/WebPubSubSharedPrivateLinkResources_List.json",
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
