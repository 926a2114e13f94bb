//! Azure Databricks serverless private endpoint rules: the managed private endpoints of a network
//! connectivity configuration (NCC), kept by the Databricks **account API**, not in ARM.
//!
//! `GET https://accounts.azuredatabricks.net/api/2.0/accounts/{account_id}/network-connectivity-configs/{ncc_id}/private-endpoint-rules[/{rule_id}]`
//! (the list answers `{items, next_page_token}`, the next page at `?page_token=`), read with a token for
//! the Azure Databricks application (`2ff814a6-3304-4ab8-85cb-cd0e6f879c1d`). A rule raises no Azure event:
//! the NCCs `MPE_DATABRICKS_NCCS` names are listed by the `MpeDiscover` timer.
//!
//! A rule (`NccPrivateEndpointRule`, docs.databricks.com "Get" and "List Ncc Private Endpoint Rules",
//! networking/v1): `rule_id`, `network_connectivity_config_id`, `account_id`, `resource_id` (the target),
//! `group_id`, `endpoint_name` ("the name of the Azure private endpoint resource", e.g.
//! `databricks-088781b3-77fa-4132-b429-1af0d91bc593-pe-3cb31234`), `connection_state`, `creation_time` and
//! `updated_time` (epoch milliseconds), `deactivated`, `error_message`. `connection_state`: `CREATING`
//! (then `PENDING`), `PENDING` ("created and pending approval"), `ESTABLISHED`, `REJECTED`, `DISCONNECTED`,
//! `EXPIRED` (not approved within 14 days), `CREATE_FAILED`; `INIT` is the deprecated name of `PENDING`.
//! Awaiting approval = `PENDING` (or `INIT`). Its PEC: from the private endpoint named exactly as the rule's
//! `endpoint_name` says ([`MpeView::endpoint_name`]), in no customer subscription.
//!
//! The rule has no ARM id: the approver names it
//! `{home}/providers/MpeApprover.Databricks/accounts/{account_id}/networkConnectivityConfigs/{ncc_id}/privateEndpointRules/{rule_id}`,
//! `{home}` the resource group `MPE_DATABRICKS_NCCS` files the NCC under (its subscription is the source
//! subscription the approval policy compares with the target's). The `MpeApprover.` namespace is no
//! Azure resource provider's.

use super::*;

pub struct Databricks;

const SERVICE: &str = "Databricks serverless";

/// The resource type the approver gives a rule (no Azure type exists).
pub const RULE_TYPE: &str = "MpeApprover.Databricks/accounts/networkConnectivityConfigs/privateEndpointRules";

