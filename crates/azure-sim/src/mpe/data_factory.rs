//! Data Factory managed private endpoints
//! (`Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints`, api-version 2018-06-01).

use super::{provisioned_then, MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct DataFactory;

impl Service for DataFactory {
    fn service(&self) -> &'static str {
        "Data Factory"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2018-06-01"
    }
    /// `<factoryName>.<mpeName>`.
    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("{}.{}", id.name_at(0).unwrap_or_default(), id.name())
    }

    /// `ManagedPrivateEndpoints_Get.json` (2018-06-01): `provisioningState` and
    /// `connectionState.{status, description, actionsRequired}`; no request message. While provisioning
    /// the connection state is still empty.
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, status) = provisioned_then(phase, ("Provisioning", ""), ("Failed", ""));
        json!({
            "id": m.id.as_str(),
            "name": m.id.name(),
            "type": self.spelled_type(),
            "properties": {
                "provisioningState": provisioning,
                "privateLinkResourceId": m.target.as_str(),
                "groupId": m.group_id,
                "fqdns": [],
                "connectionState": { "status": status, "description": "", "actionsRequired": "None" }
            },
            "etag": "000046c4-0000-0000-0000-5b2198bf0000"
        })
    }
}
