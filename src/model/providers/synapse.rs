//! Synapse workspaces' managed private endpoints
//! (`Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints`), kept on the
//! workspace's **data plane**, not in ARM.
//!
//! `https://{workspace}.dev.azuresynapse.net/managedVirtualNetworks/default/managedPrivateEndpoints[/{name}]`
//! (api-version 2020-12-01), read with a token for `https://dev.azuresynapse.net`; creating one raises no
//! ARM event, so these MPEs are found by the `MpeDiscover` timer (and the sweep), which lists the
//! workspaces through ARM and their MPEs here.
//!
//! Bodies: `{name, id?, type, properties: {privateLinkResourceId, groupId, provisioningState,
//! connectionState: {status, description, actionsRequired}, isReserved, fqdns, resourceId?}}`
//! (`CreateManagedPrivateEndpoint.json`, `GetManagedPrivateEndpoint.json`, `ListManagedPrivateEndpoints.json`
//! 2020-12-01; and a recorded session, azure-cli
//! `src/azure-cli/azure/cli/command_modules/synapse/tests/latest/recordings/test_managed_private_endpoints.yaml`,
//! api-version 2019-06-01-preview: the PUT answered `Provisioning` with an empty `connectionState`, and
//! 92 s later the GET said `Succeeded` + `Pending`; the workspace's two built-in MPEs to its own SQL
//! endpoints, `isReserved: true`, arrive `Approved` by the Synapse resource provider).
//! Awaiting approval = `provisioningState` Succeeded and `connectionState.status` Pending. A reserved MPE
//! is Synapse's own: never approved here ([`MpeStatus::Reserved`]).
//!
//! Its PEC: the 2020-12-01 list example carries `properties.resourceId`, the id of the MPE's private
//! endpoint; where the MPE reports it, the PEC is the one whose `privateEndpoint.id` is exactly that id.
//! Where it does not (the recorded 2019-06-01-preview answers), the private endpoint is taken to be named
//! `{workspace}.{mpe}`, as Data Factory's (the same managed-network service) is: a working rule, not
//! confirmed by a recording; a wrong rule shows as `no-matching-pec` (`MPE_ENDPOINT_NAMES` replaces it).

use super::*;

pub struct Synapse;

const SERVICE: &str = "Synapse";

