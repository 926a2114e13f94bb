//! HTTP-level tests of the simulator: identity, ARM auth and shapes, approvals, faults, Service Bus REST.
//! Approval bodies are built here as a client would (the whole PEC back with the status Approved).

use azure_sim::*;
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The PEC body back, with `privateLinkServiceConnectionState` Approved and `description`.
fn approval_body(pec: &Value, description: &str) -> Value {
    let mut b = pec.clone();
    if let Some(state) = b.pointer_mut("/properties/privateLinkServiceConnectionState").and_then(Value::as_object_mut) {
        state.insert("status".into(), json!("Approved"));
        state.insert("description".into(), json!(description));
    }
    b
}

const STORAGE: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct";
const IOT: &str =
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Devices/IotHubs/hub";
const SQL: &str =
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Sql/servers/db";
const KV: &str =
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
const ASA: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe1";
const KUSTO: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Kusto/clusters/k/managedPrivateEndpoints/m1";

async fn sim() -> Simulator {
    // 1 real ms = 1 simulated s.
    let clock: SharedClock = Arc::new(ScaledClock::new(Utc::now(), 1000.0));
    // Long enough (1.5 s real at 1000x) that "still in progress" checks right after a PUT hold on a loaded machine.
    let options = SimOptions { approval_lro: Duration::from_secs(1500), ..Default::default() };
    Simulator::start(clock, options).await.unwrap()
}

