//! A customer's own private endpoint with a manual connection (`Microsoft.Network/privateEndpoints`,
//! `properties.manualPrivateLinkServiceConnections`): the hub-and-spoke case, a private endpoint in one
//! subscription (say an AKS cluster's VNet) reaching a resource in another (an ML workspace, its storage,
//! key vault and registry), whose owner would otherwise approve each connection by hand.
//!
//! `PrivateEndpointGetForManualApproval.json` (2025-07-01) and `PrivateEndpointCreateForManualApproval.json`
//! (2025-05-01): the endpoint's `provisioningState`, and per manual connection
//! `properties.{privateLinkServiceId, groupIds[], requestMessage, privateLinkServiceConnectionState.{status,
//! description, actionsRequired}}`; a connection approved on creation (the creator may approve at the
//! target) sits in `privateLinkServiceConnections` instead. Awaiting approval = the endpoint `Succeeded`
//! and its manual connection `Pending`.
//!
//! The tie is exact, not a naming rule: the PEC at the target whose `privateEndpoint.id` is this endpoint's
//! id (case-insensitive), as the recorded azure-cli session `network/.../test_network_private_endpoints.yaml`
//! and the examples show ([`MpeView::endpoint_id`]). The endpoint lives in a customer subscription by
//! design, so the approval policy decides the pair: by default only within one subscription, never across.
//!
//! Its write event arrives in the endpoint owner's subscription (not the target's), for every private
//! endpoint written there: one whose connection is automatic reads as its state says (approved on
//! creation), one without any as [`MpeStatus::NoPrivateLink`], and its check ends at once.

use super::*;

pub struct PrivateEndpoint;

const SERVICE: &str = "Private endpoint (manual)";

