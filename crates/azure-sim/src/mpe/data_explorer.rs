//! Data Explorer (Kusto) managed private endpoints (`Microsoft.Kusto/clusters/managedPrivateEndpoints`,
//! api-version 2024-04-13).

use super::{MpeFacts, MpePhase, Service};
use serde_json::{json, Value};

pub struct DataExplorer;

impl Service for DataExplorer {
    fn service(&self) -> &'static str {
        "Data Explorer"
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Kusto/clusters/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2024-04-13"
    }
    fn spelled_type(&self) -> &'static str {
        "Microsoft.Kusto/Clusters/ManagedPrivateEndpoints"
    }
    /// The model's only state is `provisioningState`.
    fn reports_connection(&self) -> bool {
        false
    }

    /// `KustoManagedPrivateEndpointsGet.json` (2024-04-13): `name` is `cluster/mpe`, the type capitalised;
    /// the model's only state is `provisioningState` (Creating/Provisioning → Succeeded, or Failed), which
    /// does not say whether the connection is pending or approved: the target's PEC does. The resource also
    /// carries ARM's read-only `systemData` (the 2024-04-13 spec declares it on `ManagedPrivateEndpoint`; the
    /// example omits it): `createdAt` is when this MPE, under this name, was created.
    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let provisioning = match phase {
            MpePhase::Creating => "Provisioning",
            MpePhase::Failed => "Failed",
            _ => "Succeeded",
        };
        json!({
            "id": m.id.as_str(),
            "name": format!("{}/{}", m.id.name_at(0).unwrap_or_default(), m.id.name()),
            "type": self.spelled_type(),
            "properties": {
                "privateLinkResourceId": m.target.as_str(),
                "groupId": m.group_id,
                "requestMessage": m.request_message,
                "provisioningState": provisioning
            },
            "systemData": {
                "createdBy": "kusto-admin@contoso.com",
                "createdByType": "User",
                "createdAt": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "lastModifiedBy": "kusto-admin@contoso.com",
                "lastModifiedByType": "User",
                "lastModifiedAt": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }
        })
    }
}
