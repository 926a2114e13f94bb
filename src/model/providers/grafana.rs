//! Azure Managed Grafana managed private endpoints (`Microsoft.Dashboard/grafana/managedPrivateEndpoints`).
//!
//! `properties.{provisioningState, privateLinkResourceId, groupIds[], requestMessage,
//! connectionState.{status, description}}` (`ManagedPrivateEndpoints_Get.json` 2024-10-01,
//! `ManagedPrivateEndpoints_Create.json` 2025-08-01, whose answers carry no `connectionState` yet).
//! Awaiting approval = `provisioningState` Succeeded and `connectionState.status` Pending.
//!
//! Verified from a recorded session (azure-cli-extensions
//! `src/amg/azext_amg/tests/latest/recordings/test_amg_private_endpoint.yaml`): the private endpoint at
//! the target (an Azure Monitor workspace, group `prometheusMetrics`) is named
//! `grafana-{workspace}-{mpe}`, in a Microsoft-managed resource group; and after the PEC was approved the
//! MPE kept reporting Pending until `POST {workspace}/refreshManagedPrivateEndpoints` (202, done about 4 s
//! later), after which it reported Approved. So the approver asks for that refresh after approving
//! ([`Provider::refresh`]) and ends the chain on what the refreshed MPE says. The refresh is authorised
//! by `Microsoft.Dashboard/grafana/managedPrivateEndpoints/action` ("Operations on Private Endpoints",
//! the one action of the built-in Azure Managed Grafana Workspace Contributor role that can cover it).

use super::*;

pub struct Grafana;

const SERVICE: &str = "Managed Grafana";

impl Provider for Grafana {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Dashboard/grafana/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2025-08-01"
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.Dashboard/2024-10-01/ManagedPrivateEndpoints_Get.json",
            "Microsoft.Dashboard/2024-10-01/ManagedPrivateEndpoints_List.json",
            "Microsoft.Dashboard/2025-08-01/ManagedPrivateEndpoints_Create.json",
        ]
    }
    fn endpoint_name(&self, id: &ResourceId) -> Option<String> {
        Some(format!("grafana-{}-{}", id.name_at(0).unwrap_or_default(), id.name()))
    }
    fn ready(&self) -> &'static str {
        "`provisioningState` `Succeeded` and `connectionState.status` `Pending`; after the approval the \
         approver asks Grafana to refresh (`refreshManagedPrivateEndpoints`) and ends when the MPE says `Approved`"
    }
    fn matched(&self) -> &'static str {
        "private endpoint named `grafana-{workspace}-{mpe}`, the MPE's group, in no customer subscription"
    }
    fn confidence(&self) -> Confidence {
        Confidence::Recorded
    }
    /// `Succeeded`/`Pending` by two minutes at most in the recorded session (its status was polled
    /// every 30 s): sparse checks for the first 45 s, dense ones to 150 s.
    fn ready_window(&self, _target: &ResourceId) -> Option<ReadyWindow> {
        Some(ReadyWindow::seconds(45, 150))
    }
    fn refresh(&self, id: &ResourceId) -> Option<Refresh> {
        Some(Refresh {
            path: format!("{}/refreshManagedPrivateEndpoints", id.parent()?),
            api_version: self.api_version(),
            permission: "Microsoft.Dashboard/grafana/managedPrivateEndpoints/action",
        })
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body.get("properties").ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let target = target_at(SERVICE, "privateLinkResourceId", str_at(props, &["privateLinkResourceId"]))?;
        let (status, raw_status) =
            provisioned_connection(props, &["connectionState", "status"], "connectionState.status");
        let group_id = props.get("groupIds").and_then(|g| g.get(0)).and_then(Value::as_str);
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(group_id),
            request_message: nonempty(str_at(props, &["requestMessage"])),
            status,
            raw_status,
            created_at: system_created_at(body),
            endpoint_id: None,
            endpoint_name: None,
        })
    }
}