impl Provider for Synapse {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2020-12-01"
    }
    fn data_plane(&self) -> Option<DataPlane> {
        Some(DataPlane {
            endpoint_setting: "MPE_SYNAPSE_ENDPOINT",
            default_endpoint: "https://{workspace}.dev.azuresynapse.net",
            audience_setting: "MPE_SYNAPSE_AUDIENCE",
            default_audience: "https://dev.azuresynapse.net",
            api_version_query: true,
            parents: Parents::Arm {
                api_version: "2021-06-01",
                placeholder: "{workspace}",
                under: "managedVirtualNetworks/default",
            },
            lists: ListShape::Value,
            permission: "a Synapse RBAC role on each workspace (a data-plane role, not an Azure one): Synapse User, \
                         which every Synapse role includes (its `workspaces/read`), assigned in Synapse Studio \
                         (Manage, Access control) or with `az synapse role assignment create`",
        })
    }
    /// On the workspace's host: the id's path below the workspace
    /// (`/managedVirtualNetworks/default/managedPrivateEndpoints/{name}`).
    fn data_plane_paths(&self, id: &ResourceId) -> Option<DataPlanePaths> {
        let (vnet, name) = (id.name_at(1)?, id.name());
        let list = format!("/managedVirtualNetworks/{vnet}/managedPrivateEndpoints");
        Some(DataPlanePaths { host: Some(id.name_at(0)?.to_string()), item: format!("{list}/{name}"), list })
    }
    /// By its `name` (the 2020-12-01 examples carry no `id`); one whose `id` names another MPE is not it.
    fn data_plane_item(&self, parent: &ResourceId, item: &Value) -> Option<ResourceId> {
        let name = item.get("name").and_then(Value::as_str)?;
        let id = ResourceId::parse(&format!("{parent}/managedPrivateEndpoints/{name}")).ok()?;
        match item.get("id").and_then(Value::as_str) {
            Some(said) if !said.eq_ignore_ascii_case(id.as_str()) => None,
            _ => Some(id),
        }
    }
    fn opt_in(&self) -> Option<&'static str> {
        Some("MPE_SYNAPSE")
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.Synapse/2020-12-01/GetManagedPrivateEndpoint.json",
            "Microsoft.Synapse/2020-12-01/CreateManagedPrivateEndpoint.json",
            "Microsoft.Synapse/2020-12-01/ListManagedPrivateEndpoints.json",
        ]
    }
    fn endpoint_name(&self, id: &ResourceId) -> Option<String> {
        Some(format!("{}.{}", id.name_at(0).unwrap_or_default(), id.name()))
    }
    fn ready(&self) -> &'static str {
        "opt-in (`MPE_SYNAPSE=true`): `provisioningState` `Succeeded` and `connectionState.status` `Pending`, on \
         the workspace's data plane (no ARM event: found by `MpeDiscover`, see docs/discovery.md); a reserved \
         MPE (`isReserved`) is never approved"
    }
    fn matched(&self) -> &'static str {
        "private endpoint whose id is the MPE's `resourceId` where it reports one; else named \
         `{workspace}.{mpe}` (a working rule), the MPE's group, in no customer subscription"
    }
    fn confidence(&self) -> Confidence {
        Confidence::WorkingRule
    }
    /// 92 s from the PUT to `Succeeded`/`Pending` in the recorded session: sparse checks for the first
    /// 75 s, dense ones to 150 s.
    fn ready_window(&self, _target: &ResourceId) -> Option<ReadyWindow> {
        Some(ReadyWindow::seconds(75, 150))
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body.get("properties").ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let target = target_at(SERVICE, "privateLinkResourceId", str_at(props, &["privateLinkResourceId"]))?;
        let (mut status, mut raw_status) =
            provisioned_connection(props, &["connectionState", "status"], "connectionState.status");
        match props.get("isReserved") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                raw_status.push_str(" isReserved=true");
                if status != MpeStatus::Deleting {
                    status = MpeStatus::Reserved;
                }
            }
            Some(other) => status = MpeStatus::Unknown(format!("isReserved {other}: not a boolean")),
        }
        // The private endpoint's id, as the service reports it: only a well-formed private endpoint id.
        let endpoint_id = str_at(props, &["resourceId"])
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                ResourceId::parse(s)
                    .ok()
                    .filter(|e| e.is_type("Microsoft.Network/privateEndpoints"))
                    .map(|e| e.to_string())
                    .ok_or(ProviderError::Missing { service: SERVICE, field: "resourceId (a private endpoint id)" })
            })
            .transpose()?;
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(props, &["groupId"])),
            request_message: None,
            status,
            raw_status,
            created_at: system_created_at(body),
            endpoint_id,
            endpoint_name: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> ResourceId {
        ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/ws1/managedVirtualNetworks/default/managedPrivateEndpoints/pe1",
        )
        .unwrap()
    }

    fn body(ps: &str, status: Value, reserved: Value, resource_id: Option<&str>) -> Value {
        let mut v = json!({"name": "pe1", "properties": {
            "privateLinkResourceId": "/subscriptions/t/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
            "groupId": "dfs", "provisioningState": ps, "connectionState": status, "isReserved": reserved}});
        if let Some(r) = resource_id {
            v["properties"]["resourceId"] = json!(r);
        }
        v
    }

    #[test]
    fn pending_only_once_provisioned_and_reserved_ones_are_never_ours() {
        let read = |b: &Value| Synapse.parse(&id(), b).unwrap().status;
        assert_eq!(read(&body("Provisioning", json!({}), json!(false), None)), MpeStatus::Provisioning("Provisioning".into()));
        assert_eq!(read(&body("Succeeded", json!({"status": "Pending"}), json!(false), None)), MpeStatus::AwaitingApproval);
        assert_eq!(read(&body("Succeeded", json!({"status": "Pending"}), json!(true), None)), MpeStatus::Reserved);
        assert_eq!(read(&body("Succeeded", json!({"status": "Approved"}), json!(true), None)), MpeStatus::Reserved);
        assert!(matches!(read(&body("Succeeded", json!({"status": "Pending"}), json!("yes"), None)), MpeStatus::Unknown(_)));
    }

    #[test]
    fn the_reported_private_endpoint_id_ties_the_pec_exactly() {
        let pe = "/subscriptions/m/resourceGroups/managed/providers/Microsoft.Network/privateEndpoints/ws1.pe1";
        let v = Synapse.parse(&id(), &body("Succeeded", json!({"status": "Pending"}), json!(false), Some(pe))).unwrap();
        assert_eq!(v.endpoint_id.as_deref(), Some(pe));
        let none = Synapse.parse(&id(), &body("Succeeded", json!({"status": "Pending"}), json!(false), None)).unwrap();
        assert_eq!(none.endpoint_id, None);
        assert_eq!(Synapse.endpoint_name(&id()).as_deref(), Some("ws1.pe1"));
        // Anything but a private endpoint's id is refused, never used to match.
        let storage = "/subscriptions/t/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa";
        assert!(Synapse.parse(&id(), &body("Succeeded", json!({"status": "Pending"}), json!(false), Some(storage))).is_err());
    }
}
