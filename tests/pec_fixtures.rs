//! PEC parsing, the approval body and `approval_settled` on every target-side ARM example.
//! Each test or table row names the fixture it reads.

mod common;

use common::*;
use mpe_approver::pec::{approval_body, approval_settled, list_items, parse_list, parse_pec, PecError, PecStatus};
use serde_json::{json, Value};

/// (status, endpoint name, provisioningState, group ids, description) of one PEC.
type Want = (PecStatus, Option<&'static str>, Option<&'static str>, &'static [&'static str], Option<&'static str>);

use PecStatus::{Approved, Pending, Rejected};

const AUTO: Option<&str> = Some("Auto-Approved");

fn lists() -> Vec<(&'static str, Vec<Want>)> {
    vec![
        (
            "Microsoft.Storage/2025-06-01/StorageAccountListPrivateEndpointConnections.json",
            vec![
                (Approved, Some("petest01"), Some("Succeeded"), &[], AUTO),
                (Approved, Some("petest02"), Some("Succeeded"), &[], AUTO),
            ],
        ),
        (
            "Microsoft.KeyVault/2025-05-01/listPrivateEndpointConnection.json",
            vec![
                (
                    Approved,
                    Some("sample-pe"),
                    Some("Succeeded"),
                    &[],
                    Some("This was automatically approved by user1234@contoso.com"),
                );
                2
            ],
        ),
        (
            "Microsoft.Web/2025-05-01/GetSitePrivateEndpointConnectionList.json",
            vec![(Approved, Some("myPrivateEndpoint"), Some("Succeeded"), &[], Some("Approved by admin."))],
        ),
        (
            // bare JSON array
            "Microsoft.Devices/2021-07-02/iothub_listprivateendpointconnections.json",
            vec![(Pending, Some("myPrivateEndpoint"), None, &[], Some("Please approve my request!"))],
        ),
        (
            "Microsoft.Sql/2025-01-01/PrivateEndpointConnectionList.json",
            vec![
                (Approved, Some("private-endpoint-name"), Some("Ready"), &[], Some("Auto-approved")),
                (Approved, Some("private-endpoint-name-2"), Some("Ready"), &[], Some("Auto-approved")),
            ],
        ),
        (
            "Microsoft.DocumentDB/2025-10-15/CosmosDBPrivateEndpointConnectionListGet.json",
            vec![
                (Approved, Some("privateEndpointName"), Some("Succeeded"), &["Sql"], Some("Auto-approved")),
                (Approved, Some("privateEndpointName2"), Some("Succeeded"), &["Sql"], Some("Auto-approved")),
            ],
        ),
        (
            "Microsoft.Kusto/2024-04-13/KustoPrivateEndpointConnectionsList.json",
            vec![
                (Approved, Some("privateEndpointName"), Some("Succeeded"), &["cluster"], Some("Auto-approved")),
                (Approved, Some("privateEndpointName2"), Some("Succeeded"), &["cluster"], Some("Auto-approved")),
            ],
        ),
        (
            "Microsoft.ContainerRegistry/2025-04-01/PrivateEndpointConnectionList.json",
            vec![(Approved, Some("peexample01"), Some("Succeeded"), &[], AUTO)],
        ),
        (
            "Microsoft.EventHub/2024-01-01/PrivateEndPointConnectionList.json",
            vec![(Approved, Some("sdk-Namespace-5705-new"), Some("Succeeded"), &[], AUTO)],
        ),
        (
            "Microsoft.ServiceBus/2024-01-01/PrivateEndPointConnectionList.json",
            vec![(Approved, Some("sdk-Namespace-5705-new"), Some("Succeeded"), &[], AUTO)],
        ),
        (
            "Microsoft.CognitiveServices/2025-06-01/ListPrivateEndpointConnections.json",
            vec![(Approved, Some("petest01"), None, &[], AUTO)],
        ),
        (
            "Microsoft.Network/2025-09-01/PrivateLinkServiceListPrivateEndpointConnection.json",
            vec![
                (Approved, Some("testPe1"), None, &[], Some("approved it for some reason.")),
                (Rejected, Some("testPe2"), None, &[], Some("rejected by some reason.")),
            ],
        ),
        (
            "Microsoft.MachineLearningServices/2025-09-01/PrivateEndpointConnection/list.json",
            vec![(Approved, Some("petest01"), Some("Succeeded"), &[], AUTO); 2],
        ),
    ]
}

