//! Microsoft Fabric workspaces' managed private endpoints, kept by the **Fabric REST API**, not in ARM.
//!
//! `GET https://api.fabric.microsoft.com/v1/workspaces/{workspaceId}/managedPrivateEndpoints[/{id}]`
//! (`microsoft/fabric-rest-api-specs`, `platform/swagger.json` and
//! `platform/definitions/managedPrivateEndpoint.json`; the list answers `{value, continuationUri,
//! continuationToken}`), read with a token for `https://api.fabric.microsoft.com`. The identity needs the
//! workspace's *viewer* role. Creating an MPE raises no Azure event: the workspaces `MPE_FABRIC_WORKSPACES`
//! names are listed by the `MpeDiscover` timer.
//!
//! A body (`ManagedPrivateEndpoint`): `id` (a GUID), `name`, `targetPrivateLinkResourceId`,
//! `targetSubresourceType`, `provisioningState` (Provisioning, Succeeded, Updating, Deleting, Failed) and
//! `connectionState: {status, description, actionsRequired}`, `status` Pending, Approved, Rejected or
//! Disconnected. A create answers `Provisioning` without `connectionState`. Awaiting approval =
//! `provisioningState` Succeeded and `connectionState.status` Pending (from the enums: no recording shows it).
//!
//! **The tie to the PEC is not published.** The read carries no private endpoint name or id and no request
//! message, and the name Fabric gives its private endpoint is documented nowhere. So no rule ships: a Fabric
//! MPE is approved only under the operator's `MPE_ENDPOINT_NAMES` rule for this type (`{parent}` the workspace
//! id, `{mpe}` the MPE's id), written from what the target shows for the first one; without it, an MPE that
//! reports Pending is parked `evidence-mismatch` and nothing is approved (docs/coverage.md).
//!
//! The MPE has no ARM id: the approver names it
//! `{home}/providers/MpeApprover.Fabric/workspaces/{workspaceId}/managedPrivateEndpoints/{id}`, `{home}` the
//! resource group `MPE_FABRIC_WORKSPACES` files the workspace under (its subscription is the source
//! subscription the approval policy compares with the target's). The `MpeApprover.` namespace is no Azure
//! resource provider's.

use super::*;

pub struct Fabric;

const SERVICE: &str = "Fabric";

/// The resource type the approver gives a Fabric MPE (no Azure type exists).
pub const MPE_TYPE: &str = "MpeApprover.Fabric/workspaces/managedPrivateEndpoints";

