//! Azure Databricks serverless private endpoint rules, served by the Databricks account API
//! ([`crate::databricks`]), never by ARM, and raising no Azure event.
//!
//! A rule as the documented "Get" example shows it (docs.databricks.com, networking/v1
//! `get-ncc-private-endpoint-rule`): `rule_id`, `network_connectivity_config_id`, `account_id`,
//! `resource_id`, `group_id`, `endpoint_name`, `connection_state`, `creation_time` and `updated_time`
//! (epoch milliseconds), `deactivated`; `connection_state` `CREATING`, `PENDING`, `ESTABLISHED`,
//! `REJECTED`, `DISCONNECTED`, `CREATE_FAILED` (with `error_message`).
//!
//! A rule has no ARM id; the world keeps it as
//! `{home}/providers/MpeApprover.Databricks/accounts/{account}/networkConnectivityConfigs/{ncc}/privateEndpointRules/{rule}`,
//! `{home}` the resource group a test files the NCC under (the approver's `MPE_DATABRICKS_NCCS` names the
//! same place): never on the wire.

use super::{MpeFacts, MpePhase, Service};
use crate::id::ResourceId;
use serde_json::{json, Value};

pub struct Databricks;

impl Service for Databricks {
    fn service(&self) -> &'static str {
        "Databricks serverless"
    }
    fn resource_type(&self) -> &'static str {
        "MpeApprover.Databricks/accounts/networkConnectivityConfigs/privateEndpointRules"
    }
    fn api_version(&self) -> &'static str {
        "2.0"
    }
    /// `databricks-{guid}-pe-{8 hex}`, as the documented example names one.
    fn endpoint_name(&self, id: &ResourceId) -> String {
        let key = id.key();
        let (a, b) = (super::fnv1a(&key), super::fnv1a(&format!("{key}/endpoint")));
        let guid = uuid::Uuid::from_u64_pair(a, b);
        format!("databricks-{guid}-pe-{:08x}", (a ^ b) as u32)
    }
    fn data_plane(&self) -> bool {
        true
    }
    fn parents_in_arm(&self) -> bool {
        false
    }

    fn render(&self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        let state = match phase {
            MpePhase::Creating => "CREATING",
            MpePhase::AwaitingApproval => "PENDING",
            MpePhase::Approved => "ESTABLISHED",
            MpePhase::Rejected => "REJECTED",
            MpePhase::Disconnected => "DISCONNECTED",
            MpePhase::Failed => "CREATE_FAILED",
        };
        let created = m.created_at.timestamp_millis();
        let mut v = json!({
            "rule_id": m.id.name(),
            "network_connectivity_config_id": m.id.name_at(1).unwrap_or_default(),
            "account_id": m.id.name_at(0).unwrap_or_default(),
            "resource_id": m.target.as_str(),
            "group_id": m.group_id,
            "endpoint_name": m.endpoint_id.rsplit('/').next().unwrap_or_default(),
            "connection_state": state,
            "creation_time": created,
            "updated_time": created,
            "deactivated": false,
        });
        if phase == MpePhase::Failed {
            v["error_message"] = json!("The endpoint creation failed.");
        }
        v
    }
}