fn gets() -> Vec<(&'static str, &'static str, Want)> {
    vec![
        (
            "Microsoft.Storage/2025-06-01/StorageAccountGetPrivateEndpointConnection.json",
            "200",
            (Approved, Some("petest01"), Some("Succeeded"), &[], AUTO),
        ),
        (
            "Microsoft.KeyVault/2025-05-01/getPrivateEndpointConnection.json",
            "200",
            (
                Approved,
                Some("sample-pe"),
                Some("Succeeded"),
                &[],
                Some("This was automatically approved by user1234@contoso.com"),
            ),
        ),
        (
            "Microsoft.Web/2025-05-01/GetSitePrivateEndpointConnection.json",
            "200",
            (Approved, Some("myPrivateEndpoint"), Some("Succeeded"), &[], Some("Approved by admin.")),
        ),
        (
            "Microsoft.Devices/2021-07-02/iothub_getprivateendpointconnection.json",
            "200",
            (Pending, Some("myPrivateEndpoint"), None, &[], Some("Please approve my request!")),
        ),
        (
            "Microsoft.Sql/2025-01-01/PrivateEndpointConnectionGet.json",
            "200",
            (Approved, Some("private-endpoint-name"), Some("Ready"), &[], Some("Auto-approved")),
        ),
        (
            "Microsoft.DocumentDB/2025-10-15/CosmosDBPrivateEndpointConnectionGet.json",
            "200",
            (Approved, Some("privateEndpointName"), Some("Succeeded"), &["Sql"], Some("Auto-approved")),
        ),
        (
            "Microsoft.Kusto/2024-04-13/KustoPrivateEndpointConnectionsGet.json",
            "200",
            (Approved, Some("privateEndpointName"), Some("Succeeded"), &["cluster"], Some("Auto-approved")),
        ),
        (
            "Microsoft.ContainerRegistry/2025-04-01/PrivateEndpointConnectionGet.json",
            "200",
            (Approved, Some("peexample01"), Some("Succeeded"), &[], AUTO),
        ),
        (
            "Microsoft.EventHub/2024-01-01/PrivateEndPointConnectionGet.json",
            "200",
            (Approved, Some("sdk-Namespace-5828"), Some("Succeeded"), &[], AUTO),
        ),
        (
            "Microsoft.ServiceBus/2024-01-01/PrivateEndPointConnectionGet.json",
            "200",
            (Approved, Some("sdk-Namespace-5828"), Some("Succeeded"), &[], AUTO),
        ),
        (
            "Microsoft.CognitiveServices/2025-06-01/GetPrivateEndpointConnection.json",
            "200",
            (Approved, Some("petest01"), None, &[], AUTO),
        ),
        (
            "Microsoft.Network/2025-05-01/PrivateLinkServiceGetPrivateEndpointConnection.json",
            "200",
            (Approved, Some("testPe"), None, &[], Some("approved it for some reason.")),
        ),
        (
            "Microsoft.SignalRService/2024-03-01/SignalRPrivateEndpointConnections_Update.json",
            "200",
            (Approved, Some("myPrivateEndpoint"), Some("Succeeded"), &["signalr"], None),
        ),
        (
            "Microsoft.MachineLearningServices/2025-09-01/PrivateEndpointConnection/get.json",
            "200",
            (Approved, Some("petest01"), Some("Succeeded"), &[], AUTO),
        ),
        (
            // the approve PUT's own answers parse as PECs too
            "Microsoft.Sql/2025-01-01/PrivateEndpointConnectionUpdate.json",
            "200",
            (Approved, Some("private-endpoint-name"), Some("Ready"), &[], Some("Approved by johndoe@contoso.com")),
        ),
        (
            "Microsoft.Devices/2023-06-30/iothub_updateprivateendpointconnection.json",
            "201",
            (Approved, Some("myPrivateEndpoint"), None, &[], Some("Approved by johndoe@contoso.com")),
        ),
        (
            "Microsoft.Devices/2023-06-30/iothub_deleteprivateendpointconnection.json",
            "202",
            (PecStatus::Disconnected, Some("myPrivateEndpoint"), None, &[], Some("Deleted")),
        ),
        (
            // Kusto's PUT answer has no privateEndpoint: no endpoint name, so it can never match an MPE
            "Microsoft.Kusto/2024-04-13/KustoPrivateEndpointConnectionsCreateOrUpdate.json",
            "200",
            (Approved, None, None, &[], Some("Approved by johndoe@contoso.com")),
        ),
    ]
}

