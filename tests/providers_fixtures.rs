//! Every provider adapter on the official ARM examples, then on the live vocabulary (seed article) built
//! by editing those bodies, then on garbage. Each test names the fixture it reads.

mod common;

use common::*;
use mpe_approver::providers::{for_id, for_operation, registry, MpeStatus, MpeView, Provider, ProviderError};
use mpe_approver::resource_id::ResourceId;
use serde_json::{json, Value};

const ASA_GET: &str = "Microsoft.StreamAnalytics/2020-03-01/PrivateEndpoint_Get.json";
const ASA_CREATE: &str = "Microsoft.StreamAnalytics/2020-03-01/PrivateEndpoint_Create.json";
const ASA_LIST: &str = "Microsoft.StreamAnalytics/2020-03-01-preview/PrivateEndpoint_ListByCluster.json";
const KUSTO_GET: &str = "Microsoft.Kusto/2024-04-13/KustoManagedPrivateEndpointsGet.json";
const KUSTO_LIST: &str = "Microsoft.Kusto/2024-04-13/KustoManagedPrivateEndpointsList.json";
const KUSTO_PUT: &str = "Microsoft.Kusto/2024-04-13/KustoManagedPrivateEndpointsCreateOrUpdate.json";
const ADF_GET: &str = "Microsoft.DataFactory/2018-06-01/ManagedPrivateEndpoints_Get.json";
const ADF_CREATE: &str = "Microsoft.DataFactory/2018-06-01/ManagedPrivateEndpoints_Create.json";
const ADF_LIST: &str = "Microsoft.DataFactory/2018-06-01/ManagedPrivateEndpoints_ListByFactory.json";
const SIGNALR_GET: &str = "Microsoft.SignalRService/2024-03-01/SignalRSharedPrivateLinkResources_Get.json";
const SIGNALR_PUT: &str = "Microsoft.SignalRService/2024-03-01/SignalRSharedPrivateLinkResources_CreateOrUpdate.json";
const SIGNALR_LIST: &str = "Microsoft.SignalRService/2024-03-01/SignalRSharedPrivateLinkResources_List.json";
const WPS_GET: &str = "Microsoft.SignalRService/2024-03-01/WebPubSubSharedPrivateLinkResources_Get.json";
const WPS_PUT: &str = "Microsoft.SignalRService/2024-03-01/WebPubSubSharedPrivateLinkResources_CreateOrUpdate.json";
const WPS_LIST: &str = "Microsoft.SignalRService/2024-03-01/WebPubSubSharedPrivateLinkResources_List.json";

const ASA_TARGET: &str =
    "/subscriptions/subId/resourceGroups/rg1/providers/Microsoft.Network/privateLinkServices/testPls";
const KUSTO_TARGET: &str = "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups/kustorptest/providers/Microsoft.Storage/storageAccounts/storageAccountTest";
const ADF_TARGET: &str = "/subscriptions/12345678-1234-1234-1234-12345678abc/resourceGroups/exampleResourceGroup/providers/Microsoft.Storage/storageAccounts/exampleBlobStorage";
const SPLR_TARGET: &str =
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/myResourceGroup/providers/Microsoft.Web/sites/myWebApp";

fn provider(id: &ResourceId) -> &'static dyn Provider {
    for_id(id).unwrap_or_else(|| panic!("no provider for {id}"))
}

