//! Discovery of MPEs that raise no ARM event, on the local simulator: a Synapse workspace's MPE created
//! through the workspace's own data plane (a PUT, no Event Grid event), and a Databricks NCC's private
//! endpoint rule created through the account API, are found by the `MpeDiscover` timer and approved once
//! ready, never before and never a stranger's; one the policy refuses is parked once, not once a minute;
//! with no such source turned on nothing is listed at all.

mod common;

use azure_sim::{synapse, PecStatus};
use common::in_group;
use common::sim::{approved, is_for};
use mpe_approver::resource_id::ResourceId;
use mpe_demo::harness::FABRIC_RULE;
use mpe_demo::Harness;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const SCALE: f64 = 50.0;
const WAIT: Duration = Duration::from_secs(15);
const WORK: &str = "mpe-approvals";
const SUB: &str = "0b5e55ed-0000-4000-8000-00000000d15c";
const OTHER_SUB: &str = "0b5e55ed-0000-4000-8000-00000000d15d";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn workspace(sub: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/rg-syn/providers/Microsoft.Synapse/workspaces/{name}")
}

fn mpe(workspace: &str, name: &str) -> ResourceId {
    common::rid(&format!("{workspace}/managedVirtualNetworks/default/managedPrivateEndpoints/{name}"))
}

/// Create the MPE through the workspace's data plane, as Synapse Studio or `az synapse managed-private-endpoints
/// create` does: `PUT https://{workspace}.dev.azuresynapse.net/managedVirtualNetworks/default/managedPrivateEndpoints/{name}`.
async fn create(h: &Harness, workspace: &str, name: &str, target: &ResourceId) -> Value {
    let ws = workspace.rsplit('/').next().unwrap_or_default();
    let url = format!(
        "{}/managedVirtualNetworks/default/managedPrivateEndpoints/{name}?api-version=2020-12-01",
        h.sim.synapse_endpoint().replace("{workspace}", ws)
    );
    let token = h.sim.issue_token(azure_sim::tokens::SYNAPSE_AUDIENCE);
    let body = json!({"properties": {"privateLinkResourceId": target.as_str(), "groupId": "blob"}});
    let r = reqwest::Client::new().put(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// One `MpeDiscover` run, as the host's timer invokes it.
async fn discover(h: &Harness) -> Value {
    let timer: Map<String, Value> = [(
        "timer".to_string(),
        json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}),
    )]
    .into_iter()
    .collect();
    let inv = h.host.invoke("MpeDiscover", timer, Map::new(), 1).await;
    assert!(inv.success, "{inv:?}");
    inv.reply.as_ref().and_then(|r| r.get("ReturnValue")).cloned().unwrap_or(Value::Null)
}

