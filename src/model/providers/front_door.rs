//! Azure Front Door Premium origins with a private link (`Microsoft.Cdn/profiles/originGroups/origins`,
//! api-version 2025-06-01).
//!
//! The origin's private link is `properties.sharedPrivateLinkResource`, the Cdn specification's
//! `SharedPrivateLinkResourceProperties` (`Azure/azure-rest-api-specs`,
//! `specification/cdn/resource-manager/Microsoft.Cdn/stable/2025-06-01/afdx.json` at
//! `5c450b92444a2ff259d2304eaa50b4b9aec73ad8`; the same names in the Bicep reference of
//! `Microsoft.Cdn/profiles/originGroups/origins`, learn.microsoft.com/azure/templates):
//! `privateLink.id` (the resource the origin connects to, a `ResourceReference`), `groupId`,
//! `privateLinkLocation`, `requestMessage` and `status` (Pending/Approved/Rejected/Disconnected/Timeout).
//! The origin itself carries `provisioningState` (Succeeded/Failed/Updating/Deleting/Creating, the
//! specification's `AFDStateProperties`) and a `deploymentStatus` this adapter does not read. The official
//! examples (`AFDOrigins_Get.json`, `AFDOrigins_Create.json`) only show `sharedPrivateLinkResource: null`.
//!
//! Awaiting approval = `provisioningState` `Succeeded` and `sharedPrivateLinkResource.status` `Pending`;
//! `Timeout` ends the chain as failed (the shared reading of the connection vocabulary).
//!
//! Most origins have no private link (`sharedPrivateLinkResource` null or absent), yet the approver
//! receives the write event of every origin: such an origin reads as [`MpeStatus::NoPrivateLink`], whatever
//! its `provisioningState` (the link is the origin's configuration, not its progress), and its check ends
//! quietly. Its view names the origin itself as the target: it connects to nothing.
//!
//! The private endpoint lives in a Microsoft-managed subscription and its name is not published, so the
//! PEC is matched on the origin's request message (the PEC's description while Pending): a request message
//! unique to each origin is what lets it be approved. Origins of one profile with the same target, group
//! and location share one private endpoint (`MicrosoftDocs/azure-docs:articles/frontdoor/private-link.md`
//! at `0408c35de10c077cdf15f08b6cee6e90a74c3b09`; another profile always gets its own): the first origin's
//! check approves its PEC (which carries the request message of the origin that created it), and the
//! others, once their shared link reports `Approved`, end already approved.

use super::*;

pub struct FrontDoor;

const SERVICE: &str = "Front Door";

/// Where the origin's private link lives in `properties`.
const LINK: &str = "sharedPrivateLinkResource";