fn parse(id: &ResourceId, body: &Value) -> MpeView {
    provider(id).parse(id, body).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn status(id: &ResourceId, body: &Value) -> MpeStatus {
    parse(id, body).status
}

fn assert_view(v: &MpeView, target: &str, group: Option<&str>, msg: Option<&str>, status: MpeStatus) {
    assert_eq!(v.target.as_str(), target);
    assert_eq!(v.group_id.as_deref(), group);
    assert_eq!(v.request_message.as_deref(), msg);
    assert_eq!(v.status, status, "raw status: {}", v.raw_status);
}

// ---------------------------------------------------------------- Stream Analytics

#[test]
fn stream_analytics_get() {
    // fixture: PrivateEndpoint_Get.json (200)
    let id = asa_id(ASA_GET);
    assert_eq!(provider(&id).service(), "Stream Analytics");
    let v = parse(&id, &body(ASA_GET, "200"));
    assert_eq!(v.id, id);
    assert_view(
        &v,
        ASA_TARGET,
        Some("groupIdFromResource"),
        Some("This connection request originated from Azure Stream Analytics cluster named \"testcluster\". Please approve this request to allow any Stream Analytics job running on that cluster to access this resource."),
        MpeStatus::AwaitingApproval,
    );
    assert_eq!(v.raw_status, "privateLinkServiceConnectionState.status=\"Pending\"");
    assert_eq!(provider(&id).endpoint_name(&id), "testpe");
}

#[test]
fn stream_analytics_create_200_and_201() {
    // fixture: PrivateEndpoint_Create.json (200, 201)
    let id = asa_id(ASA_CREATE);
    for code in ["200", "201"] {
        let v = parse(&id, &body(ASA_CREATE, code));
        assert_view(
            &v,
            ASA_TARGET,
            Some("groupIdFromResource"),
            Some("Please approve my connection."),
            MpeStatus::AwaitingApproval,
        );
    }
}

#[test]
fn stream_analytics_list_items() {
    // fixture: PrivateEndpoint_ListByCluster.json (200, value[]); ids taken from each item
    let list = items(&body(ASA_LIST, "200"));
    assert_eq!(list.len(), 2);
    let mut names = Vec::new();
    for it in &list {
        let id = rid(it["id"].as_str().unwrap());
        let v = parse(&id, it);
        assert_view(
            &v,
            ASA_TARGET,
            Some("groupIdFromResource"),
            Some("Please approve my connection."),
            MpeStatus::AwaitingApproval,
        );
        names.push(provider(&id).endpoint_name(&id));
    }
    assert_eq!(names, ["AnExamplePrivateEndpoint", "ADifferentPrivateEndpoint"]);
}

#[test]
fn stream_analytics_live_vocabulary() {
    // fixture: PrivateEndpoint_Get.json (200), status edited to the values the seed article saw live
    let id = asa_id(ASA_GET);
    let b = body(ASA_GET, "200");
    let ptr = "/properties/manualPrivateLinkServiceConnections/0/properties/privateLinkServiceConnectionState/status";
    let cases: Vec<(Value, MpeStatus)> = vec![
        (json!("PendingCreation"), MpeStatus::Provisioning("PendingCreation".into())),
        (json!("pendingcreation"), MpeStatus::Provisioning("pendingcreation".into())),
        (json!("PendingCustomerApproval"), MpeStatus::AwaitingApproval),
        (json!("SetUpComplete"), MpeStatus::Approved),
        (json!("Approved"), MpeStatus::Approved),
        (json!("Rejected"), MpeStatus::Rejected),
        (json!("Disconnected"), MpeStatus::Disconnected),
        (json!("Failed"), MpeStatus::Failed("Failed".into())),
        (json!("Weird"), MpeStatus::Unknown("status Weird".into())),
        (json!("Pending "), MpeStatus::Unknown("status Pending ".into())),
        (json!(""), MpeStatus::Provisioning("no connection status yet".into())),
    ];
    for (value, want) in cases {
        assert_eq!(status(&id, &with(&b, ptr, value.clone())), want, "status {value}");
    }
}

// ---------------------------------------------------------------- Data Explorer (Kusto)

#[test]
fn kusto_get_put_have_no_status_and_are_unknown() {
    // fixtures: KustoManagedPrivateEndpointsGet.json (200), KustoManagedPrivateEndpointsCreateOrUpdate.json (200/201/202)
    for (rel, codes) in [(KUSTO_GET, &["200"][..]), (KUSTO_PUT, &["200", "201", "202"][..])] {
        let id = kusto_id(rel);
        assert_eq!(provider(&id).service(), "Data Explorer");
        for code in codes {
            let v = parse(&id, &body(rel, code));
            assert_view(
                &v,
                KUSTO_TARGET,
                Some("blob"),
                Some("Please Approve."),
                MpeStatus::Unknown("no provisioningState".into()),
            );
            assert_ne!(v.status, MpeStatus::AwaitingApproval);
        }
        assert_eq!(provider(&id).endpoint_name(&id), "managedPrivateEndpointTest");
    }
}

#[test]
fn kusto_list_items_with_odd_casing_ids() {
    // fixture: KustoManagedPrivateEndpointsList.json (200); item ids say Clusters/.../ManagedPrivateEndpoints
    let list = items(&body(KUSTO_LIST, "200"));
    let want = [
        (
            "kustoManagedPrivateEndpoint1",
            KUSTO_TARGET,
            "blob",
        ),
        (
            "kustoManagedPrivateEndpoint2",
            "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups/kustorptest/providers/Microsoft.EventHubs/storageAccounts/eventHubTest",
            "namespace",
        ),
    ];
    assert_eq!(list.len(), want.len());
    for (it, (name, target, group)) in list.iter().zip(want) {
        let id = rid(it["id"].as_str().unwrap());
        assert_eq!(id.resource_type(), "Microsoft.Kusto/Clusters/ManagedPrivateEndpoints");
        let v = parse(&id, it);
        assert_view(
            &v,
            target,
            Some(group),
            Some("Please Approve."),
            MpeStatus::Unknown("no provisioningState".into()),
        );
        assert_eq!(provider(&id).endpoint_name(&id), name);
    }
}

#[test]
fn kusto_live_vocabulary() {
    // fixture: KustoManagedPrivateEndpointsGet.json (200) with provisioningState added
    let id = kusto_id(KUSTO_GET);
    let b = body(KUSTO_GET, "200");
    let ptr = "/properties/provisioningState";
    let cases = [
        ("Provisioning", MpeStatus::Provisioning("Provisioning".into())),
        ("Creating", MpeStatus::Provisioning("Creating".into())),
        ("Running", MpeStatus::Provisioning("Running".into())),
        ("Succeeded", MpeStatus::ProvisionedCheckTarget),
        ("succeeded", MpeStatus::ProvisionedCheckTarget),
        ("Failed", MpeStatus::Failed("provisioningState Failed".into())),
        ("Canceled", MpeStatus::Failed("provisioningState Canceled".into())),
        ("Deleting", MpeStatus::Deleting),
        ("Weird", MpeStatus::Unknown("provisioningState Weird".into())),
        ("", MpeStatus::Unknown("provisioningState ".into())),
    ];
    for (ps, want) in cases {
        let v = parse(&id, &with(&b, ptr, json!(ps)));
        assert_eq!(v.status, want, "provisioningState {ps:?}");
        assert_eq!(v.raw_status, format!("provisioningState={ps:?}"));
    }
}

// ---------------------------------------------------------------- Data Factory

#[test]
fn data_factory_get_create_list() {
    // fixtures: ManagedPrivateEndpoints_Get.json (200), ManagedPrivateEndpoints_Create.json (200),
    // ManagedPrivateEndpoints_ListByFactory.json (200, a bare array)
    for rel in [ADF_GET, ADF_CREATE] {
        let id = adf_id(rel);
        assert_eq!(provider(&id).service(), "Data Factory");
        let v = parse(&id, &body(rel, "200"));
        assert_view(&v, ADF_TARGET, Some("blob"), None, MpeStatus::AwaitingApproval);
        assert_eq!(v.raw_status, "provisioningState=\"Succeeded\" connectionState.status=\"Pending\"");
    }
    let list = body(ADF_LIST, "200");
    assert!(list.is_array(), "the example's list is a bare array");
    let list = items(&list);
    assert_eq!(list.len(), 1);
    let id = rid(list[0]["id"].as_str().unwrap());
    assert_view(&parse(&id, &list[0]), ADF_TARGET, Some("blob"), None, MpeStatus::AwaitingApproval);
}

#[test]
fn data_factory_endpoint_name_is_factory_dot_mpe() {
    // fixture: ManagedPrivateEndpoints_Get.json (parameters)
    let id = adf_id(ADF_GET);
    assert_eq!(provider(&id).endpoint_name(&id), "exampleFactoryName.exampleManagedPrivateEndpointName");
}

#[test]
fn data_factory_live_vocabulary() {
    // fixture: ManagedPrivateEndpoints_Get.json (200) with provisioningState / connectionState.status edited
    let id = adf_id(ADF_GET);
    let b = body(ADF_GET, "200");
    let cases = [
        ("Provisioning", "Pending", MpeStatus::Provisioning("Provisioning".into())),
        ("Provisioning", "", MpeStatus::Provisioning("Provisioning".into())),
        ("Succeeded", "Pending", MpeStatus::AwaitingApproval),
        ("Succeeded", "Approved", MpeStatus::Approved),
        ("Succeeded", "Rejected", MpeStatus::Rejected),
        ("Succeeded", "Disconnected", MpeStatus::Disconnected),
        ("Succeeded", "", MpeStatus::Provisioning("no connectionState yet".into())),
        ("Succeeded", "Weird", MpeStatus::Unknown("status Weird".into())),
        ("Failed", "Pending", MpeStatus::Failed("provisioningState Failed".into())),
        ("Weird", "Pending", MpeStatus::Unknown("provisioningState \"Weird\"".into())),
        ("", "Pending", MpeStatus::Unknown("provisioningState \"\"".into())),
    ];
    for (ps, cs, want) in cases {
        let edited = with(
            &with(&b, "/properties/provisioningState", json!(ps)),
            "/properties/connectionState/status",
            json!(cs),
        );
        assert_eq!(status(&id, &edited), want, "provisioningState {ps:?} status {cs:?}");
    }
}

// ---------------------------------------------------------------- SignalR / Web PubSub

#[test]
fn signalr_and_web_pubsub_get_put() {
    // fixtures: SignalRSharedPrivateLinkResources_Get.json (200), _CreateOrUpdate.json (200/201),
    // WebPubSubSharedPrivateLinkResources_Get.json (200), _CreateOrUpdate.json (200/201).
    // The body ids say privateEndpointConnections; the MPE id comes from the parameters.
    for (rel, kind, service, codes) in [
        (SIGNALR_GET, "signalR", "SignalR", &["200"][..]),
        (SIGNALR_PUT, "signalR", "SignalR", &["200", "201"][..]),
        (WPS_GET, "webPubSub", "Web PubSub", &["200"][..]),
        (WPS_PUT, "webPubSub", "Web PubSub", &["200", "201"][..]),
    ] {
        let id = splr_id(rel, kind, &param(rel, "sharedPrivateLinkResourceName"));
        assert_eq!(provider(&id).service(), service);
        assert_eq!(provider(&id).endpoint_name(&id), "upstream");
        for code in codes {
            let b = body(rel, code);
            let body_id = rid(b["id"].as_str().unwrap());
            assert!(for_id(&body_id).is_none(), "{rel}: the body's privateEndpointConnections id is no MPE type");
            let v = parse(&id, &b);
            assert_eq!(v.id, id);
            assert_view(&v, SPLR_TARGET, Some("sites"), Some("Please approve"), MpeStatus::Approved);
        }
    }
}

#[test]
fn signalr_and_web_pubsub_lists() {
    // fixtures: SignalRSharedPrivateLinkResources_List.json, WebPubSubSharedPrivateLinkResources_List.json (200)
    for (rel, kind) in [(SIGNALR_LIST, "signalR"), (WPS_LIST, "webPubSub")] {
        let list = items(&body(rel, "200"));
        assert_eq!(list.len(), 1);
        let id = splr_id(rel, kind, list[0]["name"].as_str().unwrap());
        assert_view(&parse(&id, &list[0]), SPLR_TARGET, Some("sites"), Some("Please approve"), MpeStatus::Approved);
    }
}

#[test]
fn signalr_live_vocabulary() {
    // fixtures: SignalRSharedPrivateLinkResources_Get.json, WebPubSubSharedPrivateLinkResources_Get.json (200), edited
    for (rel, kind) in [(SIGNALR_GET, "signalR"), (WPS_GET, "webPubSub")] {
        let id = splr_id(rel, kind, "upstream");
        let b = body(rel, "200");
        let cases = [
            ("Succeeded", "Pending", MpeStatus::AwaitingApproval),
            ("Succeeded", "Approved", MpeStatus::Approved),
            ("Succeeded", "Rejected", MpeStatus::Rejected),
            ("Succeeded", "Disconnected", MpeStatus::Disconnected),
            ("Succeeded", "Timeout", MpeStatus::Failed("connection status Timeout".into())),
            ("Creating", "Pending", MpeStatus::Provisioning("Creating".into())),
            ("Updating", "Pending", MpeStatus::Provisioning("Updating".into())),
            ("Unknown", "Pending", MpeStatus::Provisioning("Unknown".into())),
            ("Failed", "Pending", MpeStatus::Failed("provisioningState Failed".into())),
            ("Deleting", "Pending", MpeStatus::Deleting),
            ("Succeeded", "Weird", MpeStatus::Unknown("status Weird".into())),
            ("Weird", "Pending", MpeStatus::Unknown("provisioningState \"Weird\"".into())),
        ];
        for (ps, st, want) in cases {
            let edited = with(&with(&b, "/properties/provisioningState", json!(ps)), "/properties/status", json!(st));
            assert_eq!(status(&id, &edited), want, "{rel}: provisioningState {ps:?} status {st:?}");
        }
    }
}

// ---------------------------------------------------------------- garbage in

/// Every fixture body with the JSON pointer that holds its status, and the id to parse it under.
fn status_cases() -> Vec<(ResourceId, Value, Vec<&'static str>)> {
    vec![
        (
            asa_id(ASA_GET),
            body(ASA_GET, "200"),
            vec![
                "/properties/manualPrivateLinkServiceConnections/0/properties/privateLinkServiceConnectionState/status",
            ],
        ),
        (
            kusto_id(KUSTO_GET),
            with(&body(KUSTO_GET, "200"), "/properties/provisioningState", json!("Succeeded")),
            vec!["/properties/provisioningState"],
        ),
        (
            adf_id(ADF_GET),
            body(ADF_GET, "200"),
            vec!["/properties/provisioningState", "/properties/connectionState/status"],
        ),
        (
            splr_id(SIGNALR_GET, "signalR", "upstream"),
            with(&body(SIGNALR_GET, "200"), "/properties/status", json!("Pending")),
            vec!["/properties/provisioningState", "/properties/status"],
        ),
        (
            splr_id(WPS_GET, "webPubSub", "upstream"),
            with(&body(WPS_GET, "200"), "/properties/status", json!("Pending")),
            vec!["/properties/provisioningState", "/properties/status"],
        ),
    ]
}

fn target_ptr(id: &ResourceId) -> &'static str {
    if id.is_type("Microsoft.StreamAnalytics/clusters/privateEndpoints") {
        "/properties/manualPrivateLinkServiceConnections/0/properties/privateLinkServiceId"
    } else {
        "/properties/privateLinkResourceId"
    }
}

