//! Data Factory managed private endpoints
//! (`Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints`).
//!
//! `provisioningState` plus `connectionState.status` (Pending/Approved/Rejected/Disconnected). Pending
//! counts only once provisioning has Succeeded. The private endpoint is named `<factoryName>.<mpeName>`.

use super::*;

pub struct DataFactory;

const SERVICE: &str = "Data Factory";

impl Provider for DataFactory {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2018-06-01"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.DataFactory/2018-06-01/ManagedPrivateEndpoints_Get.json",
            "Microsoft.DataFactory/2018-06-01/ManagedPrivateEndpoints_Create.json",
            "Microsoft.DataFactory/2018-06-01/ManagedPrivateEndpoints_ListByFactory.json",
        ]
    }
    fn ready(&self) -> &'static str {
        "`provisioningState` `Succeeded` and `connectionState.status` `Pending`"
    }
    fn matched(&self) -> &'static str {
        "private endpoint named `{factory}.{mpe}`, the MPE's group, in no customer subscription"
    }
    fn confidence(&self) -> Confidence {
        Confidence::Verified
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body.get("properties").ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let target = target_at(SERVICE, "privateLinkResourceId", str_at(props, &["privateLinkResourceId"]))?;
        let (status, raw_status) =
            provisioned_connection(props, &["connectionState", "status"], "connectionState.status");
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(props, &["groupId"])),
            request_message: None,
            status,
            raw_status,
            created_at: system_created_at(body),
            endpoint_id: None,
            endpoint_name: None,
        })
    }

    fn endpoint_name(&self, id: &ResourceId) -> Option<String> {
        Some(format!("{}.{}", id.name_at(0).unwrap_or_default(), id.name()))
    }
}