/// Deliver the work queue's messages until `cond` holds.
async fn until(h: &Harness, what: &str, cond: impl Fn(&Harness) -> bool) {
    let start = Instant::now();
    loop {
        h.host.drain_once(WORK).await.expect("drain");
        if cond(h) {
            return;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}: {:#?}", h.sim.report());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_mpe_created_on_its_data_plane_is_found_and_approved_without_an_event() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB)]).await.unwrap();
    let ws = workspace(SUB, "syn-one");
    h.sim.add_synapse_workspace(&ws).unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stsyn");
    h.sim.add_target(&storage).unwrap();
    // A stranger's private endpoint named as the service names ours, elsewhere: never ours.
    let stranger = h.sim.add_stranger(&storage, "syn-one.pe-lake").unwrap();

    let created = create(&h, &ws, "pe-lake", &storage).await;
    assert_eq!(created["properties"]["provisioningState"], "Provisioning", "{created:#}");
    let id = mpe(&ws, "pe-lake");
    assert!(h.sim.work_messages().is_empty(), "no event, nothing queued yet");

    // The first run finds it still provisioning and gives it a check of its own.
    let run = discover(&h).await;
    assert_eq!((run["enqueued"].as_u64(), run["found"].as_u64()), (Some(1), Some(1)), "not the reserved ones: {run}");
    assert!(h.sim.work_messages().iter().any(|m| is_for(m, &id)));
    until(&h, "the Synapse MPE's approval", |h| approved(h, &id)).await;
    until(&h, "its chain to end", |h| !h.sim.work_messages().iter().any(|m| is_for(m, &id))).await;

    let report = h.sim.report();
    assert!(report.violations.is_empty(), "no race, no stranger: {:#?}", report.violations);
    let pecs = h.sim.pecs(&storage);
    let theirs = pecs.iter().find(|p| p.name == stranger).unwrap();
    assert_eq!(theirs.status, PecStatus::Pending, "the stranger waits");
    // Once the service reports the approval, the next run lists it and queues nothing.
    until(&h, "the MPE to report it", |h| h.sim.mpe_phase(id.as_str()) == Some(azure_sim::MpePhase::Approved)).await;
    let run = discover(&h).await;
    assert_eq!(run["enqueued"].as_u64(), Some(0), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_mpe_the_policy_refuses_is_parked_once_not_every_minute() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB)]).await.unwrap();
    let ws = workspace(SUB, "syn-two");
    h.sim.add_synapse_workspace(&ws).unwrap();
    // A target in another subscription: the default policy (same subscription) refuses it.
    let storage = in_group(OTHER_SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stelse");
    h.sim.add_target(&storage).unwrap();
    create(&h, &ws, "pe-else", &storage).await;
    let id = mpe(&ws, "pe-else");
    // Ready before discovery looks.
    tokio::time::sleep(Duration::from_secs_f64((synapse::PENDING_AFTER.as_secs_f64() + 2.0) / SCALE)).await;
    assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(1));
    until(&h, "the refusal to be parked", |h| h.sim.parked().iter().any(|m| is_for(m, &id))).await;
    for _ in 0..3 {
        assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(0), "not queued again while its chain may run");
    }
    h.host.drain_once(WORK).await.unwrap();
    assert_eq!(h.sim.parked().iter().filter(|m| is_for(m, &id)).count(), 1, "parked once");
    assert!(!approved(&h, &id));
    assert!(h.sim.report().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_source_turned_on_discovery_lists_nothing() {
    let _serial = SERIAL.lock().await;
    let off = [
        ("MPE_SOURCE_SUBSCRIPTIONS", SUB),
        ("MPE_SYNAPSE", "false"),
        ("MPE_DATABRICKS", "false"),
        ("MPE_FABRIC", "false"),
    ];
    let h = Harness::start(SCALE, &off).await.unwrap();
    let ws = workspace(SUB, "syn-off");
    h.sim.add_synapse_workspace(&ws).unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stoff");
    create(&h, &ws, "pe-off", &storage).await;
    let calls = h.sim.report().arm_calls_total;
    let run = discover(&h).await;
    assert!(run.is_null(), "nothing to discover: {run}");
    assert_eq!(h.sim.report().arm_calls_total, calls, "not even the workspaces are listed");
    assert!(h.sim.work_messages().is_empty());
}

/// A workspace whose data plane refuses the approver's token (no Synapse role, or a token from another
/// tenant): the run says which list it could not read and queues nothing; a check of the MPE parks
/// `forbidden` naming the Synapse role it needs; once the role is there, the next run approves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_plane_refusing_the_token_is_reported_and_parks_forbidden_naming_the_synapse_role() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB)]).await.unwrap();
    let ws = workspace(SUB, "syn-refused");
    h.sim.add_synapse_workspace(&ws).unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/strefused");
    h.sim.add_target(&storage).unwrap();
    create(&h, &ws, "pe-refused", &storage).await;
    let id = mpe(&ws, "pe-refused");
    h.sim.refuse_tokens(azure_sim::tokens::SYNAPSE_AUDIENCE, true);

    let run = discover(&h).await;
    assert_eq!((run["enqueued"].as_u64(), run["incomplete"].as_u64()), (Some(0), Some(1)), "{run}");
    // A check all the same (a replay, or a write event of the MPE): parked, not retried, saying why.
    let ev = azure_sim::write_success_event(&id, h.clock.now());
    assert!(h.host.deliver_event(&ev).await.unwrap().success);
    until(&h, "the check to park", |h| h.sim.parked().iter().any(|m| is_for(m, &id))).await;
    let (code, reason) = common::sim::parked_code(&h, &id).unwrap();
    assert_eq!(code, "forbidden", "{reason}");
    assert!(reason.contains("Synapse User") && reason.contains("data plane"), "{reason}");

    h.sim.refuse_tokens(azure_sim::tokens::SYNAPSE_AUDIENCE, false);
    // Past the half second a list read answers every check of the process (`SHARED_FRESH`, simulated time).
    tokio::time::sleep(Duration::from_secs_f64(2.0 / SCALE)).await;
    // The parked check's chain has ended: the memory lets the next run queue it (it was never queued).
    assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(1));
    until(&h, "the approval once the role is there", |h| approved(h, &id)).await;
    assert!(h.sim.report().violations.is_empty());
}