impl Provider for Databricks {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        RULE_TYPE
    }
    /// The account API's version, in its paths (`/api/2.0/`).
    fn api_version(&self) -> &'static str {
        "2.0"
    }
    fn data_plane(&self) -> Option<DataPlane> {
        Some(DataPlane {
            endpoint_setting: "MPE_DATABRICKS_ENDPOINT",
            default_endpoint: "https://accounts.azuredatabricks.net",
            audience_setting: "MPE_DATABRICKS_AUDIENCE",
            default_audience: "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d",
            api_version_query: false,
            parents: Parents::Setting("MPE_DATABRICKS_NCCS"),
            lists: ListShape::Items,
            permission: "the identity added to the Databricks account as a service principal with the account \
                         admin role (the account API's network connectivity configurations need it)",
        })
    }
    fn data_plane_paths(&self, id: &ResourceId) -> Option<DataPlanePaths> {
        let (account, ncc) = (id.name_at(0)?, id.name_at(1)?);
        let list = format!("/api/2.0/accounts/{account}/network-connectivity-configs/{ncc}/private-endpoint-rules");
        Some(DataPlanePaths { host: None, item: format!("{list}/{}", id.name()), list })
    }
    /// By its `rule_id`; one that says it belongs to another NCC is not `parent`'s.
    fn data_plane_item(&self, parent: &ResourceId, item: &Value) -> Option<ResourceId> {
        let rule = item.get("rule_id").and_then(Value::as_str)?;
        if let Some(ncc) = item.get("network_connectivity_config_id").and_then(Value::as_str) {
            if !ncc.eq_ignore_ascii_case(parent.name()) {
                return None;
            }
        }
        ResourceId::parse(&format!("{parent}/privateEndpointRules/{rule}")).ok()
    }
    /// `<account id>/<NCC id>@/subscriptions/<id>/resourceGroups/<name>`, comma-separated.
    fn data_plane_parents(&self, raw: &str) -> Result<Vec<ResourceId>, String> {
        let mut out = Vec::new();
        for entry in raw.split([',', ';', ' ', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
            let shape = "is not <account id>/<NCC id>@/subscriptions/<id>/resourceGroups/<name>";
            let (ncc, home) = entry.split_once('@').ok_or_else(|| format!("{entry:?} {shape}"))?;
            let (account, ncc) = ncc.split_once('/').ok_or_else(|| format!("{entry:?} {shape}"))?;
            for (what, v) in [("account id", account), ("NCC id", ncc)] {
                uuid::Uuid::parse_str(v).map_err(|_| format!("{entry:?}: the {what} {v:?} is not a GUID"))?;
            }
            let scope = crate::resource_id::ListScope::parse(home).map_err(|e| format!("{entry:?}: {e}"))?;
            if scope.resource_group().is_none() {
                return Err(format!("{entry:?}: name the resource group the NCC is filed under, not only a subscription"));
            }
            let id = format!("{scope}/providers/MpeApprover.Databricks/accounts/{account}/networkConnectivityConfigs/{ncc}");
            out.push(ResourceId::parse(&id).map_err(|e| format!("{entry:?}: {e}"))?);
        }
        Ok(out)
    }
    fn opt_in(&self) -> Option<&'static str> {
        Some("MPE_DATABRICKS")
    }
    /// Its bodies are the account API's, not ARM's: read by the tests of this file and `tests/sim_bodies.rs`.
    fn examples(&self) -> &'static [&'static str] {
        &[]
    }
    /// Not derived from the id: the rule reports it ([`MpeView::endpoint_name`]).
    fn endpoint_name(&self, _id: &ResourceId) -> Option<String> {
        None
    }
    fn ready(&self) -> &'static str {
        "opt-in (`MPE_DATABRICKS=true`, the NCCs `MPE_DATABRICKS_NCCS` names): the rule's `connection_state` \
         `PENDING`, on the Databricks account API (no Azure event: found by `MpeDiscover`, see docs/discovery.md)"
    }
    fn matched(&self) -> &'static str {
        "private endpoint named as the rule's `endpoint_name` (the account API reports it), the rule's group, in no \
         customer subscription"
    }
    fn confidence(&self) -> Confidence {
        Confidence::Documented
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let target = target_at(SERVICE, "resource_id", str_at(body, &["resource_id"]))?;
        let (status, raw_status) = match status_at(body, &["connection_state"]) {
            Ok(state) => (rule_status(state), format!("connection_state={state:?}")),
            Err(odd) => (MpeStatus::Unknown(format!("connection_state {odd}: not a string")), format!("connection_state={odd}")),
        };
        let (status, raw_status) = match body.get("deactivated") {
            Some(Value::Bool(true)) => (MpeStatus::Deleting, format!("{raw_status} deactivated=true")),
            None | Some(Value::Null) | Some(Value::Bool(false)) => (status, raw_status),
            Some(other) => (MpeStatus::Unknown(format!("deactivated {other}: not a boolean")), raw_status),
        };
        let created_at = body
            .get("creation_time")
            .and_then(Value::as_i64)
            .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis);
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(str_at(body, &["group_id"])),
            request_message: None,
            status,
            raw_status,
            created_at,
            endpoint_id: None,
            endpoint_name: nonempty(str_at(body, &["endpoint_name"])),
        })
    }
}