fn check(rel: &str, v: &Value, pec: &mpe_approver::pec::Pec, want: &Want) {
    let (status, name, ps, groups, desc) = want;
    assert_eq!(pec.id, v["id"].as_str().unwrap(), "{rel}");
    assert_eq!(&pec.status, status, "{rel}");
    assert_eq!(pec.endpoint_name(), *name, "{rel}");
    assert_eq!(
        pec.endpoint_id.as_deref(),
        v.pointer("/properties/privateEndpoint/id").and_then(Value::as_str),
        "{rel}"
    );
    if let (Some(n), Some(eid)) = (name, &pec.endpoint_id) {
        assert_eq!(eid.rsplit('/').next(), Some(*n), "{rel}: endpoint name is the last segment");
    }
    assert_eq!(pec.provisioning_state.as_deref(), *ps, "{rel}");
    assert_eq!(pec.group_ids, groups.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{rel}");
    assert_eq!(pec.description.as_deref(), *desc, "{rel}");
}

#[test]
fn every_list_fixture_parses() {
    // fixtures: see lists()
    for (rel, want) in lists() {
        let b = body(rel, "200");
        let (ok, bad) = parse_list(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(bad.is_empty(), "{rel}: {bad:?}");
        assert_eq!(ok.len(), want.len(), "{rel}");
        let raw = items(&b);
        for ((pec, w), v) in ok.iter().zip(&want).zip(&raw) {
            check(rel, v, pec, w);
        }
        let (its, next) = list_items(&b).unwrap();
        assert_eq!(its.len(), want.len());
        assert_eq!(next, None, "{rel}: nextLink null or absent");
    }
}

#[test]
fn iot_hub_list_is_a_bare_array() {
    // fixture: iothub_listprivateendpointconnections.json (200)
    let b = body("Microsoft.Devices/2021-07-02/iothub_listprivateendpointconnections.json", "200");
    assert!(b.is_array());
    assert_eq!(parse_list(&b).unwrap().0.len(), 1);
}

#[test]
fn every_get_fixture_parses() {
    // fixtures: see gets()
    for (rel, code, want) in gets() {
        let b = body(rel, code);
        let pec = parse_pec(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        check(rel, &b, &pec, &want);
    }
}

#[test]
fn parent_resource_shape_and_next_link() {
    // fixture: GetSitePrivateEndpointConnectionList.json items, wrapped as a parent resource (Web, Key Vault,
    // Cosmos DB list through the parent's GET) and as a page with a nextLink
    let its = items(&body("Microsoft.Web/2025-05-01/GetSitePrivateEndpointConnectionList.json", "200"));
    let parent = json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/testSite",
                        "properties": {"privateEndpointConnections": its}});
    let (ok, bad) = parse_list(&parent).unwrap();
    assert_eq!((ok.len(), bad.len()), (1, 0));
    assert_eq!(ok[0].endpoint_name(), Some("myPrivateEndpoint"));
    let page = json!({"value": its, "nextLink": "https://management.azure.com/next?page=2"});
    assert_eq!(list_items(&page).unwrap().1, Some("https://management.azure.com/next?page=2"));
    let empty_link = json!({"value": [], "nextLink": ""});
    assert_eq!(list_items(&empty_link).unwrap(), (&[][..], None));
    for bad in [json!({}), json!("x"), json!(3), json!(null), json!({"value": 1}), json!({"properties": {}})] {
        assert!(matches!(parse_list(&bad), Err(PecError::UnknownListShape)), "{bad}");
    }
}

#[test]
fn odd_entries_are_reported_beside_good_ones() {
    // fixture: PrivateLinkServiceListPrivateEndpointConnection.json (200) plus broken entries
    let b = body("Microsoft.Network/2025-09-01/PrivateLinkServiceListPrivateEndpointConnection.json", "200");
    let mut its = items(&b);
    its.push(json!({"properties": {"privateLinkServiceConnectionState": {"status": "Pending"}}}));
    its.push(json!({"id": "/x/pec3", "properties": {"privateLinkServiceConnectionState": {"status": 7}}}));
    its.push(json!({"id": "/x/pec4"}));
    its.push(json!({"id": 5}));
    let (ok, bad) = parse_list(&json!({ "value": its })).unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(bad.len(), 4);
    assert!(matches!(bad[0], PecError::NoId));
    assert!(matches!(&bad[1], PecError::NoStatus(id) if id == "/x/pec3"));
    assert!(matches!(&bad[2], PecError::NoStatus(id) if id == "/x/pec4"));
    assert!(matches!(bad[3], PecError::NoId));
    // Key Vault's DELETE answer carries no connection state: not a PEC we can act on.
    // fixture: deletePrivateEndpointConnection.json (200)
    let kv = body("Microsoft.KeyVault/2025-05-01/deletePrivateEndpointConnection.json", "200");
    assert!(matches!(parse_pec(&kv), Err(PecError::NoStatus(_))));
}

#[test]
fn status_vocabulary_is_case_insensitive_and_unknown_is_other() {
    assert_eq!(PecStatus::parse("pending"), Pending);
    assert_eq!(PecStatus::parse("APPROVED"), Approved);
    assert_eq!(PecStatus::parse("Rejected"), Rejected);
    assert_eq!(PecStatus::parse("disconnected"), PecStatus::Disconnected);
    for odd in ["", "Pending ", "PendingCustomerApproval", "Timeout", "Weird"] {
        assert_eq!(PecStatus::parse(odd), PecStatus::Other(odd.to_string()));
    }
}

/// What `approval_body` must produce: the GET body with only the three state fields changed.
fn expected_approval(get: &Value, description: &str) -> Value {
    let state_ptr = "/properties/privateLinkServiceConnectionState";
    let state = get.pointer(state_ptr).and_then(Value::as_object).cloned().unwrap_or_default();
    let action_key = if state.contains_key("actionRequired") { "actionRequired" } else { "actionsRequired" };
    let mut want = with(get, &format!("{state_ptr}/status"), json!("Approved"));
    want = with(&want, &format!("{state_ptr}/description"), json!(description));
    with(&want, &format!("{state_ptr}/{action_key}"), json!("None"))
}

#[test]
fn approval_body_keeps_everything_else() {
    // fixtures: every GET body in gets() (the PUT is the whole GET body back)
    for (rel, code, _) in gets() {
        let get = body(rel, code);
        let pending = with(&get, "/properties/privateLinkServiceConnectionState/status", json!("Pending"));
        let put = approval_body(&pending, "Approved by mpe-approver");
        assert_eq!(put, expected_approval(&pending, "Approved by mpe-approver"), "{rel}");
        assert_eq!(put["id"], get["id"], "{rel}");
        assert_eq!(put.get("etag"), get.get("etag"), "{rel}");
        let pec = parse_pec(&put).unwrap();
        assert_eq!(pec.status, Approved, "{rel}");
        assert_eq!(pec.endpoint_id, parse_pec(&get).unwrap().endpoint_id, "{rel}");
        // the input is untouched
        assert_eq!(pending["properties"]["privateLinkServiceConnectionState"]["status"], "Pending");
    }
}

#[test]
fn approval_body_keeps_storage_action_required_spelling() {
    // fixture: StorageAccountGetPrivateEndpointConnection.json (200) — `actionRequired`, singular
    let get = body("Microsoft.Storage/2025-06-01/StorageAccountGetPrivateEndpointConnection.json", "200");
    let put = approval_body(&get, "ok");
    let st = put.pointer("/properties/privateLinkServiceConnectionState").unwrap().as_object().unwrap();
    let mut keys: Vec<&str> = st.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["actionRequired", "description", "status"]);
    assert_eq!(st["actionRequired"], "None");
    // fixture: PrivateEndPointConnectionGet.json (EventHub, 200) — no actions field at all: the plural is added
    let get = body("Microsoft.EventHub/2024-01-01/PrivateEndPointConnectionGet.json", "200");
    let st = approval_body(&get, "ok")["properties"]["privateLinkServiceConnectionState"].clone();
    assert_eq!(st, json!({"status": "Approved", "description": "ok", "actionsRequired": "None"}));
}