/// An MPE deleted through its data plane while its chain runs (the data plane answers 404 `UnknownError`,
/// as the recorded session shows): the chain ends `deleted`, nothing approved, nothing parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_mpe_deleted_on_its_data_plane_ends_its_chain_deleted() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB)]).await.unwrap();
    let ws = workspace(SUB, "syn-gone");
    h.sim.add_synapse_workspace(&ws).unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stgone");
    h.sim.add_target(&storage).unwrap();
    create(&h, &ws, "pe-gone", &storage).await;
    let id = mpe(&ws, "pe-gone");
    assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(1));
    let url = format!(
        "{}/managedVirtualNetworks/default/managedPrivateEndpoints/pe-gone?api-version=2020-12-01",
        h.sim.synapse_endpoint().replace("{workspace}", "syn-gone")
    );
    let token = h.sim.issue_token(azure_sim::tokens::SYNAPSE_AUDIENCE);
    let r = reqwest::Client::new().delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let r = reqwest::Client::new().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UnknownError");
    let mut logs = Vec::new();
    let start = Instant::now();
    while h.sim.work_messages().iter().any(|m| is_for(m, &id)) {
        for r in h.host.drain_once(WORK).await.unwrap() {
            logs.extend(r.logs);
        }
        assert!(start.elapsed() < WAIT, "its chain did not end: {logs:#?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!approved(&h, &id));
    assert!(!h.sim.parked().iter().any(|m| is_for(m, &id)));
    assert!(logs.iter().any(|l| l.contains("pe-gone") && l.contains("\"outcome\":\"deleted\"")), "{logs:#?}");
}

const ACCOUNT: &str = "449e7a5c-69d3-4b8a-aaaf-5c9b713ebc65";
const NCC: &str = "d6df3889-eefc-4ddb-bbb4-613efcb30035";

/// Create a private endpoint rule through the Databricks account API, as the account console or
/// `databricks account network-connectivity create-private-endpoint-rule` does.
async fn create_rule(h: &Harness, target: &ResourceId) -> Value {
    let url = format!(
        "{}/api/2.0/accounts/{ACCOUNT}/network-connectivity-configs/{NCC}/private-endpoint-rules",
        h.sim.databricks_endpoint()
    );
    let token = h.sim.issue_token(azure_sim::tokens::DATABRICKS_AUDIENCE);
    let body = json!({"resource_id": target.as_str(), "group_id": "blob"});
    let r = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// A Databricks NCC's private endpoint rule, created through the account API (no Azure event): the NCC
/// `MPE_DATABRICKS_NCCS` names is listed by `MpeDiscover`, the rule approved once `PENDING`, from the private
/// endpoint its `endpoint_name` names, never a stranger's of another name, never before; a second NCC of the
/// account the setting does not name is never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_databricks_rule_created_on_the_account_api_is_found_and_approved_without_an_event() {
    let _serial = SERIAL.lock().await;
    let home = format!("/subscriptions/{SUB}/resourceGroups/rg-dbx");
    let nccs = format!("{ACCOUNT}/{NCC}@{home}");
    let h = Harness::start(SCALE, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB), ("MPE_DATABRICKS_NCCS", &nccs)]).await.unwrap();
    let ncc = h.sim.add_databricks_ncc(ACCOUNT, NCC, &home).unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stdbx");
    h.sim.add_target(&storage).unwrap();
    let rule = create_rule(&h, &storage).await;
    assert_eq!(rule["connection_state"], "CREATING", "{rule:#}");
    let id = common::rid(&format!("{ncc}/privateEndpointRules/{}", rule["rule_id"].as_str().unwrap()));
    // A stranger's private endpoint at the target, pending too, of another name.
    let stranger = h.sim.add_stranger(&storage, "databricks-00000000-0000-0000-0000-000000000000-pe-00000000").unwrap();
    assert!(h.sim.work_messages().is_empty(), "no event, nothing queued yet");

    let run = discover(&h).await;
    assert_eq!((run["enqueued"].as_u64(), run["found"].as_u64()), (Some(1), Some(1)), "{run}");
    until(&h, "the rule's approval", |h| approved(h, &id)).await;
    until(&h, "its chain to end", |h| !h.sim.work_messages().iter().any(|m| is_for(m, &id))).await;
    let report = h.sim.report();
    assert!(report.violations.is_empty(), "no race, no stranger: {:#?}", report.violations);
    let theirs = h.sim.pecs(&storage).into_iter().find(|p| p.name == stranger).unwrap();
    assert_eq!(theirs.status, PecStatus::Pending, "the stranger waits");
    until(&h, "the rule to report it", |h| h.sim.mpe_phase(id.as_str()) == Some(azure_sim::MpePhase::Approved)).await;
    assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(0), "ESTABLISHED: nothing to queue");
}