impl Provider for FrontDoor {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Cdn/profiles/originGroups/origins"
    }
    fn api_version(&self) -> &'static str {
        "2025-06-01"
    }
    fn examples(&self) -> &'static [&'static str] {
        &["Microsoft.Cdn/2025-06-01/AFDOrigins_Get.json", "Microsoft.Cdn/2025-06-01/AFDOrigins_Create.json"]
    }
    fn endpoint_name(&self, _id: &ResourceId) -> Option<String> {
        None
    }
    fn ready(&self) -> &'static str {
        "`provisioningState` `Succeeded` and `sharedPrivateLinkResource.status` `Pending` (an origin without a \
         private link ends its check at once)"
    }
    fn matched(&self) -> &'static str {
        "the request message as its description (the private endpoint's name is not published: give each origin \
         a unique request message), the MPE's group, in no customer subscription, and no other such PEC; origins \
         of one profile with the same target, group and location share one private endpoint, approved once"
    }
    fn confidence(&self) -> Confidence {
        Confidence::WorkingRule
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body
            .get("properties")
            .filter(|p| p.is_object())
            .ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let link = match props.get(LINK) {
            None | Some(Value::Null) => {
                let provisioning = shown(status_at(props, &["provisioningState"]));
                return Ok(MpeView {
                    id: id.clone(),
                    target: id.clone(),
                    group_id: None,
                    request_message: None,
                    status: MpeStatus::NoPrivateLink,
                    raw_status: format!("provisioningState={provisioning} {LINK}=null"),
                    created_at: system_created_at(body),
                    endpoint_id: None,
                    endpoint_name: None,
                });
            }
            Some(link) if link.is_object() => link,
            Some(_) => return Err(ProviderError::Missing { service: SERVICE, field: LINK }),
        };
        let target = target_at(SERVICE, "sharedPrivateLinkResource.privateLink.id", str_at(link, &["privateLink", "id"]))?;
        let (status, raw_status) = provisioned_connection(props, &[LINK, "status"], "sharedPrivateLinkResource.status");
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(link, &["groupId"])),
            request_message: nonempty(str_at(link, &["requestMessage"])),
            status,
            raw_status,
            created_at: system_created_at(body),
            endpoint_id: None,
            endpoint_name: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TARGET: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/host1";

    fn origin_id() -> ResourceId {
        ResourceId::parse(
            "/subscriptions/subid/resourcegroups/RG/providers/Microsoft.Cdn/profiles/profile1/origingroups/origingroup1/origins/origin1",
        )
        .unwrap()
    }

    /// The origin of `AFDOrigins_Get.json` (200) with `link` as its `sharedPrivateLinkResource`.
    fn origin(provisioning: &str, link: Value) -> Value {
        json!({
            "name": "origin1",
            "type": "Microsoft.Cdn/profiles/origingroups/origins",
            "id": origin_id().as_str(),
            "properties": {
                "deploymentStatus": "NotStarted",
                "enabledState": "Enabled",
                "enforceCertificateNameCheck": true,
                "hostName": "host1.blob.core.windows.net",
                "httpPort": 80,
                "httpsPort": 443,
                "originGroupName": "origingroup1",
                "originHostHeader": "host1.foo.com",
                "priority": null,
                "provisioningState": provisioning,
                "sharedPrivateLinkResource": link,
                "weight": null
            }
        })
    }

    /// A populated `sharedPrivateLinkResource`: no official example shows one, so it is built from the
    /// field names of the specification's `SharedPrivateLinkResourceProperties` (see the module's doc).
    fn link(status: &str) -> Value {
        json!({
            "privateLink": {"id": TARGET},
            "groupId": "blob",
            "privateLinkLocation": "westeurope",
            "requestMessage": "Please approve origin1",
            "status": status
        })
    }

    fn read(body: &Value) -> MpeView {
        FrontDoor.parse(&origin_id(), body).unwrap()
    }

    #[test]
    fn a_private_link_reads_as_its_status_once_the_origin_is_provisioned() {
        let v = read(&origin("Succeeded", link("Pending")));
        assert_eq!(v.status, MpeStatus::AwaitingApproval);
        assert_eq!(v.target.as_str(), TARGET);
        assert_eq!(v.group_id.as_deref(), Some("blob"));
        assert_eq!(v.request_message.as_deref(), Some("Please approve origin1"));
        assert_eq!(v.raw_status, "provisioningState=\"Succeeded\" sharedPrivateLinkResource.status=\"Pending\"");
        for (status, want) in [
            ("Approved", MpeStatus::Approved),
            ("Rejected", MpeStatus::Rejected),
            ("Disconnected", MpeStatus::Disconnected),
            ("Timeout", MpeStatus::Failed("connection status Timeout".into())),
        ] {
            assert_eq!(read(&origin("Succeeded", link(status))).status, want, "{status}");
        }
        for provisioning in ["Creating", "Updating"] {
            let v = read(&origin(provisioning, link("Pending")));
            assert!(matches!(v.status, MpeStatus::Provisioning(_)), "{provisioning}: {:?}", v.status);
        }
        assert_eq!(read(&origin("Deleting", link("Pending"))).status, MpeStatus::Deleting);
    }

    #[test]
    fn an_origin_without_a_private_link_has_nothing_to_approve() {
        for provisioning in ["Succeeded", "Creating", "Failed", "Deleting"] {
            let v = read(&origin(provisioning, Value::Null));
            assert_eq!(v.status, MpeStatus::NoPrivateLink, "{provisioning}");
            assert_eq!(v.target, origin_id(), "it connects to nothing: the origin names itself");
            assert_eq!((v.group_id, v.request_message), (None, None));
            assert_eq!(v.raw_status, format!("provisioningState={provisioning:?} sharedPrivateLinkResource=null"));
        }
        let mut absent = origin("Succeeded", Value::Null);
        absent["properties"].as_object_mut().unwrap().remove("sharedPrivateLinkResource");
        assert_eq!(read(&absent).status, MpeStatus::NoPrivateLink);
    }

    #[test]
    fn a_private_link_that_is_no_object_or_names_no_target_is_an_error() {
        for odd in [json!("x"), json!(1), json!([link("Pending")])] {
            let r = FrontDoor.parse(&origin_id(), &origin("Succeeded", odd.clone()));
            assert!(matches!(r, Err(ProviderError::Missing { field: LINK, .. })), "{odd}: {r:?}");
        }
        for no_target in [json!({}), json!({"privateLink": null}), json!({"privateLink": {"id": ""}})] {
            let r = FrontDoor.parse(&origin_id(), &origin("Succeeded", no_target.clone()));
            assert!(matches!(r, Err(ProviderError::Missing { .. })), "{no_target}: {r:?}");
        }
        let r = FrontDoor.parse(&origin_id(), &json!({"properties": "x"}));
        assert!(matches!(r, Err(ProviderError::Missing { field: "properties", .. })), "{r:?}");
    }
}