#[test]
fn approval_settled_sql_ready_and_approving() {
    // fixture: Microsoft.Sql PrivateEndpointConnectionGet.json (200): Approved + Ready
    let sql = body("Microsoft.Sql/2025-01-01/PrivateEndpointConnectionGet.json", "200");
    assert!(approval_settled(&parse_pec(&sql).unwrap()));
    let cases = [
        ("Approved", Some("Approving"), false),
        ("Approved", Some("Ready"), true),
        ("Approved", Some("ready"), true),
        ("Approved", Some("Succeeded"), true),
        ("Approved", Some("Updating"), false),
        ("Approved", Some("Failed"), false),
        ("Approved", Some("Dropping"), false),
        ("Approved", None, true),
        ("Pending", Some("Ready"), false),
        ("Pending", None, false),
        ("Rejected", Some("Ready"), false),
        ("Weird", Some("Succeeded"), false),
    ];
    for (status, ps, want) in cases {
        let mut b = with(&sql, "/properties/privateLinkServiceConnectionState/status", json!(status));
        b = match ps {
            Some(ps) => with(&b, "/properties/provisioningState", json!(ps)),
            None => without(&b, "/properties/provisioningState"),
        };
        assert_eq!(approval_settled(&parse_pec(&b).unwrap()), want, "status {status} provisioningState {ps:?}");
    }
    // fixture: iothub_updateprivateendpointconnection.json (200): Approved, no provisioningState → settled
    let iot = body("Microsoft.Devices/2023-06-30/iothub_updateprivateendpointconnection.json", "200");
    assert!(approval_settled(&parse_pec(&iot).unwrap()));
}