/// The account API's list in pages of two (`next_page_token`): every rule is found and queued; a token the
/// account API refuses (the identity is no account admin) parks a rule's check `forbidden` naming the role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_databricks_list_of_many_pages_is_read_whole_and_a_refused_token_parks_forbidden() {
    let _serial = SERIAL.lock().await;
    let home = format!("/subscriptions/{SUB}/resourceGroups/rg-dbx");
    let nccs = format!("{ACCOUNT}/{NCC}@{home}");
    let options = azure_sim::SimOptions { list_page_size: Some(2), ..Default::default() };
    let h = Harness::start_with(SCALE, &[("MPE_SOURCE_SUBSCRIPTIONS", SUB), ("MPE_DATABRICKS_NCCS", &nccs)], options)
        .await
        .unwrap();
    let ncc = h.sim.add_databricks_ncc(ACCOUNT, NCC, &home).unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stpages");
    h.sim.add_target(&storage).unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let rule = create_rule(&h, &storage).await;
        ids.push(common::rid(&format!("{ncc}/privateEndpointRules/{}", rule["rule_id"].as_str().unwrap())));
    }
    let run = discover(&h).await;
    assert_eq!(
        (run["found"].as_u64(), run["enqueued"].as_u64(), run["incomplete"].as_u64()),
        (Some(5), Some(5), Some(0)),
        "{run}"
    );

    h.sim.refuse_tokens(azure_sim::tokens::DATABRICKS_AUDIENCE, true);
    until(&h, "the checks to park", |h| ids.iter().all(|id| h.sim.parked().iter().any(|m| is_for(m, id)))).await;
    let (code, reason) = common::sim::parked_code(&h, &ids[0]).unwrap();
    assert_eq!(code, "forbidden", "{reason}");
    assert!(reason.contains("account admin"), "{reason}");
    assert!(ids.iter().all(|id| !approved(&h, id)));
}

const FABRIC_WORKSPACE: &str = "47482db6-4583-4672-86dd-999d0f8f4d7a";

/// Create a managed private endpoint through the Fabric REST API, as the workspace settings page or
/// `POST https://api.fabric.microsoft.com/v1/workspaces/{id}/managedPrivateEndpoints` does.
async fn create_fabric(h: &Harness, name: &str, target: &ResourceId) -> Value {
    let url = format!("{}/v1/workspaces/{FABRIC_WORKSPACE}/managedPrivateEndpoints", h.sim.fabric_endpoint());
    let token = h.sim.issue_token(azure_sim::tokens::FABRIC_AUDIENCE);
    let body = json!({
        "name": name,
        "targetPrivateLinkResourceId": target.as_str(),
        "targetSubresourceType": "blob",
        "requestMessage": format!("Fabric {name}"),
    });
    let r = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("location").is_some(), "a create answers its Location");
    r.json().await.unwrap()
}

