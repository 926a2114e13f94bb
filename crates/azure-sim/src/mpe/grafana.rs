//! Azure Managed Grafana managed private endpoints (`Microsoft.Dashboard/grafana/managedPrivateEndpoints`,
//! api-version 2025-08-01).
//!
//! `ManagedPrivateEndpoints_Get.json` (2024-10-01) and `ManagedPrivateEndpoints_Create.json`
//! (2025-08-01): `properties.{provisioningState, privateLinkResourceId, privateLinkResourceRegion,
//! groupIds[], requestMessage, connectionState.{status, description}}`, a `location` and ARM's
//! `systemData`; the Create answer carries no `connectionState` yet. The recorded azure-cli-extensions
//! session (`amg/.../test_amg_private_endpoint.yaml`, api 2023-09-01) shows the rest, which this file
//! follows:
//! - `provisioningState` `Accepted` while the PUT's operation runs (about 2 minutes), then `Succeeded`
//!   with `connectionState {status: Pending, description: null}`;
//! - the private endpoint at the target is `grafana-{workspace}-{mpe}`;
//! - after its PEC was approved the MPE still read `Pending` until
//!   `POST {workspace}/refreshManagedPrivateEndpoints` (202 + `Azure-AsyncOperation`, `Succeeded` about
//!   4 s later), and `Approved` with description `Approved` after that ([`Service::refresh_action`]).

use super::{MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct Grafana;

impl Service for Grafana {
    fn service(&self) -> &'static str {
        "Managed Grafana"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Dashboard/grafana/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2025-08-01"
    }
    fn endpoint_name(&self, id: &ResourceId) -> String {
        format!("grafana-{}-{}", id.name_at(0).unwrap_or_default(), id.name())
    }
    fn refresh_action(&self) -> Option<&'static str> {
        Some("refreshManagedPrivateEndpoints")
    }
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let (provisioning, connection) = match phase {
            MpePhase::Creating => ("Accepted", None),
            MpePhase::Failed => ("Failed", None),
            MpePhase::AwaitingApproval => ("Succeeded", Some(("Pending", Value::Null))),
            MpePhase::Approved => ("Succeeded", Some(("Approved", json!("Approved")))),
            MpePhase::Rejected => ("Succeeded", Some(("Rejected", json!("Rejected")))),
            MpePhase::Disconnected => ("Succeeded", Some(("Disconnected", Value::Null))),
        };
        let stamp = m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut body = json!({
            "id": m.id.as_str(),
            "name": m.id.name(),
            "type": "Microsoft.Dashboard/grafana/managedPrivateEndpoint",
            "location": "West US",
            "properties": {
                "provisioningState": provisioning,
                "privateLinkResourceId": m.target.as_str(),
                "privateLinkResourceRegion": "West US",
                "groupIds": [m.group_id],
                "requestMessage": m.request_message
            },
            "systemData": {
                "createdBy": "grafana-admin@contoso.com",
                "createdByType": "User",
                "createdAt": stamp,
                "lastModifiedBy": "grafana-admin@contoso.com",
                "lastModifiedByType": "User",
                "lastModifiedAt": stamp
            }
        });
        if let Some((status, description)) = connection {
            body["properties"]["connectionState"] = json!({ "status": status, "description": description });
        }
        body
    }
}
