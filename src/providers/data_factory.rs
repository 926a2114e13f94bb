//! Data Factory managed private endpoints
//! (`Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints`).
//!
//! `provisioningState` plus `connectionState.status` (Pending/Approved/Rejected/Disconnected). Pending
//! counts only once provisioning has Succeeded. The private endpoint is named `<factoryName>.<mpeName>`.

use super::*;
use serde_json::json;

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
        })
    }

    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("{}.{}", id.name_at(0).unwrap_or_default(), id.name())
    }

    fn sim_body(&self, m: &SimMpe<'_>) -> Value {
        let (ps, cs) = match m.phase {
            SimPhase::Creating => ("Provisioning", ""),
            SimPhase::Failed => ("Failed", ""),
            p => ("Succeeded", sim_connection_status(p).unwrap_or("")),
        };
        json!({
            "id": m.id.as_str(),
            "name": m.id.name(),
            "type": "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
            "properties": {
                "provisioningState": ps,
                "privateLinkResourceId": m.target.as_str(),
                "groupId": m.group_id,
                "fqdns": [],
                "connectionState": { "status": cs, "description": "", "actionsRequired": "None" }
            },
            "etag": "000046c4-0000-0000-0000-5b2198bf0000"
        })
    }
}