#[test]
fn garbage_status_values_are_unknown_never_pending() {
    // fixtures: the Get example of every adapter, each status field replaced by a non-string or odd string.
    // A number, bool or object status reads as unknown, never as "no status yet" (Provisioning).
    for (id, b, ptrs) in status_cases() {
        for ptr in ptrs {
            for garbage in
                [json!("Weird"), json!(1), json!(0), json!(true), json!({"status": "Pending"}), json!(["Pending"])]
            {
                let edited = with(&b, ptr, garbage.clone());
                match provider(&id).parse(&id, &edited) {
                    Ok(v) => {
                        assert!(
                            matches!(v.status, MpeStatus::Unknown(_)),
                            "{id}: {ptr} = {garbage} gave {:?}, want Unknown",
                            v.status
                        );
                    }
                    Err(e) => panic!("{id}: {ptr} = {garbage}: unexpected error {e}"),
                }
            }
        }
    }
}

#[test]
fn missing_status_fields_are_never_pending() {
    // fixtures: the Get example of every adapter, each status field removed
    for (id, b, ptrs) in status_cases() {
        for ptr in ptrs {
            // absent and null both mean "not set (yet)"
            for edited in [without(&b, ptr), with(&b, ptr, json!(null))] {
                let v = provider(&id).parse(&id, &edited).unwrap();
                assert!(
                    matches!(v.status, MpeStatus::Unknown(_) | MpeStatus::Provisioning(_)),
                    "{id}: without {ptr} gave {:?}",
                    v.status
                );
            }
        }
    }
}

