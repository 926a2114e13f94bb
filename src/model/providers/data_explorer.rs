//! Data Explorer (Kusto) managed private endpoints (`Microsoft.Kusto/clusters/managedPrivateEndpoints`).
//!
//! The MPE carries only `provisioningState` (Creating/Provisioning → Succeeded). `Succeeded` does not say
//! whether the connection is pending or approved, so the target's PEC decides. A body without
//! `provisioningState` (as in the spec example) is unknown, never pending.

use super::*;

pub struct DataExplorer;

const SERVICE: &str = "Data Explorer";

impl Provider for DataExplorer {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Kusto/clusters/managedPrivateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2024-04-13"
    }

    fn reports_connection(&self) -> bool {
        false
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.Kusto/2024-04-13/KustoManagedPrivateEndpointsGet.json",
            "Microsoft.Kusto/2024-04-13/KustoManagedPrivateEndpointsCreateOrUpdate.json",
            "Microsoft.Kusto/2024-04-13/KustoManagedPrivateEndpointsList.json",
        ]
    }
    fn ready(&self) -> &'static str {
        "`provisioningState` `Succeeded` and our PEC `Pending` at the target, while the MPE is new \
         (`systemData.createdAt` within `MPE_GIVE_UP_AFTER`)"
    }
    fn matched(&self) -> &'static str {
        "private endpoint named after the MPE (`{mpe}`), the MPE's group, in no customer subscription; \
         one approval per MPE (our marker), the request message between twins"
    }
    fn confidence(&self) -> Confidence {
        Confidence::Verified
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body.get("properties").ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let target = target_at(SERVICE, "privateLinkResourceId", str_at(props, &["privateLinkResourceId"]))?;
        let ps = str_at(props, &["provisioningState"]);
        let status = match ps {
            None => MpeStatus::Unknown("no provisioningState".into()),
            Some(s) if s.eq_ignore_ascii_case("succeeded") => MpeStatus::ProvisionedCheckTarget,
            Some(s) => provisioning_status(s).unwrap_or_else(|| MpeStatus::Unknown(format!("provisioningState {s}"))),
        };
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(props, &["groupId"])),
            request_message: nonempty(str_at(props, &["requestMessage"])),
            status,
            raw_status: format!("provisioningState={:?}", ps.unwrap_or("")),
            created_at: system_created_at(body),
            endpoint_id: None,
            endpoint_name: None,
        })
    }
}
