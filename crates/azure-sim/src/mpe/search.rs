//! Azure AI Search shared private links (`Microsoft.Search/searchServices/sharedPrivateLinkResources`,
//! api-version 2025-05-01).
//!
//! `GetSharedPrivateLinkResource.json` (2025-05-01): flat `properties.{requestMessage, groupId,
//! privateLinkResourceId, status, resourceRegion}`. The example shows no `provisioningState`; the
//! recorded azure-cli session (`search/tests/latest/recordings/test_shared_private_link_resource_crud.yaml`)
//! shows `provisioningState: Succeeded` with `status: Pending` once the ~90 s creation is done, and the
//! SDK's vocabulary names `Updating` for a resource being written and `Incomplete` for one whose
//! dependencies failed. The private endpoint lives in a Microsoft-managed tenant under a name Search
//! does not publish: the one here is this simulator's own.

use super::{fnv1a, provisioned_then, MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct Search;

impl Service for Search {
    fn service(&self) -> &'static str {
        "AI Search"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Search/searchServices/sharedPrivateLinkResources"
    }
    fn api_version(&self) -> &'static str {
        "2025-05-01"
    }
    /// A name of Search's own choosing, unrelated to the shared private link's.
    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("{:016x}.spl", fnv1a(&id.as_str().to_ascii_lowercase()))
    }
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, status) = provisioned_then(phase, ("Updating", "Pending"), ("Failed", "Pending"));
        json!({
            "name": m.id.name(),
            "type": self.resource_type(),
            "id": m.id.as_str(),
            "properties": {
                "requestMessage": m.request_message,
                "groupId": m.group_id,
                "privateLinkResourceId": m.target.as_str(),
                "status": status,
                "provisioningState": provisioning,
                "resourceRegion": null
            }
        })
    }
}