#[test]
fn missing_properties_is_a_clear_error() {
    // fixtures: the Get example of every adapter, `properties` removed or replaced
    for (id, b, _) in status_cases() {
        for edited in
            [without(&b, "/properties"), with(&b, "/properties", json!("x")), json!(null), json!([]), json!({})]
        {
            match provider(&id).parse(&id, &edited) {
                Err(ProviderError::Missing { field, .. }) => assert!(!field.is_empty()),
                other => panic!("{id}: {edited} gave {other:?}, want Missing"),
            }
        }
    }
}

#[test]
fn hostile_or_missing_target_ids_are_errors() {
    // fixtures: the Get example of every adapter, target id replaced
    for (id, b, _) in status_cases() {
        let ptr = target_ptr(&id);
        for hostile in [
            "/subscriptions/../x",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/../acct",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct?api-version=2020-01-01",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct#x",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a%2Fb",
            "https://evil.example/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            "subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
        ] {
            match provider(&id).parse(&id, &with(&b, ptr, json!(hostile))) {
                Err(ProviderError::BadTarget { source, .. }) => assert!(!source.reason.is_empty()),
                other => panic!("{id}: target {hostile:?} gave {other:?}, want BadTarget"),
            }
        }
        for missing in [json!(""), json!(null), json!(7)] {
            match provider(&id).parse(&id, &with(&b, ptr, missing.clone())) {
                Err(ProviderError::Missing { .. }) => {}
                other => panic!("{id}: target {missing} gave {other:?}, want Missing"),
            }
        }
        assert!(matches!(provider(&id).parse(&id, &without(&b, ptr)), Err(ProviderError::Missing { .. })));
    }
}