impl Provider for Fabric {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        MPE_TYPE
    }
    /// The Fabric REST API's version, in its paths (`/v1/`).
    fn api_version(&self) -> &'static str {
        "v1"
    }
    fn data_plane(&self) -> Option<DataPlane> {
        Some(DataPlane {
            endpoint_setting: "MPE_FABRIC_ENDPOINT",
            default_endpoint: "https://api.fabric.microsoft.com",
            audience_setting: "MPE_FABRIC_AUDIENCE",
            default_audience: "https://api.fabric.microsoft.com",
            api_version_query: false,
            parents: Parents::Setting("MPE_FABRIC_WORKSPACES"),
            lists: ListShape::Continuation,
            permission: "the viewer role (or higher) on each Fabric workspace, given to the identity's service \
                         principal in the workspace's Manage access; the tenant setting \"Service principals can \
                         use Fabric APIs\" must allow it",
        })
    }
    fn data_plane_paths(&self, id: &ResourceId) -> Option<DataPlanePaths> {
        let list = format!("/v1/workspaces/{}/managedPrivateEndpoints", id.name_at(0)?);
        Some(DataPlanePaths { host: None, item: format!("{list}/{}", id.name()), list })
    }
    /// By its `id` (a GUID: one path segment); an item without one names no MPE.
    fn data_plane_item(&self, parent: &ResourceId, item: &Value) -> Option<ResourceId> {
        let mpe = item.get("id").and_then(Value::as_str).filter(|m| !m.contains('/'))?;
        ResourceId::parse(&format!("{parent}/managedPrivateEndpoints/{mpe}")).ok()
    }
    /// `<workspace id>@/subscriptions/<id>/resourceGroups/<name>`, comma-separated.
    fn data_plane_parents(&self, raw: &str) -> Result<Vec<ResourceId>, String> {
        let mut out = Vec::new();
        for entry in raw.split([',', ';', ' ', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
            let shape = "is not <workspace id>@/subscriptions/<id>/resourceGroups/<name>";
            let (workspace, home) = entry.split_once('@').ok_or_else(|| format!("{entry:?} {shape}"))?;
            uuid::Uuid::parse_str(workspace)
                .map_err(|_| format!("{entry:?}: the workspace id {workspace:?} is not a GUID"))?;
            let scope = crate::resource_id::ListScope::parse(home).map_err(|e| format!("{entry:?}: {e}"))?;
            if scope.resource_group().is_none() {
                return Err(format!(
                    "{entry:?}: name the resource group the workspace is filed under, not only a subscription"
                ));
            }
            let id = format!("{scope}/providers/MpeApprover.Fabric/workspaces/{workspace}");
            out.push(ResourceId::parse(&id).map_err(|e| format!("{entry:?}: {e}"))?);
        }
        Ok(out)
    }
    fn opt_in(&self) -> Option<&'static str> {
        Some("MPE_FABRIC")
    }
    /// Its bodies are the Fabric API's, not ARM's: the official examples are read by this file's tests.
    fn examples(&self) -> &'static [&'static str] {
        &[]
    }
    /// Not published: only the operator's rule names it.
    fn endpoint_name(&self, _id: &ResourceId) -> Option<String> {
        None
    }
    fn ready(&self) -> &'static str {
        "opt-in (`MPE_FABRIC=true`, the workspaces `MPE_FABRIC_WORKSPACES` names): `provisioningState` `Succeeded` \
         and `connectionState.status` `Pending`, on the Fabric REST API (no Azure event: found by `MpeDiscover`, \
         see docs/discovery.md)"
    }
    fn matched(&self) -> &'static str {
        "private endpoint named by the operator's `MPE_ENDPOINT_NAMES` rule for this type (Fabric publishes no \
         name, id or request message to tie it by; without a rule the MPE is parked), the MPE's group, in no \
         customer subscription"
    }
    fn confidence(&self) -> Confidence {
        Confidence::OperatorRule
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        if !body.is_object() {
            return Err(ProviderError::Missing { service: SERVICE, field: "body (an object)" });
        }
        let target =
            target_at(SERVICE, "targetPrivateLinkResourceId", str_at(body, &["targetPrivateLinkResourceId"]))?;
        let (status, raw_status) = provisioned_connection(body, &["connectionState", "status"], "connectionState.status");
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(body, &["targetSubresourceType"])),
            request_message: None,
            status,
            raw_status,
            created_at: None,
            endpoint_id: None,
            endpoint_name: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOME: &str = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-fabric";
    /// The workspace of the official examples.
    const WORKSPACE: &str = "47482db6-4583-4672-86dd-999d0f8f4d7a";

    /// An official example (`tests/fixtures/fabric/`, provenance in `tests/fixtures/PROVENANCE.md`).
    fn example(name: &str) -> Value {
        let raw = match name {
            "Get" => include_str!("../../../tests/fixtures/fabric/GetManagedPrivateEndpoint.json"),
            "List" => include_str!("../../../tests/fixtures/fabric/ListManagedPrivateEndpointsInWorkspace.json"),
            "ListWithContinuation" => {
                include_str!("../../../tests/fixtures/fabric/ListManagedPrivateEndpointsInWorkspaceWithContinuation.json")
            }
            "Create" => include_str!("../../../tests/fixtures/fabric/CreateManagedPrivateEndpoint.json"),
            other => panic!("no example {other}"),
        };
        serde_json::from_str(raw).unwrap()
    }

    fn workspace() -> ResourceId {
        Fabric.data_plane_parents(&format!("{WORKSPACE}@{HOME}")).unwrap().remove(0)
    }

    #[test]
    fn the_official_examples_read_as_they_say() {
        let get = &example("Get")["responses"]["200"]["body"];
        let id = Fabric.data_plane_item(&workspace(), get).unwrap();
        assert_eq!(
            id.as_str(),
            format!("{HOME}/providers/MpeApprover.Fabric/workspaces/{WORKSPACE}/managedPrivateEndpoints/59a92b06-6e5a-468c-b748-e28c8ff28da3")
        );
        let v = Fabric.parse(&id, get).unwrap();
        assert_eq!(v.status, MpeStatus::Approved);
        assert_eq!(v.target.name(), "sql1");
        assert_eq!(v.group_id.as_deref(), Some("sqlServer"));
        assert_eq!((v.request_message, v.endpoint_name, v.endpoint_id, v.created_at), (None, None, None, None));
        assert!(v.raw_status.contains("\"Succeeded\"") && v.raw_status.contains("\"Approved\""), "{}", v.raw_status);
        // A create answers Provisioning, no connection state yet.
        let created = &example("Create")["responses"]["201"]["body"];
        assert!(matches!(Fabric.parse(&id, created).unwrap().status, MpeStatus::Provisioning(_)));
        // The lists: each item read as an MPE of the workspace, the continuation followed on its own host.
        for name in ["List", "ListWithContinuation"] {
            let page = &example(name)["responses"]["200"]["body"];
            let items = ListShape::Continuation.items(page);
            assert_eq!(items.len(), 2, "{name}");
            for it in items {
                let id = Fabric.data_plane_item(&workspace(), it).unwrap();
                assert_eq!(Fabric.parse(&id, it).unwrap().status, MpeStatus::Approved, "{name}");
            }
        }
        let list = format!("https://api.fabric.microsoft.com/v1/workspaces/{WORKSPACE}/managedPrivateEndpoints");
        assert_eq!(ListShape::Continuation.next(&list, &example("List")["responses"]["200"]["body"]), None);
        assert_eq!(
            ListShape::Continuation.next(&list, &example("ListWithContinuation")["responses"]["200"]["body"]).as_deref(),
            Some(format!("{list}?continuationToken=LDEsMTAwMDAwLDA%3D").as_str())
        );
    }

    #[test]
    fn the_states_read_in_the_one_vocabulary() {
        let id = Fabric.data_plane_item(&workspace(), &json!({"id": "1b56faf6-9cb8-4506-8c6c-83e0aece804f"})).unwrap();
        let target = "/subscriptions/73310022-c811-4844-8b73-f9baa17c0d08/resourceGroups/testRG2/providers/Microsoft.Storage/storageAccounts/storage1";
        let read = |ps: Value, st: Value| {
            Fabric
                .parse(&id, &json!({"targetPrivateLinkResourceId": target, "targetSubresourceType": "blob", "provisioningState": ps, "connectionState": {"status": st}}))
                .unwrap()
                .status
        };
        assert_eq!(read(json!("Succeeded"), json!("Pending")), MpeStatus::AwaitingApproval);
        assert!(matches!(read(json!("Provisioning"), json!("Pending")), MpeStatus::Provisioning(_)));
        assert!(matches!(read(json!("Updating"), json!("Pending")), MpeStatus::Provisioning(_)));
        assert!(matches!(read(json!("Succeeded"), Value::Null), MpeStatus::Provisioning(_)));
        assert_eq!(read(json!("Succeeded"), json!("Rejected")), MpeStatus::Rejected);
        assert_eq!(read(json!("Succeeded"), json!("Disconnected")), MpeStatus::Disconnected);
        assert_eq!(read(json!("Deleting"), json!("Approved")), MpeStatus::Deleting);
        assert!(matches!(read(json!("Failed"), Value::Null), MpeStatus::Failed(_)));
        assert!(matches!(read(json!("Succeeded"), json!("Weird")), MpeStatus::Unknown(_)));
        assert!(matches!(read(json!(3), json!("Pending")), MpeStatus::Unknown(_)));
        for bad in [json!(null), json!([]), json!({"provisioningState": "Succeeded"}), json!({"targetPrivateLinkResourceId": 5})] {
            assert!(matches!(Fabric.parse(&id, &bad), Err(ProviderError::Missing { .. })), "{bad}");
        }
        let hostile = json!({"targetPrivateLinkResourceId": "/subscriptions/s/resourceGroups/rg/../x"});
        assert!(matches!(Fabric.parse(&id, &hostile), Err(ProviderError::BadTarget { .. })));
    }

    #[test]
    fn items_paths_and_the_workspace_setting() {
        assert!(Fabric.data_plane_item(&workspace(), &json!({"name": "SqlPE"})).is_none(), "no id");
        for hostile in ["../x", "a/b", "x?y=1", ""] {
            assert!(Fabric.data_plane_item(&workspace(), &json!({"id": hostile})).is_none(), "{hostile}");
        }
        let id = Fabric.data_plane_item(&workspace(), &json!({"id": "59a92b06-6e5a-468c-b748-e28c8ff28da3"})).unwrap();
        let paths = Fabric.data_plane_paths(&id).unwrap();
        assert_eq!(paths.list, format!("/v1/workspaces/{WORKSPACE}/managedPrivateEndpoints"));
        assert_eq!(paths.item, format!("{}/59a92b06-6e5a-468c-b748-e28c8ff28da3", paths.list));
        assert_eq!(paths.host, None);
        assert_eq!(Fabric.data_plane_parents("").unwrap(), Vec::<ResourceId>::new());
        let two = Fabric
            .data_plane_parents(&format!("{WORKSPACE}@{HOME}, 11111111-2222-3333-4444-555555555555@{HOME}"))
            .unwrap();
        assert_eq!(two.len(), 2);
        for bad in [
            WORKSPACE.to_string(),
            format!("not-a-guid@{HOME}"),
            format!("{WORKSPACE}@/subscriptions/00000000-0000-0000-0000-0000000000aa"),
            format!("{WORKSPACE}@https://evil.example"),
        ] {
            assert!(Fabric.data_plane_parents(&bad).is_err(), "{bad}");
        }
    }
}
