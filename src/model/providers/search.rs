//! Azure AI Search shared private links (`Microsoft.Search/searchServices/sharedPrivateLinkResources`).
//!
//! Flat `properties.{groupId, privateLinkResourceId, provisioningState, requestMessage, resourceRegion,
//! status}`: `provisioningState` Updating/Deleting/Failed/Succeeded/Incomplete, `status`
//! Pending/Approved/Rejected/Disconnected. Awaiting approval = Succeeded + Pending: Search's documentation
//! says to approve only once the resource is `Succeeded`, as touching its private endpoint earlier can
//! fail it. `Incomplete` (a dependency failed; the fix is to create it again) ends the chain.
//!
//! The private endpoint lives in a Microsoft-managed tenant and its name is not published, so the PEC is
//! matched on the shared private link's request message: a message unique to each shared private link is
//! what lets it be approved.

use super::*;

pub struct Search;

const SERVICE: &str = "AI Search";

impl Provider for Search {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Search/searchServices/sharedPrivateLinkResources"
    }
    fn api_version(&self) -> &'static str {
        "2025-05-01"
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.Search/2025-05-01/GetSharedPrivateLinkResource.json",
            "Microsoft.Search/2025-05-01/CreateOrUpdateSharedPrivateLinkResource.json",
            "Microsoft.Search/2025-05-01/ListSharedPrivateLinkResourcesByService.json",
        ]
    }
    fn endpoint_name(&self, _id: &ResourceId) -> Option<String> {
        None
    }
    fn ready(&self) -> &'static str {
        "`provisioningState` `Succeeded` and `status` `Pending` (approving earlier can fail it)"
    }
    fn matched(&self) -> &'static str {
        "the request message as its description (the private endpoint's name is not published: give each \
         shared private link a unique request message), the MPE's group, in no customer subscription, and no \
         other such PEC"
    }
    fn confidence(&self) -> Confidence {
        Confidence::WorkingRule
    }
    /// About 90 s from the PUT to `Succeeded`/`Pending` in a recorded session (Synapse's MPE, built the
    /// same way, 92 s): sparse checks for the first 75 s, dense ones to 150 s.
    fn ready_window(&self, _target: &ResourceId) -> Option<ReadyWindow> {
        Some(ReadyWindow::seconds(75, 150))
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body.get("properties").ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let target = target_at(SERVICE, "privateLinkResourceId", str_at(props, &["privateLinkResourceId"]))?;
        let (mut status, raw_status) = provisioned_connection(props, &["status"], "status");
        if status_at(props, &["provisioningState"]).is_ok_and(|s| s.eq_ignore_ascii_case("incomplete")) {
            status = MpeStatus::Failed("provisioningState Incomplete".into());
        }
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
}