// ---------------------------------------------------------------- registry

#[test]
fn for_id_is_case_insensitive() {
    let cases = [
        (
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Kusto/Clusters/c/ManagedPrivateEndpoints/m",
            "Data Explorer",
            "m",
        ),
        (
            "/subscriptions/s/RESOURCEGROUPS/rg/providers/MICROSOFT.STREAMANALYTICS/CLUSTERS/c/PRIVATEENDPOINTS/pe",
            "Stream Analytics",
            "pe",
        ),
        (
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.datafactory/Factories/F1/ManagedVirtualNetworks/default/ManagedPrivateEndpoints/M1",
            "Data Factory",
            "F1.M1",
        ),
        (
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.SignalRService/SignalR/sig/SharedPrivateLinkResources/up",
            "SignalR",
            "up",
        ),
        (
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.SignalRService/WebPubSub/w/sharedprivatelinkresources/up",
            "Web PubSub",
            "up",
        ),
    ];
    for (s, service, endpoint) in cases {
        let id = rid(s);
        let p = provider(&id);
        assert_eq!(p.service(), service, "{s}");
        assert_eq!(p.endpoint_name(&id), endpoint, "{s}");
        let op = p.write_operation().to_ascii_uppercase();
        assert_eq!(for_operation(&op).unwrap().service(), service);
    }
    for not_mpe in [
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.SignalRService/SignalR/sig/privateEndpointConnections/upstream",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m/x/y",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoint/pe",
    ] {
        assert!(for_id(&rid(not_mpe)).is_none(), "{not_mpe}");
    }
    assert_eq!(registry().len(), 5);
    assert!(for_operation("Microsoft.Kusto/clusters/managedPrivateEndpoints/delete").is_none());
}