/// `connection_state` in the one vocabulary.
fn rule_status(state: &str) -> MpeStatus {
    match state.to_ascii_uppercase().as_str() {
        "" | "CREATING" => MpeStatus::Provisioning(format!("connection_state {state:?}")),
        "PENDING" | "INIT" => MpeStatus::AwaitingApproval,
        "ESTABLISHED" => MpeStatus::Approved,
        "REJECTED" => MpeStatus::Rejected,
        "DISCONNECTED" => MpeStatus::Disconnected,
        "EXPIRED" | "CREATE_FAILED" => MpeStatus::Failed(format!("connection_state {state}")),
        _ => MpeStatus::Unknown(format!("connection_state {state}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOME: &str = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-dbx";
    const ACCOUNT: &str = "449e7a5c-69d3-4b8a-aaaf-5c9b713ebc65";
    const NCC: &str = "d6df3889-eefc-4ddb-bbb4-613efcb30035";

    fn ncc() -> ResourceId {
        Databricks.data_plane_parents(&format!("{ACCOUNT}/{NCC}@{HOME}")).unwrap().remove(0)
    }

    /// The documented "Get" example's fields (docs.databricks.com, networking/v1 get-ncc-private-endpoint-rule;
    /// the stored copy of the page ends within the example, so its AWS-only fields are left out).
    fn documented(state: &str) -> Value {
        json!({
            "rule_id": "728c1541-d6d1-4290-9a53-cdf01dd32d60",
            "network_connectivity_config_id": NCC,
            "connection_state": state,
            "domain_names": "my-example.exampledomain.com",
            "creation_time": 1691436121706_i64,
            "updated_time": 1691436121777_i64,
            "deactivated": false,
            "deactivated_at": 1691436121706_i64,
            "error_message": "NOT_FOUND: The provided resource <input-resource> could not be found.",
            "resource_id": "/subscriptions/653bb673-1234-abcd-a90b-d064d5d53ca4/resourcegroups/example-resource-group/providers/Microsoft.Storage/storageAccounts/examplesa",
            "group_id": "blob",
            "endpoint_name": "databricks-088781b3-77fa-4132-b429-1af0d91bc593-pe-3cb31234",
            "account_id": ACCOUNT
        })
    }

    #[test]
    fn a_rule_reads_with_its_endpoint_name_and_states() {
        let item = documented("ESTABLISHED");
        let id = Databricks.data_plane_item(&ncc(), &item).unwrap();
        assert_eq!(
            id.as_str(),
            format!("{HOME}/providers/MpeApprover.Databricks/accounts/{ACCOUNT}/networkConnectivityConfigs/{NCC}/privateEndpointRules/728c1541-d6d1-4290-9a53-cdf01dd32d60")
        );
        let v = Databricks.parse(&id, &item).unwrap();
        assert_eq!(v.status, MpeStatus::Approved);
        assert_eq!(v.endpoint_name.as_deref(), Some("databricks-088781b3-77fa-4132-b429-1af0d91bc593-pe-3cb31234"));
        assert_eq!(v.target.name(), "examplesa");
        assert_eq!(v.group_id.as_deref(), Some("blob"));
        assert_eq!(v.created_at.map(|t| t.timestamp_millis()), Some(1691436121706));
        let read = |state: Value| Databricks.parse(&id, &json!({"resource_id": item["resource_id"], "connection_state": state})).unwrap().status;
        assert_eq!(read(json!("PENDING")), MpeStatus::AwaitingApproval);
        assert_eq!(read(json!("INIT")), MpeStatus::AwaitingApproval);
        assert!(matches!(read(json!("CREATING")), MpeStatus::Provisioning(_)));
        assert!(matches!(read(json!("EXPIRED")), MpeStatus::Failed(_)));
        assert!(matches!(read(json!("CREATE_FAILED")), MpeStatus::Failed(_)));
        assert_eq!(read(json!("REJECTED")), MpeStatus::Rejected);
        assert_eq!(read(json!("DISCONNECTED")), MpeStatus::Disconnected);
        assert!(matches!(read(json!("Weird")), MpeStatus::Unknown(_)));
        assert!(matches!(read(json!(1)), MpeStatus::Unknown(_)));
        let mut gone = documented("PENDING");
        gone["deactivated"] = json!(true);
        assert_eq!(Databricks.parse(&id, &gone).unwrap().status, MpeStatus::Deleting);
        for no_target in [json!({"connection_state": "PENDING"}), json!(null), json!([]), json!({"resource_id": 5})] {
            assert!(
                matches!(Databricks.parse(&id, &no_target), Err(ProviderError::Missing { .. })),
                "{no_target}: no target"
            );
        }
        let hostile = json!({"resource_id": "/subscriptions/s/resourceGroups/rg/../x", "connection_state": "PENDING"});
        assert!(matches!(Databricks.parse(&id, &hostile), Err(ProviderError::BadTarget { .. })));
    }

    #[test]
    fn an_item_of_another_ncc_is_not_this_ones() {
        let mut item = documented("PENDING");
        item["network_connectivity_config_id"] = json!("11111111-2222-3333-4444-555555555555");
        assert!(Databricks.data_plane_item(&ncc(), &item).is_none());
        assert!(Databricks.data_plane_item(&ncc(), &json!({"connection_state": "PENDING"})).is_none(), "no rule id");
        let paths = Databricks.data_plane_paths(&Databricks.data_plane_item(&ncc(), &documented("PENDING")).unwrap()).unwrap();
        assert_eq!(
            paths.item,
            format!("/api/2.0/accounts/{ACCOUNT}/network-connectivity-configs/{NCC}/private-endpoint-rules/728c1541-d6d1-4290-9a53-cdf01dd32d60")
        );
        assert_eq!(paths.host, None);
    }

    #[test]
    fn the_ncc_setting_names_account_ncc_and_home_resource_group() {
        assert_eq!(Databricks.data_plane_parents("").unwrap(), Vec::<ResourceId>::new());
        let two = Databricks
            .data_plane_parents(&format!("{ACCOUNT}/{NCC}@{HOME}, {ACCOUNT}/11111111-2222-3333-4444-555555555555@{HOME}"))
            .unwrap();
        assert_eq!(two.len(), 2);
        for bad in [
            format!("{ACCOUNT}/{NCC}"),
            format!("{ACCOUNT}@{HOME}"),
            format!("not-a-guid/{NCC}@{HOME}"),
            format!("{ACCOUNT}/{NCC}@/subscriptions/00000000-0000-0000-0000-0000000000aa"),
            format!("{ACCOUNT}/{NCC}@https://evil.example"),
        ] {
            assert!(Databricks.data_plane_parents(&bad).is_err(), "{bad}");
        }
    }
}