async fn token(sim: &Simulator, aud: &str) -> String {
    let r = reqwest::Client::new()
        .get(sim.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", aud)])
        .header("X-IDENTITY-HEADER", sim.identity_header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    v["access_token"].as_str().unwrap().to_string()
}

async fn arm_get(sim: &Simulator, tok: &str, path: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", sim.arm_endpoint()))
        .query(&[("api-version", "2024-01-01")])
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn arm_put(sim: &Simulator, tok: &str, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{}{path}", sim.arm_endpoint()))
        .query(&[("api-version", "2024-01-01")])
        .bearer_auth(tok)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn sleep_sim(secs: u64) {
    tokio::time::sleep(Duration::from_millis(secs)).await;
}

#[tokio::test]
async fn identity_requires_the_secret() {
    let sim = sim().await;
    let r = reqwest::Client::new()
        .get(sim.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", "https://management.azure.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = reqwest::Client::new()
        .get(sim.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", "https://management.azure.com")])
        .header("X-IDENTITY-HEADER", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn arm_requires_token_audience_and_api_version() {
    let sim = sim().await;
    sim.add_mpe(MpeSpec::new(ASA, STORAGE)).unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{ASA}?api-version=2020-03-01", sim.arm_endpoint());
    assert_eq!(client.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let sb = token(&sim, "https://servicebus.azure.net").await;
    assert_eq!(client.get(&url).bearer_auth(&sb).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let arm = token(&sim, "https://management.azure.com/").await;
    assert_eq!(client.get(&url).bearer_auth(&arm).send().await.unwrap().status(), StatusCode::OK);
    let r = client.get(format!("{}{ASA}", sim.arm_endpoint())).bearer_auth(&arm).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "MissingApiVersionParameter");
    // Hostile paths never panic.
    for p in [
        "/",
        "/..",
        "/subscriptions",
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a%2Fb",
        "/operationResults/zzz",
        "/privateEndpointConnections",
    ] {
        let s = client
            .get(format!("{}{p}?api-version=1", sim.arm_endpoint()))
            .bearer_auth(&arm)
            .send()
            .await
            .unwrap()
            .status();
        assert!(s.is_client_error() || s == StatusCode::OK, "{p}: {s}");
    }
    assert!(sim.report().arm_calls_total >= 8);
}

#[tokio::test]
async fn mpe_lifecycle_over_http_case_insensitive() {
    let sim = sim().await;
    let name = sim
        // A wide window (1.5 s real) before the PEC appears, so a loaded machine cannot overrun it.
        .add_mpe(MpeSpec::new(ASA, STORAGE).timing(Duration::from_secs(1500), Duration::from_secs(500_000)))
        .unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let (s, v) = arm_get(&sim, &tok, &ASA.to_lowercase()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"]
            ["status"],
        "PendingCreation"
    );
    let (s, v) = arm_get(
        &sim,
        &tok,
        &format!("{}/privateEndpointConnections", STORAGE.to_uppercase().replace("/SUBSCRIPTIONS/", "/subscriptions/")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["value"].as_array().unwrap().len(), 0);
    sleep_sim(1700).await;
    let (_, v) = arm_get(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections")).await;
    let pec = &v["value"][0];
    assert_eq!(pec["name"], name.as_str());
    assert_eq!(pec["properties"]["privateLinkServiceConnectionState"]["status"], "Pending");
    assert_eq!(pec["properties"]["privateLinkServiceConnectionState"]["actionRequired"], "None");
    assert!(pec["properties"]["privateEndpoint"]["id"].as_str().unwrap().ends_with("/privateEndpoints/pe1"));

    // Approve too early: the race rule fires.
    let body = approval_body(pec, "approved by test");
    let r = arm_put(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections/{name}"), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["properties"]["privateLinkServiceConnectionState"]["status"], "Approved");
    let rep = sim.report();
    assert_eq!(rep.violations.len(), 1);
    assert_eq!(rep.violations[0].kind, ViolationKind::Race);
    assert_eq!(sim.mpe_phase(ASA), Some(MpePhase::Failed));
    assert!(rep.mpe(ASA).unwrap().arm_calls >= 4);
    assert!(rep.mpe(ASA).unwrap().approved_by.as_deref().unwrap().contains("managed identity"));

    sim.delete_mpe(ASA).unwrap();
    let (s, v) = arm_get(&sim, &tok, ASA).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "ResourceNotFound");
}

#[tokio::test]
async fn iot_hub_lists_bare_arrays_and_approves_asynchronously() {
    let sim = sim().await;
    let name = sim
        .add_mpe(
            MpeSpec::new(ASA, IOT).timing(Duration::ZERO, Duration::ZERO).request_message("Please approve my request!"),
        )
        .unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let (_, v) = arm_get(&sim, &tok, &format!("{IOT}/privateEndpointConnections")).await;
    let arr = v.as_array().expect("bare array");
    assert_eq!(arr[0]["properties"]["privateLinkServiceConnectionState"]["description"], "Please approve my request!");
    assert!(arr[0]["properties"].get("provisioningState").is_none());
    let body = approval_body(&arr[0], "ok");
    let r = arm_put(&sim, &tok, &format!("{IOT}/PrivateEndpointConnections/{name}"), &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let op = r.headers().get("azure-asyncoperation").unwrap().to_str().unwrap().to_string();
    let (s, v) = arm_get(&sim, &tok, &format!("{IOT}/PrivateEndpointConnections/{name}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["properties"]["provisioningState"], "Updating");
    let st: Value = reqwest::Client::new().get(&op).bearer_auth(&tok).send().await.unwrap().json().await.unwrap();
    assert_eq!(st["status"], "InProgress");
    sleep_sim(1700).await;
    let st: Value = reqwest::Client::new().get(&op).bearer_auth(&tok).send().await.unwrap().json().await.unwrap();
    assert_eq!(st["status"], "Succeeded");
    let (_, v) = arm_get(&sim, &tok, &format!("{IOT}/PrivateEndpointConnections/{name}")).await;
    assert_eq!(v["properties"]["privateLinkServiceConnectionState"]["status"], "Approved");
    assert!(v["properties"].get("provisioningState").is_none(), "IoT Hub reports no provisioningState once settled");
    assert!(sim.report().violations.is_empty());
}

#[tokio::test]
async fn sql_keyvault_shapes_rejection_and_faults() {
    let sim = sim().await;
    let kusto_pec = sim.add_mpe(MpeSpec::new(KUSTO, SQL).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let (_, v) = arm_get(&sim, &tok, KUSTO).await;
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    let (_, v) = arm_get(&sim, &tok, &format!("{SQL}/privateEndpointConnections/{kusto_pec}")).await;
    assert_eq!(v["properties"]["provisioningState"], "Ready");
    let r =
        arm_put(&sim, &tok, &format!("{SQL}/privateEndpointConnections/{kusto_pec}"), &approval_body(&v, "ok")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers().get("location").is_some());
    let (_, v) = arm_get(&sim, &tok, &format!("{SQL}/privateEndpointConnections/{kusto_pec}")).await;
    assert_eq!(v["properties"]["provisioningState"], "Approving");

    // Key Vault: parent resource lists PECs; a missing PEC is 204; a rejected PEC cannot be approved.
    let adf = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks/default/managedPrivateEndpoints/m";
    let kv_pec = sim.add_mpe(MpeSpec::new(adf, KV).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let (_, v) = arm_get(&sim, &tok, KV).await;
    let pecs = v["properties"]["privateEndpointConnections"].as_array().unwrap();
    assert!(pecs[0]["properties"]["privateEndpoint"]["id"].as_str().unwrap().ends_with("/f.m"));
    let (s, _) = arm_get(&sim, &tok, &format!("{KV}/privateEndpointConnections/nope")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    sim.reject_pec(adf).unwrap();
    let r =
        arm_put(&sim, &tok, &format!("{KV}/privateEndpointConnections/{kv_pec}"), &approval_body(&pecs[0], "ok")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sim.mpe_phase(adf), Some(MpePhase::Rejected));

    // Faults.
    sim.inject_faults(2, FaultKind::Throttle);
    let r = reqwest::Client::new()
        .get(format!("{}{KV}?api-version=1", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    assert_eq!(arm_get(&sim, &tok, KV).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(arm_get(&sim, &tok, KV).await.0, StatusCode::OK);
    sim.inject_faults(1, FaultKind::Unavailable);
    assert_eq!(arm_get(&sim, &tok, KV).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sim.report().faults_injected, 3);
}

#[tokio::test]
async fn strangers_and_twins_over_http() {
    let sim = sim().await;
    sim.add_mpe(MpeSpec::new(ASA, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let s = sim.add_stranger(STORAGE, "intruder").unwrap();
    let t = sim.add_twin(ASA, Some("different")).unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let (_, v) = arm_get(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections")).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 3);
    for name in [&s, &t] {
        let (_, pec) = arm_get(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections/{name}")).await;
        let r = arm_put(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections/{name}"), &approval_body(&pec, "x"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let kinds: Vec<_> = sim.report().violations.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, vec![ViolationKind::StrangerApproved, ViolationKind::TwinApproved]);
    // A bad PUT body is a 400, not a panic.
    let r = reqwest::Client::new()
        .put(format!("{}{STORAGE}/privateEndpointConnections/{s}?api-version=1", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn service_bus_rest_send() {
    let sim = sim().await;
    let url = format!("{}/{}/messages", sim.servicebus_endpoint(), sim.work_queue_name());
    let client = reqwest::Client::new();
    assert_eq!(client.post(&url).body("{}").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let arm = token(&sim, "https://management.azure.com").await;
    assert_eq!(client.post(&url).bearer_auth(&arm).body("{}").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let tok = token(&sim, "https://servicebus.azure.net").await;
    let later =
        httpdate::fmt_http_date(std::time::SystemTime::from(sim.clock().now() + chrono::Duration::seconds(3600)));
    let send = |mid: &str, sched: Option<&str>| {
        let mut bp = json!({"MessageId": mid, "CorrelationId": "c1", "TimeToLive": 86400});
        if let Some(s) = sched {
            bp["ScheduledEnqueueTimeUtc"] = json!(s);
        }
        client
            .post(&url)
            .bearer_auth(&tok)
            .header("BrokerProperties", bp.to_string())
            .header("Content-Type", "application/json")
            .header("reason", "\"first check\"")
            .body(r#"{"v":1}"#)
            .send()
    };
    assert_eq!(send("a", None).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(send("a", None).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(send("b", Some(&later)).await.unwrap().status(), StatusCode::CREATED);
    let msgs = sim.work_messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].properties.get("reason").map(String::as_str), Some("first check"));
    assert_eq!(msgs[0].correlation_id.as_deref(), Some("c1"));
    let due = sim.service_bus().take_due(sim.work_queue_name());
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message_id, "a");
    let r = client
        .post(format!("{}/nope/messages", sim.servicebus_endpoint()))
        .bearer_auth(&tok)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let r = client.post(&url).bearer_auth(&tok).header("BrokerProperties", "{").body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let q = &sim.report().queues;
    assert!(q.iter().any(|q| q.duplicates_dropped == 1));
}

#[tokio::test]
async fn host_invocations_appear_in_the_report() {
    use axum::routing::post;
    let sim = sim().await;
    let app = axum::Router::new()
        .route("/MpeCheck", post(|| async { axum::Json(json!({"Logs": ["ok"]})) }))
        .route("/MpeEvent", post(|| async { axum::Json(json!({})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let host = sim.host(&url);
    host.wait_ready(Duration::from_secs(5)).await.unwrap();
    let ev = write_success_event(ASA, sim.clock().now());
    assert!(host.deliver_event(&ev).await.unwrap().success);
    sim.service_bus().send(sim.work_queue_name(), OutgoingMessage { body: "{}".into(), ..Default::default() }).unwrap();
    let pump = host.run_queue_pump(sim.work_queue_name(), Duration::from_millis(5)).unwrap();
    let start = std::time::Instant::now();
    while sim.report().invocations.total < 2 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pump.stop().await;
    let rep = sim.report();
    assert_eq!(rep.invocations.total, 2);
    assert_eq!(rep.invocations.failed, 0);
    assert_eq!(rep.invocations.by_function.get("MpeCheck"), Some(&1));
    assert!(sim.work_messages().is_empty());
    assert!(serde_json::to_string(&rep).is_ok());
}

#[tokio::test]
async fn hostile_requests_never_panic() {
    let sim = sim().await;
    sim.add_mpe(MpeSpec::new(ASA, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let arm = token(&sim, "https://management.azure.com").await;
    let sb = token(&sim, "https://servicebus.azure.net").await;
    let client = reqwest::Client::new();
    let paths = [
        ASA.to_string(),
        format!("{STORAGE}/privateEndpointConnections/x"),
        format!("{STORAGE}/privateEndpointConnections"),
        format!("{STORAGE}/privateEndpointConnections/x/y"),
        format!("{STORAGE}/blobServices/default"),
        "/subscriptions/s/providers/Microsoft.Web/locations/simulated/operationResults/x".into(),
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/%FF".into(),
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/ünï".into(),
        format!("/{}", "a/".repeat(600)),
        format!("{SUB}/providers/Microsoft.Kusto/clusters"),
        format!("{SUB}/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints"),
        format!("{SUB}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks"),
        "/subscriptions//providers/Microsoft.Kusto/clusters".into(),
        format!("{DEFAULT_SERVICEBUS_NAMESPACE_ID}/queues/mpe-approvals"),
        format!("{DEFAULT_SERVICEBUS_NAMESPACE_ID}/queues/%FF"),
    ];
    let bodies: [&[u8]; 5] =
        [b"", b"null", b"[1,2]", b"{\"properties\":{\"privateLinkServiceConnectionState\":7}}", &[0xff, 0xfe, 0x00]];
    for p in &paths {
        for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
            for b in bodies {
                let r = client
                    .request(method.clone(), format!("{}{p}?api-version=1&api-version=2", sim.arm_endpoint()))
                    .bearer_auth(&arm)
                    .body(b.to_vec())
                    .send()
                    .await
                    .unwrap();
                assert!(!r.status().is_server_error(), "{method} {p}: {}", r.status());
            }
        }
    }
    for b in bodies {
        let r = client
            .post(format!("{}/{}/messages", sim.servicebus_endpoint(), sim.work_queue_name()))
            .bearer_auth(&sb)
            .header("BrokerProperties", r#"{"MessageId": 5, "TimeToLive": -1}"#)
            .body(b.to_vec())
            .send()
            .await
            .unwrap();
        assert!(!r.status().is_server_error());
    }
    let r = client
        .get(format!("{}?resource=&api-version=x&resource=y", sim.identity_endpoint()))
        .header("X-IDENTITY-HEADER", sim.identity_header())
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_server_error());
}

#[tokio::test]
async fn pec_lists_page_with_next_links_when_asked() {
    let clock: SharedClock = Arc::new(ScaledClock::new(Utc::now(), 1000.0));
    let sim = Simulator::start(clock, SimOptions { pec_page_size: Some(2), ..Default::default() }).await.unwrap();
    sim.add_mpe(MpeSpec::new(ASA, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    for n in ["s1", "s2", "s3", "s4"] {
        sim.add_stranger(STORAGE, n).unwrap();
    }
    let tok = token(&sim, "https://management.azure.com").await;
    let (s, mut page) = arm_get(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections")).await;
    assert_eq!(s, StatusCode::OK);
    let mut names = Vec::new();
    let mut pages = 1;
    loop {
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(items.iter().map(|p| p["name"].as_str().unwrap().to_string()));
        let Some(next) = page.get("nextLink").and_then(Value::as_str) else { break };
        assert!(next.starts_with(&sim.arm_endpoint()), "{next}");
        let r = reqwest::Client::new().get(next).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        page = r.json().await.unwrap();
        pages += 1;
    }
    assert_eq!((names.len(), pages), (5, 3));
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5, "no PEC twice across pages");
    // The list embedded in the parent is not paged; IoT Hub's bare array neither.
    let (_, kv) = arm_get(&sim, &tok, STORAGE).await;
    assert_eq!(kv["properties"]["privateEndpointConnections"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn key_vault_pecs_carry_an_etag_and_honour_if_match() {
    let sim = sim().await;
    let name = sim.add_mpe(MpeSpec::new(ASA, KV).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let path = format!("{KV}/privateEndpointConnections/{name}");
    let (_, pec) = arm_get(&sim, &tok, &path).await;
    let tag = pec["etag"].as_str().unwrap().to_string();
    assert!(tag.len() > 2, "an ETag: {tag:?}");
    let (_, again) = arm_get(&sim, &tok, &path).await;
    assert_eq!(again["etag"], tag.as_str(), "stable while nothing changes");
    let (_, parent) = arm_get(&sim, &tok, KV).await;
    assert_eq!(parent["properties"]["privateEndpointConnections"][0]["etag"], tag.as_str());
    let put = |if_match: &str| {
        reqwest::Client::new()
            .put(format!("{}{path}?api-version=2024-01-01", sim.arm_endpoint()))
            .bearer_auth(&tok)
            .header("If-Match", if_match)
            .json(&approval_body(&pec, "ok"))
            .send()
    };
    let r = put("\"stale\"").await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "PreconditionFailed");
    assert_eq!(sim.pecs(KV)[0].status, PecStatus::Pending);
    assert_eq!(put(&tag).await.unwrap().status(), StatusCode::OK);
    let (_, approved) = arm_get(&sim, &tok, &path).await;
    assert_ne!(approved["etag"], tag.as_str(), "an approval changes the ETag");
    // The old ETag no longer matches.
    assert_eq!(put(&tag).await.unwrap().status(), StatusCode::PRECONDITION_FAILED);
    // Targets without ETags ignore If-Match.
    let st = sim.add_mpe(MpeSpec::new(KUSTO, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let spath = format!("{STORAGE}/privateEndpointConnections/{st}");
    let (_, spec) = arm_get(&sim, &tok, &spath).await;
    assert!(spec.get("etag").is_none());
    let r = reqwest::Client::new()
        .put(format!("{}{spath}?api-version=2024-01-01", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .header("If-Match", "\"anything\"")
        .json(&approval_body(&spec, "ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `BrokerProperties` of a reply, as JSON.
fn broker_properties(r: &reqwest::Response) -> Value {
    let raw = r.headers().get("brokerproperties").and_then(|v| v.to_str().ok()).unwrap_or("null");
    serde_json::from_str(raw).unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[tokio::test]
async fn service_bus_rest_peek_lock_complete_unlock_renew() {
    let sim = sim().await;
    let q = sim.work_queue_name().to_string();
    let base = sim.servicebus_endpoint();
    let head = format!("{base}/{q}/messages/head?timeout=5");
    // Locks outlive this test on a loaded machine (60 simulated s would be 60 real ms).
    sim.service_bus().set_lock_duration(&q, Duration::from_secs(3600)).unwrap();
    let client = reqwest::Client::new();
    assert_eq!(client.post(&head).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let tok = token(&sim, "https://servicebus.azure.net").await;
    let recv = || client.post(&head).bearer_auth(&tok).send();
    assert_eq!(recv().await.unwrap().status(), StatusCode::NO_CONTENT, "empty: 204 at once");
    let r = client
        .post(format!("{base}/{q}/messages"))
        .bearer_auth(&tok)
        .header("BrokerProperties", r#"{"MessageId":"m-1","CorrelationId":"c1","TimeToLive":3600}"#)
        .header("Content-Type", "application/json")
        .header("reason", "\"first check\"")
        .body(r#"{"v":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = recv().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let bp = broker_properties(&r);
    assert_eq!(bp["MessageId"], "m-1");
    assert_eq!(bp["CorrelationId"], "c1");
    assert_eq!(bp["DeliveryCount"], 1);
    assert_eq!(bp["TimeToLive"], 3600.0);
    assert!(bp["SequenceNumber"].as_u64().is_some());
    let token1 = bp["LockToken"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&token1).is_ok());
    for k in ["EnqueuedTimeUtc", "LockedUntilUtc"] {
        let d = bp[k].as_str().unwrap();
        assert!(d.ends_with(" GMT") && httpdate::parse_http_date(d).is_ok(), "{k}: {d}");
    }
    assert_eq!(header(&r, "reason").as_deref(), Some("\"first check\""));
    assert_eq!(header(&r, "content-type").as_deref(), Some("application/json"));
    let location = header(&r, "location").unwrap();
    assert_eq!(location, format!("{base}/{q}/messages/m-1/{token1}"));
    assert_eq!(r.text().await.unwrap(), r#"{"v":1}"#);

    // Locked: neither a second receiver nor the Functions host gets it.
    assert_eq!(recv().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(sim.service_bus().take_due(&q).is_empty());
    assert_eq!(sim.service_bus().locked(&q).len(), 1);

    // Renew, then unlock: visible again, delivery count kept (the next lock makes it 2).
    let r = client.post(&location).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let wrong = format!("{base}/{q}/messages/m-1/{}", uuid::Uuid::new_v4());
    for m in [reqwest::Method::DELETE, reqwest::Method::PUT, reqwest::Method::POST] {
        let r = client.request(m.clone(), &wrong).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{m} with a wrong token");
    }
    assert_eq!(client.put(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client.put(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = recv().await.unwrap();
    let bp = broker_properties(&r);
    assert_eq!(bp["DeliveryCount"], 2);
    let location = header(&r, "location").unwrap();
    assert_ne!(bp["LockToken"], token1.as_str());

    // A failed complete leaves it locked; the retry completes it.
    sim.service_bus().fail_completes(&q, 1).unwrap();
    let r = client.delete(&location).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sim.service_bus().locked(&q).len(), 1);
    assert_eq!(client.delete(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client.delete(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(sim.work_messages().is_empty());
    let rep = sim.report();
    let wq = rep.queues.iter().find(|r| r.name == q).unwrap();
    assert_eq!((wq.locks, wq.completes, wq.unlocks, wq.renewals), (2, 1, 1, 1));

    // Unknown queues are Gone; other methods are refused; nothing panics.
    let r = client.post(format!("{base}/nope/messages/head")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let r = client.post(format!("{base}/{q}/sub/messages/head")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client.get(format!("{base}/{q}/messages/head")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    for p in ["", "/", "%ff", "x/y/z/w/v/u", &format!("{q}/messages/%zz/1"), &format!("{q}/$DeadLetterQueue")] {
        let r = client.post(format!("{base}/{p}")).bearer_auth(&tok).send().await.unwrap();
        assert!(!r.status().is_server_error(), "{p}: {}", r.status());
    }
}

#[tokio::test]
async fn service_bus_rest_locks_expire_and_used_up_messages_are_dead_lettered() {
    let sim = sim().await; // 1 real ms = 1 simulated s
    let q = sim.work_queue_name().to_string();
    let bus = sim.service_bus();
    bus.set_max_delivery_count(&q, 2).unwrap();
    bus.set_lock_duration(&q, Duration::from_secs(1000)).unwrap();
    let base = sim.servicebus_endpoint();
    let client = reqwest::Client::new();
    let tok = token(&sim, "https://servicebus.azure.net").await;
    let mut props = std::collections::BTreeMap::new();
    props.insert("parkreason".to_string(), "ünïcode \"quoted\"".to_string());
    bus.send(
        &q,
        OutgoingMessage { message_id: Some("m/1".into()), body: "x".into(), properties: props, ..Default::default() },
    )
    .unwrap();
    let head = format!("{base}/{q}/messages/head");
    let recv = || client.post(&head).bearer_auth(&tok).send();
    let r = recv().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = header(&r, "location").unwrap();
    assert!(location.contains("/messages/m%2F1/"), "{location}");
    let prop: String = serde_json::from_str(&header(&r, "parkreason").unwrap()).unwrap();
    assert_eq!(prop, "ünïcode \"quoted\"");
    sleep_sim(1100).await; // the lock (1000 s) expires
    assert_eq!(client.delete(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = recv().await.unwrap();
    assert_eq!(broker_properties(&r)["DeliveryCount"], 2);
    let location = header(&r, "location").unwrap();
    // Abandoned with its deliveries used up: dead-lettered.
    assert_eq!(client.put(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(recv().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.dead_letters()[0].reason, "MaxDeliveryCountExceeded");

    // The dead-letter sub-queue is receivable, with its reason as properties.
    let dlq = format!("{base}/{q}/%24DeadLetterQueue/messages/head");
    let r = client.post(&dlq).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "deadletterreason").as_deref(), Some("\"MaxDeliveryCountExceeded\""));
    assert!(header(&r, "deadlettererrordescription").is_some());
    let location = header(&r, "location").unwrap();
    assert!(location.starts_with(&format!("{base}/{q}/$DeadLetterQueue/messages/m%2F1/")), "{location}");
    assert_eq!(client.post(&dlq).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.service_bus().locked(&dead_letter_path(&q)).len(), 1);
    assert_eq!(client.delete(&location).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::OK);
    assert!(sim.dead_letters().is_empty());
    // Sending to a dead-letter queue is refused.
    let r =
        client.post(format!("{base}/{q}/$DeadLetterQueue/messages")).bearer_auth(&tok).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn service_bus_rest_send_faults_and_duplicates() {
    let sim = sim().await;
    let q = sim.work_queue_name().to_string();
    let url = format!("{}/{q}/messages", sim.servicebus_endpoint());
    let tok = token(&sim, "https://servicebus.azure.net").await;
    let client = reqwest::Client::new();
    let send =
        || client.post(&url).bearer_auth(&tok).header("BrokerProperties", r#"{"MessageId":"d"}"#).body("x").send();
    sim.service_bus().fail_sends(&q, 2).unwrap();
    assert_eq!(send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(sim.work_messages().is_empty(), "a failed send enqueues nothing");
    assert_eq!(send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(sim.work_messages().len(), 1, "the duplicate is dropped");
    let rep = sim.report();
    assert_eq!(rep.queues.iter().find(|r| r.name == q).unwrap().duplicates_dropped, 1);
}

const SUB: &str = "/subscriptions/11111111-2222-3333-4444-555555555555";

async fn sim_with(options: SimOptions) -> Simulator {
    let clock: SharedClock = Arc::new(ScaledClock::new(Utc::now(), 1000.0));
    Simulator::start(clock, options).await.unwrap()
}

/// Every item of a list, following `nextLink`s; the number of pages.
async fn arm_list_all(sim: &Simulator, tok: &str, path: &str) -> (Vec<Value>, usize) {
    let (s, mut page) = arm_get(sim, tok, path).await;
    assert_eq!(s, StatusCode::OK, "{path}: {page}");
    let (mut items, mut pages) = (Vec::new(), 1);
    loop {
        items.extend(page["value"].as_array().unwrap().iter().cloned());
        let Some(next) = page.get("nextLink").and_then(Value::as_str) else { break };
        assert!(next.starts_with(&sim.arm_endpoint()) && next.contains("$skiptoken="), "{next}");
        let r = reqwest::Client::new().get(next).bearer_auth(tok).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        page = r.json().await.unwrap();
        pages += 1;
    }
    (items, pages)
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|v| v["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn arm_lists_walk_each_mpe_type_from_the_top() {
    let sim = sim().await;
    let now = Duration::ZERO;
    let kusto = |rg: &str, cluster: &str, mpe: &str| {
        format!("{SUB}/resourceGroups/{rg}/providers/Microsoft.Kusto/Clusters/{cluster}/managedPrivateEndpoints/{mpe}")
    };
    let adf = format!("{SUB}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/F1/managedVirtualNetworks/default/managedPrivateEndpoints/m1");
    let other_sub = "/subscriptions/99999999-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Kusto/clusters/far/managedPrivateEndpoints/x";
    for id in [
        kusto("rg", "k1", "a"),
        kusto("rg", "k1", "b"),
        kusto("RG2", "k2", "c"),
        adf.clone(),
        other_sub.into(),
        ASA.into(),
    ] {
        sim.add_mpe(MpeSpec::new(&id, STORAGE).timing(now, now)).unwrap();
    }
    let gone = kusto("rg", "k3", "d");
    sim.add_mpe(MpeSpec::new(&gone, STORAGE)).unwrap();
    sim.delete_mpe(&gone).unwrap();
    let tok = token(&sim, "https://management.azure.com").await;

    // Top-level parents by subscription (case-insensitive), by resource group; deleted MPEs leave no parent.
    let (items, _) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/microsoft.kusto/CLUSTERS")).await;
    assert_eq!(names(&items), ["k1", "k2"]);
    assert_eq!(items[0]["id"], format!("{SUB}/resourceGroups/rg/providers/Microsoft.Kusto/Clusters/k1"));
    assert_eq!(items[0]["type"], "Microsoft.Kusto/Clusters");
    assert!(items[0]["location"].is_string());
    let (items, _) =
        arm_list_all(&sim, &tok, &format!("{SUB}/resourceGroups/rg2/providers/Microsoft.Kusto/clusters")).await;
    assert_eq!(names(&items), ["k2"]);
    let (items, _) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/Microsoft.SignalRService/webPubSub")).await;
    assert!(items.is_empty());

    // The MPE level: the bodies the single GET answers.
    let k1 = format!("{SUB}/resourceGroups/rg/providers/Microsoft.Kusto/Clusters/k1");
    let (items, _) = arm_list_all(&sim, &tok, &format!("{k1}/managedPrivateEndpoints")).await;
    assert_eq!(items.len(), 2);
    let (_, single) = arm_get(&sim, &tok, &kusto("rg", "k1", "a")).await;
    assert_eq!(items[0], single);

    // Data Factory: factories → managedVirtualNetworks → managedPrivateEndpoints.
    let (items, _) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/Microsoft.DataFactory/factories")).await;
    assert_eq!(names(&items), ["F1"]);
    let factory = items[0]["id"].as_str().unwrap().to_string();
    let (nets, _) = arm_list_all(&sim, &tok, &format!("{factory}/managedVirtualNetworks")).await;
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0]["name"], "default");
    assert_eq!(nets[0]["type"], "Microsoft.DataFactory/factories/managedVirtualNetworks");
    assert_eq!(nets[0]["properties"], json!({}));
    let net = nets[0]["id"].as_str().unwrap().to_string();
    let (mpes, _) = arm_list_all(&sim, &tok, &format!("{net}/managedPrivateEndpoints")).await;
    let (_, single) = arm_get(&sim, &tok, &adf).await;
    assert_eq!(mpes, vec![single]);
    // Stream Analytics.
    let (items, _) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/Microsoft.StreamAnalytics/clusters")).await;
    let (eps, _) = arm_list_all(&sim, &tok, &format!("{}/privateEndpoints", items[0]["id"].as_str().unwrap())).await;
    assert_eq!(eps[0]["id"], ASA);

    // An unknown parent is not found; other methods are refused.
    let (s, v) = arm_get(
        &sim,
        &tok,
        &format!("{SUB}/resourceGroups/rg/providers/Microsoft.Kusto/clusters/k3/managedPrivateEndpoints"),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("ResourceNotFound")));
    let r = arm_put(&sim, &tok, &format!("{k1}/managedPrivateEndpoints"), &json!({})).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // The other routes still answer as before; list calls are counted.
    let (s, _) = arm_get(&sim, &tok, &kusto("rg", "k1", "a")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, pecs) = arm_get(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections")).await;
    assert_eq!((s, pecs["value"].as_array().map(Vec::len)), (StatusCode::OK, Some(6)));
    let rep = sim.report();
    assert_eq!(rep.arm_calls_by_resource.get(&format!("{k1}/managedprivateendpoints").to_lowercase()), Some(&2));
}

/// Every served type, walked from the top: its top-level parent listed by subscription, each level below
/// listed under its parent (types spelled as the service spells them), down to the MPE's own body.
#[tokio::test]
async fn arm_lists_walk_every_served_type_from_the_top() {
    let sim = sim().await;
    let sub_id = SUB.trim_start_matches("/subscriptions/");
    let mut ids = Vec::new();
    for (i, t) in MpeType::all().iter().enumerate() {
        let id = mpe::id_of_type(t.resource_type(), sub_id, "rg", &format!("m{i}"), |d, _| format!("p{i}x{d}"));
        sim.add_mpe(MpeSpec::new(&id, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
        ids.push((*t, id));
    }
    let tok = token(&sim, "https://management.azure.com").await;
    for (t, id) in ids {
        let spelled: Vec<&str> = t.spelled_type().split('/').collect();
        if !t.parents_in_arm() {
            // Nothing of the type is ARM's (a Databricks NCC's rules, a Fabric workspace's MPEs): ARM lists
            // nothing, the service's own API the MPE.
            let (s, _) = arm_get(&sim, &tok, &format!("{SUB}/providers/{}/{}", spelled[0], spelled[1])).await;
            assert!(s.is_client_error(), "{t:?}: {s}");
            let client = reqwest::Client::new();
            if t.resource_type().starts_with("MpeApprover.Fabric/") {
                // A Fabric workspace's MPEs: the Fabric REST API lists the MPE, as its GET reads it.
                let workspace = id.split('/').nth(8).unwrap();
                let url = format!("{}/v1/workspaces/{workspace}/managedPrivateEndpoints", sim.fabric_endpoint());
                assert_eq!(client.get(&url).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
                let fabric = token(&sim, "https://api.fabric.microsoft.com").await;
                let listed: Value = client.get(&url).bearer_auth(&fabric).send().await.unwrap().json().await.unwrap();
                let mpe = id.rsplit('/').next().unwrap();
                let single: Value =
                    client.get(format!("{url}/{mpe}")).bearer_auth(&fabric).send().await.unwrap().json().await.unwrap();
                assert_eq!(listed["value"].as_array().map(Vec::as_slice), Some(std::slice::from_ref(&single)));
                assert_eq!(single["id"], mpe);
                continue;
            }
            let (account, ncc) = (id.split('/').nth(8).unwrap(), id.split('/').nth(10).unwrap());
            let url = format!(
                "{}/api/2.0/accounts/{account}/network-connectivity-configs/{ncc}/private-endpoint-rules",
                sim.databricks_endpoint()
            );
            assert_eq!(client.get(&url).bearer_auth(&tok).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
            let dbx = token(&sim, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d").await;
            let listed: Value = client.get(&url).bearer_auth(&dbx).send().await.unwrap().json().await.unwrap();
            let rule = id.rsplit('/').next().unwrap();
            let single: Value =
                client.get(format!("{url}/{rule}")).bearer_auth(&dbx).send().await.unwrap().json().await.unwrap();
            assert_eq!(
                listed["items"].as_array().map(Vec::as_slice),
                Some(std::slice::from_ref(&single)),
                "{listed:#}"
            );
            assert_eq!(single["rule_id"], rule);
            continue;
        }
        let (items, _) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/{}/{}", spelled[0], spelled[1])).await;
        assert_eq!(items.len(), 1, "{t:?}: {items:#?}");
        assert_eq!(items[0]["type"], spelled[..2].join("/"), "{t:?}");
        let mut parent = items[0]["id"].as_str().unwrap().to_string();
        if t.data_plane() {
            // Not ARM's below the top: the MPEs are on the parent's data plane, whose list holds the body
            // its GET answers (and the workspace's reserved MPEs), for a token of its own audience only.
            let (s, e) = arm_get(&sim, &tok, &format!("{parent}/{}", spelled[2])).await;
            assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("InvalidResourceType")), "{e}");
            assert_eq!(arm_get(&sim, &tok, &id).await.0, StatusCode::NOT_FOUND);
            let host = sim.synapse_endpoint().replace("{workspace}", items[0]["name"].as_str().unwrap());
            let list = format!("{host}/managedVirtualNetworks/default/managedPrivateEndpoints?api-version=2020-12-01");
            let client = reqwest::Client::new();
            let r = client.get(&list).bearer_auth(&tok).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "ARM's token is not the data plane's");
            let dp = token(&sim, "https://dev.azuresynapse.net").await;
            let listed: Value = client.get(&list).bearer_auth(&dp).send().await.unwrap().json().await.unwrap();
            let name = id.rsplit('/').next().unwrap();
            let item =
                format!("{host}/managedVirtualNetworks/default/managedPrivateEndpoints/{name}?api-version=2020-12-01");
            let single: Value = client.get(&item).bearer_auth(&dp).send().await.unwrap().json().await.unwrap();
            let value = listed["value"].as_array().unwrap();
            assert_eq!(value.len(), 3, "ours and the two reserved: {listed:#}");
            assert!(value.contains(&single), "{t:?}: the list holds the body the GET answers");
            assert!(single["id"].as_str().unwrap().eq_ignore_ascii_case(&id));
            continue;
        }
        for depth in 2..spelled.len() {
            let (items, _) = arm_list_all(&sim, &tok, &format!("{parent}/{}", spelled[depth])).await;
            assert_eq!(items.len(), 1, "{t:?} {parent}: {items:#?}");
            if depth + 1 == spelled.len() {
                let (_, single) = arm_get(&sim, &tok, &id).await;
                assert_eq!(items[0], single, "{t:?}: the list holds the body the GET answers");
            } else {
                assert_eq!(items[0]["type"], spelled[..=depth].join("/"), "{t:?}");
            }
            parent = items[0]["id"].as_str().unwrap().to_string();
        }
        assert!(parent.eq_ignore_ascii_case(&id), "{t:?}: walked to {parent}, not {id}");
    }
}

#[tokio::test]
async fn arm_lists_page_with_next_links_when_asked() {
    let sim = sim_with(SimOptions { list_page_size: Some(2), ..Default::default() }).await;
    let cluster = format!("{SUB}/resourceGroups/rg/providers/Microsoft.Kusto/clusters/k");
    for n in 0..5 {
        sim.add_mpe(MpeSpec::new(format!("{cluster}/managedPrivateEndpoints/m{n}"), STORAGE)).unwrap();
        sim.add_mpe(MpeSpec::new(
            format!("{SUB}/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c{n}/managedPrivateEndpoints/m"),
            STORAGE,
        ))
        .unwrap();
    }
    let tok = token(&sim, "https://management.azure.com").await;
    let (items, pages) = arm_list_all(&sim, &tok, &format!("{cluster}/managedPrivateEndpoints")).await;
    assert_eq!((items.len(), pages), (5, 3));
    let mut n: Vec<&str> = names(&items);
    n.dedup();
    assert_eq!(n.len(), 5, "no MPE twice across pages");
    let (items, pages) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/Microsoft.Kusto/clusters")).await;
    assert_eq!((items.len(), pages), (6, 3));
}

#[tokio::test]
async fn arm_serves_service_bus_queue_counts() {
    let sim = sim().await;
    let ns = sim.servicebus_resource_id().to_string();
    assert_eq!(ns, DEFAULT_SERVICEBUS_NAMESPACE_ID);
    assert!(sim.handler_env().iter().any(|(k, v)| k == "MPE_SERVICEBUS_RESOURCE_ID" && *v == ns));
    let q = sim.work_queue_name().to_string();
    let bus = sim.service_bus();
    let later = sim.clock().now() + chrono::Duration::seconds(3600);
    let send = |id: &str, at| {
        let m =
            OutgoingMessage { message_id: Some(id.into()), body: "x".into(), scheduled_at: at, ..Default::default() };
        bus.send(&q, m).unwrap()
    };
    send("a", None);
    let taken = bus.take_due(&q).remove(0);
    bus.dead_letter(&q, taken, "Test", "dead");
    send("b", None);
    send("c", Some(later));
    bus.lock(&q).unwrap().unwrap(); // a locked message is still active
    let tok = token(&sim, "https://management.azure.com").await;
    let path = format!("{ns}/queues/{}", q.to_uppercase());
    let r = reqwest::Client::new()
        .get(format!("{}{path}?api-version=2021-11-01", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], format!("{ns}/queues/{q}"));
    assert_eq!(v["name"], q.as_str());
    assert_eq!(v["type"], "Microsoft.ServiceBus/namespaces/queues");
    let p = &v["properties"];
    assert_eq!(p["messageCount"], 3);
    assert_eq!(
        p["countDetails"],
        json!({"activeMessageCount": 1, "deadLetterMessageCount": 1, "scheduledMessageCount": 1,
               "transferMessageCount": 0, "transferDeadLetterMessageCount": 0})
    );
    assert_eq!((p["lockDuration"].as_str(), p["maxDeliveryCount"].as_u64()), (Some("PT1M"), Some(10)));
    for bad in [format!("{ns}/queues/nope"), format!("{}/queues/{q}", ns.replace("mpe-approver-sim", "other"))] {
        let (s, v) = arm_get(&sim, &tok, &bad).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("ResourceNotFound")), "{bad}");
    }
    let (s, _) = arm_get(&sim, "not-a-token", &path).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// A clock the test moves by hand.
struct ManualClock(std::sync::Mutex<chrono::DateTime<Utc>>);
impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    fn real(&self, d: Duration) -> Duration {
        d
    }
}

#[tokio::test]
async fn per_subscription_throttling_answers_429_until_the_wait_has_passed() {
    let clock = Arc::new(ManualClock(std::sync::Mutex::new(Utc::now())));
    let throttle = Throttle { every: 3, wait: Duration::from_secs(10) };
    let sim =
        Simulator::start(clock.clone(), SimOptions { throttle: Some(throttle), ..Default::default() }).await.unwrap();
    sim.add_target(STORAGE).unwrap();
    let other = STORAGE.replace("11111111-2222-3333-4444-555555555555", "99999999-2222-3333-4444-555555555555");
    sim.add_target(&other).unwrap();
    let tok = sim.issue_token("https://management.azure.com");
    let get = |path: String| counted_get(sim.arm_endpoint(), tok.clone(), path);
    let advance = |secs: i64| *clock.0.lock().unwrap() += chrono::Duration::seconds(secs);
    assert_eq!(get(STORAGE.into()).await, (StatusCode::OK, None, Some("1".into())));
    assert_eq!(get(STORAGE.into()).await, (StatusCode::OK, None, Some("0".into())));
    assert_eq!(get(STORAGE.into()).await, (StatusCode::TOO_MANY_REQUESTS, Some("10".into()), None));
    advance(4);
    assert_eq!(get(STORAGE.into()).await, (StatusCode::TOO_MANY_REQUESTS, Some("6".into()), None));
    // Another subscription has its own count and no wait.
    assert_eq!(get(other.clone()).await, (StatusCode::OK, None, Some("1".into())));
    advance(6);
    assert_eq!(get(STORAGE.into()).await, (StatusCode::OK, None, Some("1".into())));
    let t = sim.report().throttle;
    assert_eq!((t.calls, t.waits_started, t.inside_wait), (6, 1, 1), "{t:?}");
}

/// A resource provider's own 429s behind ARM: no low remaining count warns of them (ARM's own count rides
/// on the 429 too), the provider's namespace in that subscription waits, its other calls and ARM's
/// budget are untouched; reads and writes are counted apart.
#[tokio::test]
async fn a_resource_providers_429s_come_without_warning() {
    let clock = Arc::new(ManualClock(std::sync::Mutex::new(Utc::now())));
    let options = SimOptions {
        throttle: Some(Throttle { every: 100, wait: Duration::from_secs(10) }),
        rp_throttle: Some(azure_sim::RpThrottle {
            every: 2,
            wait: Duration::from_secs(3),
            namespaces: vec!["Microsoft.Storage".into()],
        }),
        ..Default::default()
    };
    let sim = Simulator::start(clock.clone(), options).await.unwrap();
    sim.add_mpe(MpeSpec::new(ASA, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let tok = sim.issue_token("https://management.azure.com");
    let get = |path: String| counted_get(sim.arm_endpoint(), tok.clone(), path);
    let pecs = format!("{STORAGE}/privateEndpointConnections");
    assert_eq!(get(pecs.clone()).await, (StatusCode::OK, None, Some("98".into())));
    assert_eq!(
        get(pecs.clone()).await,
        (StatusCode::TOO_MANY_REQUESTS, Some("3".into()), Some("97".into())),
        "no warning"
    );
    assert_eq!(get(pecs.clone()).await.0, StatusCode::TOO_MANY_REQUESTS, "inside the provider's wait");
    assert_eq!(get(ASA.into()).await.0, StatusCode::OK, "another provider of the subscription");
    *clock.0.lock().unwrap() += chrono::Duration::seconds(3);
    assert_eq!(get(pecs).await.0, StatusCode::OK);
    let r = sim.report();
    let t = r.throttle;
    assert_eq!((t.rp_calls, t.rp_waits_started, t.rp_inside_wait, t.waits_started), (4, 1, 1, 0), "{t:?}");
    assert_eq!((r.arm_reads, r.arm_writes), (5, 0));
}

#[tokio::test]
async fn the_owner_deletes_a_connection_and_refused_puts_leave_the_pec_pending() {
    let sim = sim().await;
    sim.add_mpe(MpeSpec::new(ASA, STORAGE).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let s = sim.add_stranger(STORAGE, "intruder").unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let delete = |name: String| {
        let url = format!("{}{STORAGE}/privateEndpointConnections/{name}?api-version=2024-01-01", sim.arm_endpoint());
        let tok = tok.clone();
        async move { reqwest::Client::new().delete(url).bearer_auth(tok).send().await.unwrap().status() }
    };
    assert_eq!(delete(s.clone()).await, StatusCode::OK);
    assert_eq!(delete(s.clone()).await, StatusCode::NO_CONTENT, "nothing left to delete");
    let (_, v) = arm_get(&sim, &tok, &format!("{STORAGE}/privateEndpointConnections")).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "the deleted connection is no longer listed: {v}");

    let ours = v["value"][0]["name"].as_str().unwrap().to_string();
    let path = format!("{STORAGE}/privateEndpointConnections/{ours}");
    sim.refuse_pec_puts(1, 400, "InvalidRequestFormat", "not now");
    let (_, pec) = arm_get(&sim, &tok, &path).await;
    let refused = arm_put(&sim, &tok, &path, &approval_body(&pec, "x")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let err: Value = refused.json().await.unwrap();
    assert_eq!(err["error"]["code"], "InvalidRequestFormat");
    let (_, still) = arm_get(&sim, &tok, &path).await;
    assert_eq!(still["properties"]["privateLinkServiceConnectionState"]["status"], "Pending");
    assert_eq!(arm_put(&sim, &tok, &path, &approval_body(&pec, "x")).await.status(), StatusCode::OK, "once only");
    assert!(sim.report().violations.is_empty());
}

const PLS: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-svc/providers/Microsoft.Network/privateLinkServices/svc";
const CONSUMER_SUB: &str = "99999999-8888-7777-6666-555555555555";

/// A Private Link Service over HTTP, as the Network examples and a recorded session show it: the lists
/// by subscription and group, the PLS with its connections, a connection's GET, the PUT that approves
/// (200, `provisioningState: Updating`, `Azure-AsyncOperation`, then Succeeded), `If-Match`, a rejection,
/// what may not change, a DELETE, and the tags route.
#[tokio::test]
async fn private_link_services_serve_their_consumers_connections() {
    let sim = sim_with(SimOptions { approval_lro: Duration::from_secs(1500), ..Default::default() }).await;
    sim.add_pls(PLS).unwrap();
    let other = PLS.replace("rg-svc", "rg-other");
    sim.add_pls(&other).unwrap();
    sim.set_pls_tag(PLS, "mpe-approver-allow-from", CONSUMER_SUB).unwrap();
    let name = sim.connect_to_pls(PLS, CONSUMER_SUB, "pe-consumer", "CHG0000001 please").unwrap();
    let tok = token(&sim, "https://management.azure.com").await;

    let (items, _) = arm_list_all(&sim, &tok, &format!("{SUB}/providers/Microsoft.Network/privateLinkServices")).await;
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|p| p["type"] == "Microsoft.Network/privateLinkServices"));
    let (items, _) = arm_list_all(
        &sim,
        &tok,
        &format!("{SUB}/resourceGroups/RG-SVC/providers/Microsoft.Network/privateLinkServices"),
    )
    .await;
    assert_eq!(names(&items), ["svc"]);
    assert_eq!(items[0]["properties"]["privateEndpointConnections"][0]["name"], name.as_str());
    let (s, none) = arm_get(
        &sim,
        &tok,
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Network/privateLinkServices",
    )
    .await;
    assert_eq!((s, none["value"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));

    let (s, tags) = arm_get(&sim, &tok, &format!("{PLS}/providers/Microsoft.Resources/tags/default")).await;
    assert_eq!((s, &tags["properties"]["tags"]["mpe-approver-allow-from"]), (StatusCode::OK, &json!(CONSUMER_SUB)));

    let (s, list) = arm_get(&sim, &tok, &format!("{PLS}/privateEndpointConnections")).await;
    assert_eq!(s, StatusCode::OK);
    let c = &list["value"][0];
    assert_eq!(c["id"], format!("{PLS}/privateEndpointConnections/{name}"));
    assert_eq!(c["type"], "Microsoft.Network/privateLinkServices/privateEndpointConnections");
    assert_eq!(c["properties"]["privateLinkServiceConnectionState"]["status"], "Pending");
    assert_eq!(c["properties"]["privateLinkServiceConnectionState"]["description"], "CHG0000001 please");
    assert_eq!(
        c["properties"]["privateEndpoint"]["id"],
        format!("/subscriptions/{CONSUMER_SUB}/resourceGroups/consumer-rg/providers/Microsoft.Network/privateEndpoints/pe-consumer")
    );
    assert!(c["properties"]["linkIdentifier"].is_string() && c["etag"].is_string());

    let path = format!("{PLS}/privateEndpointConnections/{name}");
    let (_, got) = arm_get(&sim, &tok, &path).await;
    assert_eq!(&got, c);
    // A stale ETag is refused; nothing changes.
    let client = reqwest::Client::new();
    let put = |if_match: &str, body: &Value| {
        client
            .put(format!("{}{path}", sim.arm_endpoint()))
            .query(&[("api-version", "2025-05-01")])
            .bearer_auth(&tok)
            .header("If-Match", if_match)
            .json(body)
            .send()
    };
    let stale = put("W/\"stale\"", &approval_body(&got, "ok")).await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let etag = got["etag"].as_str().unwrap().to_string();
    let r = put(&etag, &approval_body(&got, "CHG0000001 please [ok]")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the recorded answer is 200, not 201/202");
    assert!(r.headers().get("azure-asyncoperation").is_some());
    let answered: Value = r.json().await.unwrap();
    assert_eq!(answered["properties"]["provisioningState"], "Updating");
    assert_eq!(answered["properties"]["privateLinkServiceConnectionState"]["status"], "Approved");
    sleep_sim(1600).await;
    let (_, settled) = arm_get(&sim, &tok, &path).await;
    assert_eq!(settled["properties"]["provisioningState"], "Succeeded");
    assert_eq!(settled["properties"]["privateLinkServiceConnectionState"]["description"], "CHG0000001 please [ok]");
    assert_ne!(settled["etag"], json!(etag));
    assert!(sim.pls_connection(PLS, &name).unwrap().changed_by.is_some());

    // Only Approved or Rejected may be asked; a rejection is final.
    let mut pending = settled.clone();
    pending["properties"]["privateLinkServiceConnectionState"]["status"] = json!("Pending");
    assert_eq!(put("*", &pending).await.unwrap().status(), StatusCode::BAD_REQUEST);
    let mut reject = settled.clone();
    reject["properties"]["privateLinkServiceConnectionState"]["status"] = json!("Rejected");
    assert_eq!(put("*", &reject).await.unwrap().status(), StatusCode::OK);
    assert_eq!(put("*", &approval_body(&settled, "again")).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(sim.pls_connection(PLS, &name).unwrap().status, ConnectionStatus::Rejected);

    // Unknown connections and services; methods not served; a DELETE.
    let (s, _) = arm_get(&sim, &tok, &format!("{PLS}/privateEndpointConnections/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = arm_get(&sim, &tok, &PLS.replace("/svc", "/missing")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = client
        .post(format!("{}{PLS}/privateEndpointConnections?api-version=1", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let del =
        client.delete(format!("{}{path}?api-version=1", sim.arm_endpoint())).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    assert!(sim.pls_connections(PLS).is_empty());
}

/// PLS lists page like the other lists; a forbidden resource answers 403 `AuthorizationFailed` for
/// itself and everything under it, until allowed again.
#[tokio::test]
async fn pls_lists_page_and_a_forbidden_pls_answers_403() {
    let sim = sim_with(SimOptions { pec_page_size: Some(2), list_page_size: Some(1), ..Default::default() }).await;
    sim.add_pls(PLS).unwrap();
    sim.add_pls(PLS.replace("/svc", "/svc2")).unwrap();
    for i in 0..5 {
        sim.connect_to_pls(PLS, CONSUMER_SUB, &format!("pe{i}"), "m").unwrap();
    }
    let tok = token(&sim, "https://management.azure.com").await;
    let (items, pages) = arm_list_all(&sim, &tok, &format!("{PLS}/privateEndpointConnections")).await;
    assert_eq!((items.len(), pages), (5, 3));
    let (items, pages) =
        arm_list_all(&sim, &tok, &format!("{SUB}/providers/Microsoft.Network/privateLinkServices")).await;
    assert_eq!((items.len(), pages), (2, 2));
    sim.forbid(PLS, true);
    let (s, e) = arm_get(&sim, &tok, &format!("{PLS}/privateEndpointConnections")).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("AuthorizationFailed")));
    let (s, _) = arm_get(&sim, &tok, &PLS.replace("/svc", "/svc2")).await;
    assert_eq!(s, StatusCode::OK, "another service (whose name starts alike) is not forbidden");
    sim.forbid(PLS, false);
    let (s, _) = arm_get(&sim, &tok, &format!("{PLS}/privateEndpointConnections")).await;
    assert_eq!(s, StatusCode::OK);
}

/// Hostile requests on PLS paths never panic, and a hostile consumer endpoint id is served as given.
#[tokio::test]
async fn hostile_pls_requests_never_panic() {
    let sim = sim().await;
    sim.add_pls(PLS).unwrap();
    let name = sim.connect_to_pls_from(PLS, "\n\u{1b}[2J/../x", "m").unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    let (_, c) = arm_get(&sim, &tok, &format!("{PLS}/privateEndpointConnections/{name}")).await;
    assert_eq!(c["properties"]["privateEndpoint"]["id"], "\n\u{1b}[2J/../x", "served as the consumer gave it");
    let client = reqwest::Client::new();
    let paths = [
        PLS.to_string(),
        format!("{PLS}/privateEndpointConnections"),
        format!("{PLS}/privateEndpointConnections/{name}"),
        format!("{PLS}/privateEndpointConnections/{name}/x"),
        format!("{PLS}/privateEndpointConnections/%FF"),
        format!("{PLS}/other"),
        format!("{SUB}/providers/Microsoft.Network/privateLinkServices"),
        format!("{SUB}/resourceGroups/rg-svc/providers/Microsoft.Network/privateLinkServices"),
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/..".into(),
    ];
    let bodies: [&[u8]; 4] =
        [b"", b"null", b"{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":7}}}", &[0xff]];
    for p in &paths {
        for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::POST] {
            for b in bodies {
                let r = client
                    .request(method.clone(), format!("{}{p}?api-version=1", sim.arm_endpoint()))
                    .bearer_auth(&tok)
                    .body(b.to_vec())
                    .send()
                    .await
                    .unwrap();
                assert!(!r.status().is_server_error(), "{method} {p}: {}", r.status());
            }
        }
    }
}

/// GET `path` from the simulated ARM at `arm` with `tok`: the status, `Retry-After` and ARM's remaining
/// reads count.
async fn counted_get(arm: String, tok: String, path: String) -> (StatusCode, Option<String>, Option<String>) {
    let r = reqwest::Client::new()
        .get(format!("{arm}{path}"))
        .query(&[("api-version", "2023-05-01")])
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    (r.status(), h("retry-after"), h("x-ms-ratelimit-remaining-subscription-reads"))
}

/// The management group descendants list (`ManagementGroups_GetDescendants`): every group and subscription
/// under the group at any depth, paged with `nextLink` (`null` on the last page), 404 for a group that does
/// not exist, 400 for an api-version the API does not have, 403 where `forbid` says, GET only.
#[tokio::test]
async fn management_group_descendants_are_listed_page_by_page() {
    let clock: SharedClock = Arc::new(ScaledClock::new(Utc::now(), 1000.0));
    let sim = Simulator::start(clock, SimOptions { list_page_size: Some(2), ..Default::default() }).await.unwrap();
    let tok = token(&sim, "https://management.azure.com").await;
    sim.add_management_group("root", None).unwrap();
    sim.add_management_group("platform", Some("root")).unwrap();
    sim.add_management_group("landing", Some("platform")).unwrap();
    for (sub, group) in [
        ("00000000-0000-0000-0000-0000000000a1", "platform"),
        ("00000000-0000-0000-0000-0000000000a2", "landing"),
        ("00000000-0000-0000-0000-0000000000b1", "root"),
    ] {
        sim.place_subscription(sub, group).unwrap();
    }
    let client = reqwest::Client::new();
    let get = |url: String| {
        let (client, tok) = (client.clone(), tok.clone());
        async move {
            let r = client.get(url).bearer_auth(tok).send().await.unwrap();
            let s = r.status();
            (s, serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap_or(Value::Null))
        }
    };
    let path = "/providers/Microsoft.Management/managementGroups/Platform/descendants";
    let mut url = format!("{}{path}?api-version=2023-04-01", sim.arm_endpoint());
    let mut ids = Vec::new();
    for page in 1.. {
        let (s, body) = get(url.clone()).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        ids.extend(body["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()));
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => {
                assert!(body.get("nextLink").is_some_and(Value::is_null), "{body}");
                assert_eq!(page, 2);
                break;
            }
        }
    }
    assert_eq!(
        ids,
        [
            "/providers/Microsoft.Management/managementGroups/landing",
            "/subscriptions/00000000-0000-0000-0000-0000000000a1",
            "/subscriptions/00000000-0000-0000-0000-0000000000a2",
        ]
    );
    let (s, _) = get(format!(
        "{}/providers/Microsoft.Management/managementGroups/nope/descendants?api-version=2023-04-01",
        sim.arm_endpoint()
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = get(format!("{}{path}?api-version=2024-01-01", sim.arm_endpoint())).await;
    assert_eq!((s, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidApiVersionParameter")));
    sim.forbid("/providers/Microsoft.Management/managementGroups/platform", true);
    let (s, body) = get(format!("{}{path}?api-version=2023-04-01", sim.arm_endpoint())).await;
    assert_eq!((s, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("AuthorizationFailed")));
    let r = client
        .post(format!("{}{path}?api-version=2023-04-01", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "forbidden before anything else");
    sim.forbid("/providers/Microsoft.Management/managementGroups/platform", false);
    let r = client
        .post(format!("{}{path}?api-version=2023-04-01", sim.arm_endpoint()))
        .bearer_auth(&tok)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// An MPE created through ARM (`PUT`), as a deployment does: 201 with the MPE provisioning, its PEC at the
/// target later, and the write noted for its event; the same PUT again answers it as it is; a body that
/// names no target is refused 400, a Synapse MPE through ARM 404 (its data plane's).
#[tokio::test]
async fn an_mpe_put_through_arm_is_created_and_noted_for_its_event() {
    let sim = sim().await;
    let tok = token(&sim, "https://management.azure.com").await;
    let adf = format!("{SUB}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks/default/managedPrivateEndpoints/m");
    let body = json!({"properties": {"privateLinkResourceId": STORAGE, "groupId": "blob"}});
    let r = arm_put(&sim, &tok, &adf, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["properties"]["provisioningState"], "Provisioning", "{created:#}");
    assert_eq!(sim.take_created(), vec![adf.clone()]);
    assert!(sim.take_created().is_empty(), "taken once");
    assert_eq!(arm_put(&sim, &tok, &adf, &body).await.status(), StatusCode::OK, "an existing MPE as it is");
    assert!(sim.take_created().is_empty());
    let other = format!("{}n", &adf[..adf.len() - 1]);
    let r = arm_put(&sim, &tok, &other, &json!({"properties": {"groupId": "blob"}})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let syn = format!("{SUB}/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/w/managedVirtualNetworks/default/managedPrivateEndpoints/m");
    assert_eq!(arm_put(&sim, &tok, &syn, &body).await.status(), StatusCode::NOT_FOUND);
    sleep_sim(20).await;
    assert_eq!(sim.mpe_phase(&adf), Some(azure_sim::MpePhase::AwaitingApproval));
    assert_eq!(sim.pecs(STORAGE).len(), 1);
}