impl Provider for PrivateEndpoint {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.Network/privateEndpoints"
    }
    /// A version every cloud serves; the examples' (2025-05-01, 2025-07-01) have the same shape.
    fn api_version(&self) -> &'static str {
        "2024-05-01"
    }
    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.Network/2025-07-01/PrivateEndpointGetForManualApproval.json",
            "Microsoft.Network/2025-05-01/PrivateEndpointCreateForManualApproval.json",
        ]
    }
    fn ready(&self) -> &'static str {
        "opt-in (`MPE_CUSTOMER_ENDPOINTS=true`): the endpoint's `provisioningState` `Succeeded` and its manual \
         connection's `privateLinkServiceConnectionState.status` `Pending` (an endpoint without a manual connection \
         ends its check at once)"
    }
    fn matched(&self) -> &'static str {
        "`privateEndpoint.id` exactly this private endpoint's id; the approval policy decides the subscription \
         pair (never across subscriptions by default)"
    }
    fn confidence(&self) -> Confidence {
        Confidence::Recorded
    }
    /// A manual connection is its target owner's gate against private endpoints anyone may create: a
    /// deployment approves them only once it says so.
    fn opt_in(&self) -> Option<&'static str> {
        Some("MPE_CUSTOMER_ENDPOINTS")
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let props = body
            .get("properties")
            .filter(|p| p.is_object())
            .ok_or(ProviderError::Missing { service: SERVICE, field: "properties" })?;
        let list = |key: &str| match props.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(ProviderError::Missing { service: SERVICE, field: "a connection list" }),
        };
        // A private endpoint has one connection: manual (waits for approval at the target) or automatic
        // (approved on creation, its creator holding the approving right).
        let manual = list("manualPrivateLinkServiceConnections")?;
        let auto = list("privateLinkServiceConnections")?;
        let connections: Vec<&Value> = manual.iter().chain(&auto).collect();
        let view = |target: ResourceId, conn: Option<&Value>, status: MpeStatus, raw_status: String| MpeView {
            id: id.clone(),
            target,
            group_id: nonempty(conn.and_then(|c| c.pointer("/properties/groupIds/0")).and_then(Value::as_str)),
            request_message: conn.and_then(|c| nonempty(str_at(c, &["properties", "requestMessage"]))),
            status,
            raw_status,
            created_at: system_created_at(body),
            endpoint_id: Some(id.to_string()),
            endpoint_name: None,
        };
        let conn = match connections.as_slice() {
            [] => return Ok(view(id.clone(), None, MpeStatus::NoPrivateLink, "no connection".into())),
            [one] => *one,
            more => {
                let n = more.len();
                return Ok(view(
                    id.clone(),
                    None,
                    MpeStatus::Unknown(format!("{n} connections (a private endpoint has one)")),
                    format!("{n} connections"),
                ));
            }
        };
        let target = target_at(SERVICE, "privateLinkServiceId", str_at(conn, &["properties", "privateLinkServiceId"]))?;
        let (status, raw_status) = match (
            status_at(props, &["provisioningState"]),
            status_at(conn, &["properties", "privateLinkServiceConnectionState", "status"]),
        ) {
            (Ok(ps), Ok(st)) => {
                let status = if let Some(s) = provisioning_status(ps) {
                    s
                } else if ps.eq_ignore_ascii_case("succeeded") {
                    if st.is_empty() {
                        MpeStatus::Provisioning("no connection state yet".into())
                    } else {
                        connection_status(st)
                    }
                } else {
                    MpeStatus::Unknown(format!("provisioningState {ps:?}"))
                };
                (status, format!("provisioningState={ps:?} privateLinkServiceConnectionState.status={st:?}"))
            }
            (ps, st) => {
                let (ps, st) = (shown(ps), shown(st));
                (
                    MpeStatus::Unknown(format!("provisioningState {ps} connection status {st}: not strings")),
                    format!("provisioningState={ps} privateLinkServiceConnectionState.status={st}"),
                )
            }
        };
        Ok(view(target, Some(conn), status, raw_status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> ResourceId {
        ResourceId::parse("/subscriptions/spoke/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe1").unwrap()
    }

    fn connection(target: &str, status: &str) -> Value {
        json!({"properties": {"privateLinkServiceId": target, "groupIds": ["blob"], "requestMessage": "ticket 42",
            "privateLinkServiceConnectionState": {"status": status, "description": "", "actionsRequired": "None"}}})
    }

    const ST: &str = "/subscriptions/hub/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";

    #[test]
    fn the_one_connection_decides_and_the_tie_is_the_endpoints_own_id() {
        let read = |props: Value| PrivateEndpoint.parse(&id(), &json!({ "properties": props }));
        let manual = read(json!({"provisioningState": "Succeeded", "manualPrivateLinkServiceConnections": [connection(ST, "Pending")]})).unwrap();
        assert_eq!(manual.status, MpeStatus::AwaitingApproval);
        assert_eq!((manual.target.as_str(), manual.group_id.as_deref()), (ST, Some("blob")));
        assert_eq!(manual.request_message.as_deref(), Some("ticket 42"));
        assert_eq!(manual.endpoint_id.as_deref(), Some(id().as_str()));
        let updating = read(json!({"provisioningState": "Updating", "manualPrivateLinkServiceConnections": [connection(ST, "Pending")]})).unwrap();
        assert!(matches!(updating.status, MpeStatus::Provisioning(_)), "{:?}", updating.status);
        let auto = read(json!({"provisioningState": "Succeeded", "privateLinkServiceConnections": [connection(ST, "Approved")]})).unwrap();
        assert_eq!(auto.status, MpeStatus::Approved);
        let none = read(json!({"provisioningState": "Succeeded", "privateLinkServiceConnections": [], "manualPrivateLinkServiceConnections": null})).unwrap();
        assert_eq!(none.status, MpeStatus::NoPrivateLink);
        let two = read(json!({"provisioningState": "Succeeded", "manualPrivateLinkServiceConnections": [connection(ST, "Pending"), connection(ST, "Pending")]})).unwrap();
        assert!(matches!(two.status, MpeStatus::Unknown(_)), "never pending: {:?}", two.status);
        assert!(read(json!({"manualPrivateLinkServiceConnections": "x"})).is_err());
        assert!(read(json!({"provisioningState": "Succeeded", "manualPrivateLinkServiceConnections": [connection("/subscriptions/../x", "Pending")]})).is_err());
        assert!(PrivateEndpoint.parse(&id(), &json!({"properties": 7})).is_err());
    }
}