/// Fabric MPEs created through the Fabric REST API (no Azure event), the workspace's list in pages of two
/// (`continuationUri`): `MpeDiscover` finds every one. Under the operator's naming rule each is approved
/// once it reports Pending, from the private endpoint the rule names, never a stranger's, and a token the
/// API refuses parks `forbidden` naming the workspace role; without the rule
/// nothing ties a PEC to a Fabric MPE, so each is parked `evidence-mismatch` once, naming the setting, and
/// nothing is approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fabric_mpes_are_found_and_approved_only_under_the_operators_naming_rule() {
    let _serial = SERIAL.lock().await;
    let home = format!("/subscriptions/{SUB}/resourceGroups/rg-fabric");
    let workspaces = format!("{FABRIC_WORKSPACE}@{home}");
    let options = || azure_sim::SimOptions { list_page_size: Some(2), ..Default::default() };
    for rule in [Some(FABRIC_RULE), None] {
        let mut settings = vec![("MPE_SOURCE_SUBSCRIPTIONS", SUB), ("MPE_FABRIC_WORKSPACES", workspaces.as_str())];
        settings.push(("MPE_ENDPOINT_NAMES", rule.unwrap_or_default()));
        let h = Harness::start_with(SCALE, &settings, options()).await.unwrap();
        let workspace = h.sim.add_fabric_workspace(FABRIC_WORKSPACE, &home).unwrap();
        let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stfabric");
        h.sim.add_target(&storage).unwrap();
        let mut ids = Vec::new();
        for name in ["lake", "sql", "blob"] {
            let mpe = create_fabric(&h, name, &storage).await;
            assert_eq!((mpe["provisioningState"].as_str(), mpe.get("connectionState")), (Some("Provisioning"), None));
            ids.push(common::rid(&format!("{workspace}/managedPrivateEndpoints/{}", mpe["id"].as_str().unwrap())));
        }
        // A stranger's private endpoint at the target, pending too.
        let stranger = h.sim.add_stranger(&storage, "fabric-lookalike").unwrap();
        assert!(h.sim.work_messages().is_empty(), "no event, nothing queued yet");

        let run = discover(&h).await;
        assert_eq!(
            (run["found"].as_u64(), run["enqueued"].as_u64(), run["incomplete"].as_u64()),
            (Some(3), Some(3), Some(0)),
            "{run}"
        );
        match rule {
            Some(_) => {
                until(&h, "the approvals", |h| ids.iter().all(|id| approved(h, id))).await;
                let report = h.sim.report();
                assert!(report.violations.is_empty(), "no race, no stranger: {:#?}", report.violations);
                // A token the Fabric API refuses (no workspace role): the check parks `forbidden` naming it.
                let late = create_fabric(&h, "late", &storage).await;
                let late =
                    common::rid(&format!("{workspace}/managedPrivateEndpoints/{}", late["id"].as_str().unwrap()));
                assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(1));
                h.sim.refuse_tokens(azure_sim::tokens::FABRIC_AUDIENCE, true);
                until(&h, "the check to park", |h| h.sim.parked().iter().any(|m| is_for(m, &late))).await;
                let (code, reason) = common::sim::parked_code(&h, &late).unwrap();
                assert_eq!(code, "forbidden", "{reason}");
                assert!(reason.contains("viewer role"), "{reason}");
                assert!(!approved(&h, &late));
            }
            None => {
                until(&h, "the checks to park", |h| ids.iter().all(|id| h.sim.parked().iter().any(|m| is_for(m, id))))
                    .await;
                let (code, reason) = common::sim::parked_code(&h, &ids[0]).unwrap();
                assert_eq!(code, "evidence-mismatch", "{reason}");
                assert!(reason.contains("MPE_ENDPOINT_NAMES"), "{reason}");
                assert!(ids.iter().all(|id| !approved(&h, id)), "nothing approved without the rule");
                assert_eq!(discover(&h).await["enqueued"].as_u64(), Some(0), "parked once, not once a minute");
            }
        }
        let theirs = h.sim.pecs(&storage).into_iter().find(|p| p.name == stranger).unwrap();
        assert_eq!(theirs.status, PecStatus::Pending, "the stranger waits");
    }
}
