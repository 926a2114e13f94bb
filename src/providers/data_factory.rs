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
        let (ps, cs) =
            match (status_at(props, &["provisioningState"]), status_at(props, &["connectionState", "status"])) {
                (Ok(ps), Ok(cs)) => (ps, cs),
                (ps, cs) => {
                    let (ps, cs) = (shown(ps), shown(cs));
                    return Ok(MpeView {
                        id: id.clone(),
                        target,
                        group_id: nonempty(str_at(props, &["groupId"])),
                        request_message: None,
                        status: MpeStatus::Unknown(format!("provisioningState {ps} status {cs}: not strings")),
                        raw_status: format!("provisioningState={ps} connectionState.status={cs}"),
                    });
                }
            };
        let status = if let Some(s) = provisioning_status(ps) {
            s
        } else if ps.eq_ignore_ascii_case("succeeded") {
            if cs.is_empty() {
                MpeStatus::Provisioning("no connectionState yet".into())
            } else {
                connection_status(cs)
            }
        } else {
            MpeStatus::Unknown(format!("provisioningState {ps:?}"))
        };
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(props, &["groupId"])),
            request_message: None,
            status,
            raw_status: format!("provisioningState={ps:?} connectionState.status={cs:?}"),
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
