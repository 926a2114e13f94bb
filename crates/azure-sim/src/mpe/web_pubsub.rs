//! Web PubSub shared private link resources (`Microsoft.SignalRService/webPubSub/sharedPrivateLinkResources`,
//! api-version 2024-03-01): SignalR's shape (`signalr.rs`).

use super::signalr::shared_private_link;
use super::{MpeFacts, MpePhase, Service};
use serde_json::Value;

pub struct WebPubSub;

impl Service for WebPubSub {
    fn service(&self) -> &'static str {
        "Web PubSub"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.SignalRService/webPubSub/sharedPrivateLinkResources"
    }
    fn api_version(&self) -> &'static str {
        "2024-03-01"
    }
    fn spelled_type(&self) -> &'static str {
        "Microsoft.SignalRService/WebPubSub/sharedPrivateLinkResources"
    }
    /// `WebPubSubSharedPrivateLinkResources_Get.json`.
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        shared_private_link(self.spelled_type(), m, phase)
    }
}
