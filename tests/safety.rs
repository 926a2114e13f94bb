//! The adversarial suite: a stranger's connection is never approved, a decision is only taken on
//! a complete list, the approval policy holds by default, and a human's decision is never overwritten.
//!
//! A scripted ARM (axum on loopback) serves exactly the bodies each case needs — shapes as in the official
//! REST examples (MPE bodies per provider, PEC bodies of Storage and Key Vault, `Tags - Get At Scope`) —
//! and records every request. The real handler (`MpeCheck` through the router) runs against it with a
//! recording queue sender and a fixed clock whose sleeps take no time.

mod common;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common::doubles::{Fixed, Recorder, Tokens};
use mpe_approver::arm::ArmClient;
use mpe_approver::clock::Clock;
use mpe_approver::config::Config;
use mpe_approver::handler::{router, App};
use mpe_approver::pec;
use mpe_approver::providers::{registry, Provider};
use mpe_approver::resource_id::ResourceId;
use mpe_approver::servicebus::{props, OutgoingMessage};
use mpe_approver::workitem::{Origin, WorkItem};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const NOW: &str = "2026-11-23T10:00:00Z";
/// When the MPEs here were created (`systemData.createdAt`, where the service reports it): ten minutes
/// before [`NOW`].
const CREATED: &str = "2026-11-23T09:50:00Z";
const SUB_A: &str = "00000000-0000-0000-0000-00000000000a";
const SUB_B: &str = "00000000-0000-0000-0000-00000000000b";
/// The Microsoft-managed subscription a managed private endpoint lives in.
const MANAGED: &str = "9f8e7d6c-5b4a-4321-8fed-cba987654321";
/// A subscription nobody configured: an attacker's, in another tenant.
const ATTACKER: &str = "00000000-0000-0000-0000-0000000000ff";
const MSG: &str = "Please approve, from the platform team";

// ---- the scripted ARM ----------------------------------------------------------------------------------

#[derive(Default)]
struct Arm {
    /// MPE bodies by lower-case id.
    mpes: HashMap<String, Value>,
    /// PEC bodies by lower-case target id, in list order.
    pecs: HashMap<String, Vec<Value>>,
    /// Tags by lower-case target id.
    tags: HashMap<String, Value>,
    /// PECs per list page (0: all on one page).
    page_size: usize,
    /// This page number (2 = the first nextLink) answers 500.
    failing_page: Option<usize>,
    /// After the n-th GET of a single PEC, a human rejects it (a new ETag where it has one).
    reject_after_pec_get: Option<usize>,
    pec_gets: usize,
    /// After the n-th read of a target's PEC list (its list or, Key Vault, its GET), a human rejects the
    /// listed PECs (a new ETag where they have one).
    reject_after_list: Option<usize>,
    pec_lists: usize,
    /// Answers for the next PUTs, in order, before the normal behaviour (status, ARM error code).
    put_faults: Vec<(u16, &'static str)>,
    /// The first n reads of an MPE answer 404 (a read replica behind the write).
    mpe_missing_reads: usize,
    /// Answers for the next GETs (any resource), in order, before the normal behaviour.
    read_faults: Vec<u16>,
    /// An approving PUT is accepted and applied slowly: answered 202 without a body (`Some(202)`) or 200
    /// with the PEC `Updating` (`Some(200)`); the PEC reads `Updating` until `updating_gets` more GETs.
    slow_put: Option<u16>,
    updating_gets: usize,
    /// Every request: method, path, If-Match, body.
    log: Vec<(String, String, Option<String>, Option<Value>)>,
    base: String,
}

type Shared = Arc<Mutex<Arm>>;

/// A human rejects the PEC: its state, and its ETag where it has one.
fn reject(p: &mut Value) {
    p["properties"]["privateLinkServiceConnectionState"]["status"] = json!("Rejected");
    p["properties"]["privateLinkServiceConnectionState"]["description"] = json!("Rejected by the owner");
    if p.get("etag").is_some() {
        p["etag"] = json!("\"etag-after-rejection\"");
    }
}

/// A read of `target`'s PEC list was answered: after the scripted one, a human rejects its PECs.
fn listed_once(arm: &mut Arm, target: &str) {
    arm.pec_lists += 1;
    if arm.reject_after_list == Some(arm.pec_lists) {
        arm.pecs.get_mut(target).into_iter().flatten().for_each(reject);
    }
}

fn arm_error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

async fn serve_arm(State(st): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let lower = path.to_ascii_lowercase();
    let if_match = headers.get("if-match").and_then(|v| v.to_str().ok()).map(str::to_string);
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let mut arm = st.lock().unwrap();
    arm.log.push((method.to_string(), path.clone(), if_match.clone(), json_body.clone()));
    // Synapse's data plane (`MPE_SYNAPSE_ENDPOINT` = `{base}/synapse/{workspace}`), which keeps an MPE under
    // its ARM-shaped id: the path under the workspace's host, read as that id.
    let lower = match lower.strip_prefix("/synapse/").and_then(|rest| rest.split_once('/')) {
        Some((workspace, rest)) => {
            let suffix = format!("/providers/microsoft.synapse/workspaces/{workspace}");
            let ws = arm.mpes.keys().find_map(|k| k.find(&suffix).map(|i| k[..i + suffix.len()].to_string()));
            format!("{}/{rest}", ws.unwrap_or_default())
        }
        None => lower,
    };
    // The Databricks account API (`MPE_DATABRICKS_ENDPOINT` = `{base}/databricks`): a rule, read as the
    // approver names it (`.../accounts/{a}/networkConnectivityConfigs/{n}/privateEndpointRules/{r}`).
    let lower = match lower.strip_prefix("/databricks/api/2.0/accounts/").map(|r| r.split('/').collect::<Vec<_>>()) {
        Some(segs) if segs.len() == 5 && segs[1] == "network-connectivity-configs" => {
            let suffix = format!(
                "/accounts/{}/networkconnectivityconfigs/{}/privateendpointrules/{}",
                segs[0], segs[2], segs[4]
            );
            arm.mpes.keys().find(|k| k.ends_with(&suffix)).cloned().unwrap_or_default()
        }
        _ => lower,
    };
    // The Fabric REST API (`MPE_FABRIC_ENDPOINT` = `{base}/fabric`): an MPE or a workspace's list, read as
    // the approver names them (`.../workspaces/{w}/managedPrivateEndpoints[/{id}]`).
    let lower = match lower.strip_prefix("/fabric/v1/workspaces/").map(|r| r.split('/').collect::<Vec<_>>()) {
        Some(segs) if matches!(segs.len(), 2 | 3) && segs[1] == "managedprivateendpoints" => {
            let suffix = format!("/workspaces/{}/managedprivateendpoints", segs[0]);
            let suffix = segs.get(2).map_or(suffix.clone(), |id| format!("{suffix}/{id}"));
            let mpe = arm.mpes.keys().find(|k| k.ends_with(&suffix) || k.contains(&format!("{suffix}/")));
            mpe.map(|k| k[..k.find(&suffix).unwrap_or(0) + suffix.len()].to_string()).unwrap_or_default()
        }
        _ => lower,
    };
    if method == Method::GET && !arm.read_faults.is_empty() {
        let status = arm.read_faults.remove(0);
        if status == 403 {
            return arm_error(403, "AuthorizationFailed", "The client does not have authorization to perform action.");
        }
        return arm_error(status, "Conflict", "The resource is being updated; retry the read.");
    }
    if let Some(target) = lower.strip_suffix("/providers/microsoft.resources/tags/default") {
        let tags = arm.tags.get(target).cloned().unwrap_or_else(|| json!({}));
        return Json(
            json!({"id": path, "name": "default", "type": "Microsoft.Resources/tags", "properties": {"tags": tags}}),
        )
        .into_response();
    }
    // A parent's MPE list (`{parent}/{mpeType}`): the MPEs one level under it, none while their reads
    // answer 404 (a read replica behind the write).
    let children: Vec<Value> = arm
        .mpes
        .iter()
        .filter(|(id, _)| id.strip_prefix(&format!("{lower}/")).is_some_and(|rest| !rest.contains('/')))
        .map(|(_, body)| body.clone())
        .collect();
    if method == Method::GET && !children.is_empty() {
        let value = if arm.mpe_missing_reads > 0 { vec![] } else { children };
        return Json(json!({ "value": value })).into_response();
    }
    if let Some(m) = arm.mpes.get(&lower).cloned() {
        if arm.mpe_missing_reads > 0 {
            arm.mpe_missing_reads -= 1;
            return arm_error(404, "ResourceNotFound", "not there yet");
        }
        return Json(m).into_response();
    }
    // Key Vault (and others) list their connections in the parent's GET.
    if let Some(pecs) = arm.pecs.get(&lower).cloned() {
        listed_once(&mut arm, &lower);
        return Json(json!({"id": path, "name": path.rsplit('/').next(), "location": "westeurope",
            "properties": {"provisioningState": "Succeeded", "privateEndpointConnections": pecs}}))
        .into_response();
    }
    if let Some(target) = lower.strip_suffix("/privateendpointconnections") {
        let Some(all) = arm.pecs.get(target).cloned() else { return arm_error(404, "ResourceNotFound", "no target") };
        listed_once(&mut arm, target);
        let page: usize =
            query.split('&').find_map(|kv| kv.strip_prefix("$skiptoken=")).and_then(|n| n.parse().ok()).unwrap_or(1);
        if arm.failing_page == Some(page) {
            return arm_error(500, "InternalServerError", "page failed");
        }
        if arm.page_size == 0 {
            return Json(json!({"value": all})).into_response();
        }
        let items: Vec<Value> = all.iter().skip((page - 1) * arm.page_size).take(arm.page_size).cloned().collect();
        let mut v = json!({"value": items});
        if page * arm.page_size < all.len() {
            v["nextLink"] = json!(format!("{}{path}?api-version=2023-05-01&$skiptoken={}", arm.base, page + 1));
        }
        return Json(v).into_response();
    }
    // A service's refresh of its MPEs (Grafana): each MPE under the parent whose connection (the PEC from
    // the private endpoint the simulated service names for it, or one carrying our marker for it: a test
    // may name endpoints otherwise) is approved now reports it.
    if method == Method::POST {
        if let Some(parent) = lower.strip_suffix("/refreshmanagedprivateendpoints") {
            let prefix = format!("{parent}/");
            let approved: Vec<String> = arm
                .mpes
                .iter()
                .filter(|(id, _)| id.starts_with(&prefix))
                .filter_map(|(id, body)| {
                    let sim_id = azure_sim::ResourceId::parse(body["id"].as_str()?).ok()?;
                    let endpoint = format!("/{}", azure_sim::MpeType::of(&sim_id)?.endpoint_name(&sim_id));
                    let target = body.pointer("/properties/privateLinkResourceId")?.as_str()?.to_ascii_lowercase();
                    let mpe = ResourceId::parse(body["id"].as_str()?).ok()?;
                    let ours = arm.pecs.get(&target)?.iter().any(|p| {
                        let named = p
                            .pointer("/properties/privateEndpoint/id")
                            .and_then(Value::as_str)
                            .is_some_and(|e| e.ends_with(&endpoint));
                        let marked = pec::parse_pec(p).is_ok_and(|p| pec::carries_marker(&p, &mpe));
                        (named || marked)
                            && p.pointer("/properties/privateLinkServiceConnectionState/status")
                                == Some(&json!("Approved"))
                    });
                    ours.then(|| id.clone())
                })
                .collect();
            for id in approved {
                if let Some(status) =
                    arm.mpes.get_mut(&id).and_then(|b| b.pointer_mut("/properties/connectionState/status"))
                {
                    *status = json!("Approved");
                }
            }
            return StatusCode::ACCEPTED.into_response();
        }
    }
    // a single PEC
    let Some((target, _)) = lower.rsplit_once("/privateendpointconnections/") else {
        return arm_error(404, "ResourceNotFound", "not scripted");
    };
    let target = target.to_string();
    let Some(idx) = arm
        .pecs
        .get(&target)
        .and_then(|l| l.iter().position(|p| p["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&path))))
    else {
        return arm_error(404, "PrivateEndpointConnectionNotFound", "no such PEC");
    };
    match method {
        Method::GET => {
            arm.pec_gets += 1;
            if arm.updating_gets > 0 {
                arm.updating_gets -= 1;
                if arm.updating_gets == 0 {
                    arm.pecs.get_mut(&target).unwrap()[idx]["properties"]["provisioningState"] = json!("Succeeded");
                }
            }
            let current = arm.pecs[&target][idx].clone();
            if arm.reject_after_pec_get == Some(arm.pec_gets) {
                reject(&mut arm.pecs.get_mut(&target).unwrap()[idx]);
            }
            Json(current).into_response()
        }
        Method::PUT => {
            if !arm.put_faults.is_empty() {
                let (status, code) = arm.put_faults.remove(0);
                return arm_error(status, code, "scripted PUT failure");
            }
            let current = &arm.pecs[&target][idx];
            if let (Some(want), Some(have)) = (&if_match, current.get("etag").and_then(Value::as_str)) {
                if want != have {
                    return arm_error(412, "PreconditionFailed", "The resource was changed since it was read.");
                }
            }
            let Some(mut new) = json_body else { return arm_error(400, "InvalidRequestContent", "not JSON") };
            if new.get("etag").is_some() {
                new["etag"] = json!("\"etag-after-approval\"");
            }
            if arm.slow_put.is_some() {
                new["properties"]["provisioningState"] = json!("Updating");
            }
            arm.pecs.get_mut(&target).unwrap()[idx] = new.clone();
            match arm.slow_put {
                Some(202) => StatusCode::ACCEPTED.into_response(),
                _ => Json(new).into_response(),
            }
        }
        _ => arm_error(405, "MethodNotAllowed", "not scripted"),
    }
}

async fn start_arm(arm: Arm) -> (Shared, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let st: Shared = Arc::new(Mutex::new(Arm { base: base.clone(), ..arm }));
    let app = axum::Router::new().fallback(serve_arm).with_state(st.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (st, base)
}

// ---- the handler's side --------------------------------------------------------------------------------

struct Run {
    status: StatusCode,
    reply: Value,
    sent: Vec<(String, OutgoingMessage)>,
}

impl Run {
    fn result(&self) -> &str {
        self.reply["ReturnValue"].as_str().unwrap_or("")
    }
    fn logs(&self) -> String {
        self.reply["Logs"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
    fn parked(&self) -> Option<(String, String)> {
        self.sent.iter().find(|(q, _)| q == "mpe-approvals-parked").map(|(_, m)| {
            let get = |k: &str| m.properties.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            (get(props::PARK_CODE), get(props::PARK_REASON))
        })
    }
    fn audit(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|l| l.strip_prefix("INFO: mpe.audit "))
            .map(|j| serde_json::from_str(j).unwrap())
            .collect()
    }
}

/// One `MpeCheck` invocation for `mpe` with `settings`; for a service whose MPE reports an approval only
/// after a refresh (Grafana), a check that asked for it and the next one (the logs and messages of both,
/// the answer of the second).
async fn check(base: &str, mpe: &ResourceId, settings: &[(&str, &str)]) -> Run {
    let item = WorkItem::new(mpe.clone(), NOW.parse().unwrap(), "corr-safety".into(), Origin::EventGrid);
    let first = check_item(base, &item, settings).await;
    let refreshes = mpe_approver::providers::for_id(mpe).is_some_and(|p| p.refresh(mpe).is_some());
    let next =
        first.sent.iter().filter(|(q, _)| q == "mpe-approvals").find_map(|(_, m)| WorkItem::from_json(&m.body).ok());
    let (true, "check again", Some(next)) = (refreshes, first.result(), next) else { return first };
    let mut second = check_item(base, &next, settings).await;
    let mut logs = first.reply["Logs"].as_array().cloned().unwrap_or_default();
    logs.extend(second.reply["Logs"].as_array().cloned().unwrap_or_default());
    second.reply["Logs"] = Value::Array(logs);
    second.sent = first.sent.into_iter().chain(second.sent).collect();
    second
}

/// One `MpeCheck` invocation of `item` against the scripted ARM, at [`NOW`].
async fn check_item(base: &str, item: &WorkItem, settings: &[(&str, &str)]) -> Run {
    let mut env: HashMap<String, String> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("MPE_ARM_ENDPOINT".into(), base.to_string());
    // Every provider is tried here, the opt-in ones too, unless a test says otherwise.
    env.entry("MPE_CUSTOMER_ENDPOINTS".into()).or_insert_with(|| "true".into());
    env.entry("MPE_SYNAPSE".into()).or_insert_with(|| "true".into());
    env.insert("MPE_SYNAPSE_ENDPOINT".into(), format!("{base}/synapse/{{workspace}}"));
    env.entry("MPE_DATABRICKS".into()).or_insert_with(|| "true".into());
    env.insert("MPE_DATABRICKS_ENDPOINT".into(), format!("{base}/databricks"));
    env.entry("MPE_FABRIC".into()).or_insert_with(|| "true".into());
    env.insert("MPE_FABRIC_ENDPOINT".into(), format!("{base}/fabric"));
    // Fabric publishes nothing that ties a PEC to its MPE: its MPEs are tried under the operator's rule
    // naming the simulated service's private endpoints, unless a test names Fabric's rule itself or sets
    // no rule at all (`""`).
    match env.get_mut("MPE_ENDPOINT_NAMES") {
        None => drop(env.insert("MPE_ENDPOINT_NAMES".into(), FABRIC_RULE.into())),
        Some(names) if !names.is_empty() && !names.contains(FABRIC_TYPE) => names.push_str(&format!(";{FABRIC_RULE}")),
        Some(_) => {}
    }
    env.insert("MPE_SERVICEBUS_ENDPOINT".into(), "http://127.0.0.1:9/sb".into());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(Fixed::instant(NOW));
    let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(Tokens::Fixed), clock.clone())
        .unwrap();
    let sender = Arc::new(Recorder::default());
    let app = Arc::new(App::from_parts(config, arm, sender.clone(), clock.clone()));
    let body = json!({"Data": {"message": item.to_json()}, "Metadata": {"DeliveryCount": 1, "MessageId": "m1"}});
    let req = Request::post("/MpeCheck").header("content-type", "application/json").body(Body::from(body.to_string()));
    let resp = router(app).oneshot(req.unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    let sent = sender.sent.lock().unwrap().clone();
    Run { status, reply, sent }
}

/// Fabric's MPE type, and the operator's naming rule the checks here run under unless a test sets its own:
/// the simulated service's name for the private endpoint (`fabric-{workspace}-{mpe}`).
const FABRIC_TYPE: &str = "MpeApprover.Fabric/workspaces/managedPrivateEndpoints";
const FABRIC_RULE: &str = "MpeApprover.Fabric/workspaces/managedPrivateEndpoints=fabric-{parent}-{mpe}";

/// Whether the checks here name the service's private endpoints by the operator's rule ([`FABRIC_RULE`]).
fn operator_named(service: Service) -> bool {
    service.provider.resource_type() == FABRIC_TYPE
}

/// The incarnation tag our marker carries for an MPE of `service` created at `created`, as the approver
/// derives it from the service's body; `None` where the body does not say when the MPE was created.
fn incarnation(service: Service, created: &str) -> Option<String> {
    let mpe = mpe_id(service, SUB_A, "mpe-inc");
    let st = storage(SUB_A, "st1");
    let mut body = mpe_body(service, &mpe, &st);
    if body.pointer("/systemData/createdAt").is_some() {
        body["systemData"]["createdAt"] = json!(created);
    }
    // A service that reports when as epoch milliseconds (Databricks' `creation_time`).
    if body.get("creation_time").is_some() {
        let at: chrono::DateTime<chrono::Utc> = created.parse().unwrap();
        body["creation_time"] = json!(at.timestamp_millis());
    }
    service.provider.parse(&mpe, &body).unwrap().incarnation()
}

fn puts(arm: &Shared) -> Vec<(String, Option<String>, Value)> {
    arm.lock()
        .unwrap()
        .log
        .iter()
        .filter(|(m, ..)| m == "PUT")
        .map(|(_, p, im, b)| (p.clone(), im.clone(), b.clone().unwrap_or(Value::Null)))
        .collect()
}

fn status_of(arm: &Shared, target: &ResourceId, pec_name: &str) -> String {
    let a = arm.lock().unwrap();
    let p = a.pecs[&target.key()].iter().find(|p| p["name"] == pec_name).unwrap();
    p["properties"]["privateLinkServiceConnectionState"]["status"].as_str().unwrap().to_string()
}

// ---- bodies, as the official examples shape them --------------------------------------------------------

fn rid(s: &str) -> ResourceId {
    ResourceId::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn storage(sub: &str, name: &str) -> ResourceId {
    rid(&format!("/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/{name}"))
}

fn vault(sub: &str, name: &str) -> ResourceId {
    rid(&format!("/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.KeyVault/vaults/{name}"))
}

/// A provider of the registry and its simulated service: the approver's adapter, and the bodies the
/// service answers and the private endpoint it names (`crates/azure-sim/src/mpe/`).
#[derive(Clone, Copy)]
struct Service {
    provider: &'static dyn Provider,
    sim: azure_sim::MpeType,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.provider.service())
    }
}

/// Every provider of the registry, each with the simulated service of its type.
fn services() -> Vec<Service> {
    registry()
        .iter()
        .map(|&provider| {
            let id = mpe_id_of(provider, SUB_A, "m");
            let sim = azure_sim::ResourceId::parse(id.as_str()).ok().and_then(|i| azure_sim::MpeType::of(&i));
            Service { provider, sim: sim.unwrap_or_else(|| panic!("the simulator does not serve {id}")) }
        })
        .collect()
}

/// The services whose MPE does not report its connection: the target's PEC decides, once per
/// incarnation of the MPE (at least one is registered).
fn services_asking_the_target() -> Vec<Service> {
    let asking: Vec<Service> = services().into_iter().filter(|s| !s.provider.reports_connection()).collect();
    assert!(!asking.is_empty(), "no registered provider leaves the connection to the target");
    asking
}

/// A service whose MPE carries its request message, for cases about the evidence it gives.
fn a_service_with_a_request_message() -> Service {
    let st = storage(SUB_A, "st1");
    services()
        .into_iter()
        .find(|&s| {
            let mpe = mpe_id(s, SUB_A, "m");
            s.provider.parse(&mpe, &mpe_body(s, &mpe, &st)).is_ok_and(|v| v.request_message.is_some())
        })
        .expect("a registered provider whose MPE carries its request message")
}

/// A service, for cases that hold whatever the service: the registry's first.
fn any_service() -> Service {
    services()[0]
}

fn mpe_id_of(provider: &dyn Provider, sub: &str, name: &str) -> ResourceId {
    common::mpe_of_type(provider.resource_type(), sub, "rg-mpe", name)
}

fn mpe_id(service: Service, sub: &str, name: &str) -> ResourceId {
    mpe_id_of(service.provider, sub, name)
}

/// The private endpoint's name as the service gives it.
fn endpoint_name(service: Service, mpe: &ResourceId) -> String {
    service.sim.endpoint_name(&azure_sim::ResourceId::parse(mpe.as_str()).unwrap())
}

/// The MPE body in `phase`, in the service's own vocabulary: towards `target`, group `blob`, request
/// message [`MSG`], created at [`CREATED`].
fn mpe_body_in(service: Service, id: &ResourceId, target: &ResourceId, phase: azure_sim::MpePhase) -> Value {
    mpe_body_saying(service, id, target, phase, MSG)
}

/// [`mpe_body_in`] with the request message `message`.
fn mpe_body_saying(
    service: Service,
    id: &ResourceId,
    target: &ResourceId,
    phase: azure_sim::MpePhase,
    message: &str,
) -> Value {
    let sim_id = azure_sim::ResourceId::parse(id.as_str()).unwrap();
    let sim_target = azure_sim::ResourceId::parse(target.as_str()).unwrap();
    // The private endpoint the service created, for a service that reports it (Synapse, Databricks).
    let endpoint = our_endpoint(service, id);
    let facts = azure_sim::MpeFacts {
        id: &sim_id,
        target: &sim_target,
        group_id: "blob",
        request_message: message,
        name: id.name(),
        created_at: CREATED.parse().unwrap(),
        endpoint_id: &endpoint,
    };
    service.sim.render(&facts, phase)
}

/// The MPE body reporting "waiting for approval" (or only "provisioned", where the MPE does not report
/// its connection).
fn mpe_body(service: Service, id: &ResourceId, target: &ResourceId) -> Value {
    mpe_body_in(service, id, target, azure_sim::MpePhase::AwaitingApproval)
}

/// A PEC at `target` from private endpoint `endpoint` in `endpoint_sub` (or from `endpoint` itself, a
/// full id); Key Vault's carry an ETag.
fn pec_body(target: &ResourceId, name: &str, endpoint_sub: &str, endpoint: &str, status: &str, desc: &str) -> Value {
    let is_vault = target.is_type("Microsoft.KeyVault/vaults");
    let endpoint_id = if endpoint.starts_with('/') {
        endpoint.to_string()
    } else {
        format!("/subscriptions/{endpoint_sub}/resourceGroups/managed-rg/providers/Microsoft.Network/privateEndpoints/{endpoint}")
    };
    let mut v = json!({
        "id": format!("{target}/privateEndpointConnections/{name}"),
        "name": name,
        "type": format!("{}/privateEndpointConnections", target.resource_type()),
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpoint": {"id": endpoint_id},
            "privateLinkServiceConnectionState": {"status": status, "description": desc, (if is_vault { "actionsRequired" } else { "actionRequired" }): "None"}
        }
    });
    if is_vault {
        v["etag"] = json!(format!("\"etag-{name}\""));
    }
    v
}

/// A script holding one MPE (waiting for approval) towards `target`, and `pecs` there.
fn scripted(service: Service, mpe: &ResourceId, target: &ResourceId, pecs: Vec<Value>) -> Arm {
    let mut arm = Arm::default();
    arm.mpes.insert(mpe.key(), mpe_body(service, mpe, target));
    arm.pecs.insert(target.key(), pecs);
    arm
}

/// Whether the service's MPE names its private endpoint's full id (a customer's own endpoint, Synapse's
/// `resourceId`): its PEC is tied by that id, no naming rule.
fn tied_by_id(service: Service) -> bool {
    let mpe = mpe_id(service, SUB_A, "mpe-tie");
    let body = mpe_body(service, &mpe, &storage(SUB_A, "st1"));
    service.provider.parse(&mpe, &body).is_ok_and(|v| v.endpoint_id.is_some())
}

/// Whether the service reports its private endpoint's name (Databricks' `endpoint_name`) or its full id:
/// no naming rule of ours decides which PEC is its.
fn reported_endpoint(service: Service) -> bool {
    let mpe = mpe_id(service, SUB_A, "mpe-tie");
    let body = mpe_body(service, &mpe, &storage(SUB_A, "st1"));
    service.provider.parse(&mpe, &body).is_ok_and(|v| v.endpoint_id.is_some() || v.endpoint_name.is_some())
}

/// That script, started.
async fn world(service: Service, mpe: &ResourceId, target: &ResourceId, pecs: Vec<Value>) -> (Shared, String) {
    start_arm(scripted(service, mpe, target, pecs)).await
}

/// The full id of the private endpoint the service creates for the MPE: in the managed subscription, or
/// the MPE itself where it is a customer's own private endpoint.
fn our_endpoint(service: Service, mpe: &ResourceId) -> String {
    if service.sim.own_endpoint() {
        return mpe.to_string();
    }
    let name = endpoint_name(service, mpe);
    format!("/subscriptions/{MANAGED}/resourceGroups/managed-rg/providers/Microsoft.Network/privateEndpoints/{name}")
}

fn ours(service: Service, mpe: &ResourceId, target: &ResourceId, status: &str, desc: &str) -> Value {
    pec_body(target, "ours.1", MANAGED, &our_endpoint(service, mpe), status, desc)
}

fn stranger(service: Service, mpe: &ResourceId, target: &ResourceId, sub: &str) -> Value {
    pec_body(target, "stranger.1", sub, &endpoint_name(service, mpe), "Pending", MSG)
}

// ---- 1. a stranger, named like the MPE, with its request message ------------------------------------------

/// After ours was approved (our marker appended; the service reports its connection approved, where it
/// reports it), a stranger from another subscription with the same name and request message appears; the
/// next check (a replay, a tag update) must end, not approve it, for every provider. (Our marker is
/// appended to the description, so the request message still ties it to the MPE.)
#[tokio::test]
async fn a_stranger_is_never_approved_after_ours_was() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-st");
        let target = storage(SUB_A, "st1");
        let approved_desc = pec::approved_description(Some(MSG), &mpe, incarnation(s, CREATED).as_deref());
        for attacker_sub in [ATTACKER, SUB_A, MANAGED] {
            let pecs =
                vec![ours(s, &mpe, &target, "Approved", &approved_desc), stranger(s, &mpe, &target, attacker_sub)];
            let mut a = scripted(s, &mpe, &target, pecs);
            a.mpes.insert(mpe.key(), mpe_body_in(s, &mpe, &target, azure_sim::MpePhase::Approved));
            let (arm, base) = start_arm(a).await;
            let run = check(&base, &mpe, &[]).await;
            assert_eq!(run.result(), "already approved", "{s:?}, stranger in {attacker_sub}: {}", run.logs());
            assert!(puts(&arm).is_empty(), "{s:?}, stranger in {attacker_sub}: nothing may be PUT");
            assert_eq!(status_of(&arm, &target, "stranger.1"), "Pending");
        }
    }
}

/// The same, while the service still reports its connection pending (it has not caught up with our
/// approval yet): the PEC with our marker is approved, so the stranger is not the MPE's, and the check
/// ends already approved, for every provider.
#[tokio::test]
async fn a_stranger_is_never_approved_while_the_service_lags_behind_our_approval() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-lag");
        let target = storage(SUB_A, "st1");
        let approved_desc = pec::approved_description(Some(MSG), &mpe, incarnation(s, CREATED).as_deref());
        let pecs = vec![ours(s, &mpe, &target, "Approved", &approved_desc), stranger(s, &mpe, &target, ATTACKER)];
        let (arm, base) = world(s, &mpe, &target, pecs).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "already approved", "{s:?}: {}", run.logs());
        assert!(puts(&arm).is_empty(), "{s:?}: nothing may be PUT");
        assert_eq!(status_of(&arm, &target, "stranger.1"), "Pending");
    }
}

/// An MPE whose connection only the target shows: the description an earlier version wrote ("Approved by
/// mpe-approver for <id> ...") counts as ours too.
#[tokio::test]
async fn approvals_of_earlier_versions_are_recognised_at_the_target() {
    for s in services_asking_the_target() {
        let mpe = mpe_id(s, SUB_A, "mpe-legacy");
        let target = storage(SUB_A, "st1");
        let legacy = format!("Approved by mpe-approver for {mpe} (correlation c-old)");
        let pecs = vec![ours(s, &mpe, &target, "Approved", &legacy), stranger(s, &mpe, &target, ATTACKER)];
        let (arm, base) = world(s, &mpe, &target, pecs).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "already approved", "{s:?}: {}", run.logs());
        assert!(puts(&arm).is_empty(), "{s:?}");
    }
}

/// Before ours is approved: a stranger with identical name, group and message from a subscription the
/// configuration names is never a candidate (managed private endpoints live in Microsoft's
/// subscriptions), for every provider; ours is approved.
#[tokio::test]
async fn a_stranger_from_a_known_subscription_is_never_a_candidate() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-known");
        let target = storage(SUB_A, "st1");
        for stranger_sub in [SUB_A, SUB_B] {
            let pecs = vec![stranger(s, &mpe, &target, stranger_sub), ours(s, &mpe, &target, "Pending", MSG)];
            let (arm, base) = world(s, &mpe, &target, pecs).await;
            let settings = [("MPE_ALLOW", format!("same-subscription,/subscriptions/{SUB_B}->/subscriptions/{SUB_A}"))];
            let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let run = check(&base, &mpe, &settings).await;
            assert_eq!(run.result(), "approved", "{s:?}, stranger in {stranger_sub}: {}", run.logs());
            let p = puts(&arm);
            assert_eq!(p.len(), 1, "{s:?}");
            assert!(p[0].0.ends_with("/ours.1"), "{s:?}: approved {}", p[0].0);
            assert_eq!(status_of(&arm, &target, "stranger.1"), "Pending", "{s:?}");
        }
    }
}

/// A stranger from an unknown subscription with identical name, group and message beside ours, before
/// ours is approved: nothing tells them apart, so nothing is approved (every provider whose private
/// endpoint is a managed one, named by a rule or by the service). A private endpoint tied by its full id (a
/// customer's own; Synapse's `resourceId`) cannot be a stranger's in another subscription: ours is
/// approved and the stranger left pending. The same on a Key Vault, whose PECs carry ETags and whose
/// approval PUTs back the list's body without a re-read: only ours is PUT, on its own ETag.
#[tokio::test]
async fn an_indistinguishable_stranger_parks_for_every_provider() {
    for s in services() {
        for target in [storage(SUB_A, "st1"), vault(SUB_A, "kv1")] {
            let mpe = mpe_id(s, SUB_A, "mpe-twin");
            let pecs = vec![stranger(s, &mpe, &target, ATTACKER), ours(s, &mpe, &target, "Pending", MSG)];
            let (arm, base) = world(s, &mpe, &target, pecs).await;
            let run = check(&base, &mpe, &[]).await;
            if s.sim.own_endpoint() || tied_by_id(s) {
                assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
                let p = puts(&arm);
                assert!(p.len() == 1 && p[0].0.ends_with("/ours.1"), "{s:?}: {p:?}");
                if target.is_type("Microsoft.KeyVault/vaults") {
                    assert_eq!(p[0].1.as_deref(), Some("\"etag-ours.1\""), "{s:?}: ours, on its own ETag");
                }
                assert_eq!(status_of(&arm, &target, "stranger.1"), "Pending", "{s:?}");
                continue;
            }
            let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?} not parked: {}", run.logs()));
            assert_eq!(code, "ambiguous", "{s:?}: {reason}");
            assert!(puts(&arm).is_empty(), "{s:?}");
        }
    }
}

/// A Fabric MPE, whose service publishes no private endpoint name, id or request message: without the
/// operator's naming rule nothing ties a PEC to it, so once it reports Pending it is parked
/// `evidence-mismatch` naming `MPE_ENDPOINT_NAMES` and listing the pending PECs at the target with their private
/// endpoints' names, and nothing is approved, even where its own PEC is the only one at the target; while it is
/// still provisioning it waits. With the rule, that PEC is approved.
#[tokio::test]
async fn a_fabric_mpe_without_the_operators_rule_is_parked_never_approved() {
    let s = services().into_iter().find(|s| operator_named(*s)).expect("Fabric in the registry");
    let mpe = mpe_id(s, SUB_A, "mpe-unnamed");
    let target = storage(SUB_A, "st1");
    let (arm, base) = world(s, &mpe, &target, vec![ours(s, &mpe, &target, "Pending", MSG)]).await;
    let no_rule = [("MPE_ENDPOINT_NAMES", "")];
    let run = check(&base, &mpe, &no_rule).await;
    let (code, reason) = run.parked().unwrap_or_else(|| panic!("not parked: {}", run.logs()));
    assert_eq!(code, "evidence-mismatch", "{reason}");
    assert!(reason.contains("MPE_ENDPOINT_NAMES") && reason.contains("nothing was approved"), "{reason}");
    // The pending PECs there are listed with their private endpoints' names: what the operator's rule needs.
    assert!(reason.contains(&endpoint_name(s, &mpe)) && reason.contains("ours.1"), "{reason}");
    assert!(puts(&arm).is_empty());
    arm.lock().unwrap().mpes.insert(mpe.key(), mpe_body_in(s, &mpe, &target, azure_sim::MpePhase::Creating));
    assert_eq!(check(&base, &mpe, &no_rule).await.result(), "check again", "still provisioning: it waits");
    arm.lock().unwrap().mpes.insert(mpe.key(), mpe_body(s, &mpe, &target));
    assert_eq!(check(&base, &mpe, &[("MPE_ENDPOINT_NAMES", FABRIC_RULE)]).await.result(), "approved");
    assert_eq!(status_of(&arm, &target, "ours.1"), "Approved");
}

/// An MPE whose connection only the target shows: a lone candidate whose description is not the MPE's
/// request message is parked.
#[tokio::test]
async fn a_lone_candidate_without_the_request_message_is_parked() {
    for s in services_asking_the_target() {
        let mpe = mpe_id(s, SUB_A, "mpe-lone");
        let target = storage(SUB_A, "st1");
        let pecs = vec![pec_body(&target, "x.1", ATTACKER, &endpoint_name(s, &mpe), "Pending", "let me in")];
        let (arm, base) = world(s, &mpe, &target, pecs).await;
        let run = check(&base, &mpe, &[]).await;
        let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?} not parked: {}", run.logs()));
        assert_eq!(code, "evidence-mismatch", "{s:?}: {reason}");
        assert!(reason.contains("let me in") && reason.contains(MSG), "{reason}");
        assert!(puts(&arm).is_empty(), "{s:?}");
    }
}

// ---- 2. partial lists ------------------------------------------------------------------------------------

/// A name-alike stranger on page 1, ours on page 22: a `nextLink` left after the page limit parks, for
/// every provider; a partial list never approves the stranger.
#[tokio::test]
async fn a_list_longer_than_the_page_limit_parks_and_approves_nothing() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-paged");
        let target = storage(SUB_A, "st1");
        let mut pecs = vec![pec_body(&target, "stranger.1", MANAGED, &endpoint_name(s, &mpe), "Pending", "hi")];
        for i in 0..20 {
            pecs.push(pec_body(&target, &format!("other{i}.1"), MANAGED, &format!("other{i}"), "Pending", ""));
        }
        pecs.push(ours(s, &mpe, &target, "Pending", MSG));
        let arm = Arm { page_size: 1, ..scripted(s, &mpe, &target, pecs) };
        let (arm, base) = start_arm(arm).await;
        let run = check(&base, &mpe, &[]).await;
        let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?}: {}", run.logs()));
        assert_eq!(code, "paging-limit", "{s:?}: {reason}");
        assert!(reason.contains("20 pages"), "{reason}");
        assert!(puts(&arm).is_empty(), "{s:?}");
    }
}

/// Within the limit, a list over many pages is read whole: ours on page 3 is found and approved.
#[tokio::test]
async fn a_paged_list_is_read_whole() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-pages");
        let target = storage(SUB_A, "st1");
        let decoy = if s.provider.endpoint_name(&mpe).is_some() { MSG } else { "another shared private link" };
        let pecs = vec![
            pec_body(&target, "other.1", MANAGED, "other", "Pending", ""),
            // A name-alike with the message, where the service names its private endpoint (a service that
            // does not is matched on the message alone, and such a PEC would be a twin).
            pec_body(&target, "other.2", MANAGED, &format!("x{}", endpoint_name(s, &mpe)), "Pending", decoy),
            ours(s, &mpe, &target, "Pending", MSG),
        ];
        let arm = Arm { page_size: 1, ..scripted(s, &mpe, &target, pecs) };
        let (arm, base) = start_arm(arm).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
        let p = puts(&arm);
        assert!(p.len() == 1 && p[0].0.ends_with("/ours.1"), "{s:?}: {p:?}");
    }
}

/// A page that fails is transient: the invocation fails (Service Bus redelivers), nothing is approved,
/// and it is never read as the end of the list.
#[tokio::test]
async fn a_failing_page_is_transient_never_the_end_of_the_list() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-fail");
        let target = storage(SUB_A, "st1");
        let pecs = vec![
            pec_body(&target, "stranger.1", MANAGED, &endpoint_name(s, &mpe), "Pending", "hi"),
            ours(s, &mpe, &target, "Pending", MSG),
        ];
        let arm = Arm { page_size: 1, failing_page: Some(2), ..scripted(s, &mpe, &target, pecs) };
        let (arm, base) = start_arm(arm).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.status, StatusCode::INTERNAL_SERVER_ERROR, "{s:?}: {}", run.logs());
        assert!(run.sent.is_empty(), "{s:?}: nothing queued or parked on a transient failure");
        assert!(puts(&arm).is_empty(), "{s:?}");
    }
}

// ---- 3. the approval policy --------------------------------------------------------------------------------

/// a Data Factory in one subscription reached a Key Vault in another. With no policy
/// configured a cross-subscription MPE is parked with the policy reason; a same-subscription one is approved.
#[tokio::test]
async fn cross_subscription_is_refused_by_default_for_every_provider() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-x");
        let prod = vault(SUB_B, "kv-prod");
        let (arm, base) = world(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]).await;
        let run = check(&base, &mpe, &[]).await;
        let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?}: {}", run.logs()));
        assert_eq!(code, "policy-refused", "{s:?}");
        assert!(reason.contains("MPE_ALLOW") && reason.contains("mpe-approver-allow-from"), "{reason}");
        assert!(puts(&arm).is_empty(), "{s:?}");
        let audit = run.audit();
        assert_eq!(audit.last().unwrap()["parkCode"], "policy-refused");

        let same = vault(SUB_A, "kv-dev");
        let (arm, base) = world(s, &mpe, &same, vec![ours(s, &mpe, &same, "Pending", MSG)]).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
        assert_eq!(puts(&arm).len(), 1);
    }
}

#[tokio::test]
async fn a_rule_or_the_targets_tag_allows_and_the_deny_tag_refuses() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-rule");
    let prod = vault(SUB_B, "kv-prod");
    let rule = format!("/subscriptions/{SUB_A}->/subscriptions/{SUB_B}/resourceGroups/rg-data");
    let (arm, base) = world(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]).await;
    let run = check(&base, &mpe, &[("MPE_ALLOW", &rule)]).await;
    assert_eq!(run.result(), "approved", "{}", run.logs());
    let audit = run.audit();
    let a = audit.last().unwrap();
    assert_eq!(a["outcome"], "approved");
    assert!(a["allowedBy"].as_str().unwrap().contains(&rule.to_ascii_lowercase()), "{a}");
    assert_eq!(a["pecId"], format!("{prod}/privateEndpointConnections/ours.1"));
    assert!(a["privateEndpointId"].as_str().unwrap().contains(MANAGED));
    assert_eq!(a["evidence"]["name"], endpoint_name(s, &mpe));
    assert_eq!(a["evidence"]["subscription"], MANAGED);
    assert_eq!(puts(&arm).len(), 1);

    // a rule for another resource group does not match (whole segments)
    let (arm, base) = world(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]).await;
    let other_rg = format!("/subscriptions/{SUB_A}->/subscriptions/{SUB_B}/resourceGroups/rg-dat");
    let run = check(&base, &mpe, &[("MPE_ALLOW", &other_rg)]).await;
    assert_eq!(run.parked().unwrap().0, "policy-refused");
    assert!(puts(&arm).is_empty());

    // the target's owner allows the source subscription by tag
    let mut a = scripted(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]);
    a.tags.insert(prod.key(), json!({"mpe-approver-allow-from": format!("{SUB_B},{SUB_A}")}));
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    assert_eq!(run.result(), "approved", "{}", run.logs());
    assert!(run.audit().last().unwrap()["allowedBy"].as_str().unwrap().contains("mpe-approver-allow-from"));
    assert_eq!(puts(&arm).len(), 1);

    // deny wins over everything, even *->*
    let mut a = scripted(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]);
    a.tags.insert(prod.key(), json!({"mpe-approver": "deny", "mpe-approver-allow-from": SUB_A}));
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[("MPE_ALLOW", "*->*")]).await;
    let (code, reason) = run.parked().expect("parked");
    assert_eq!(code, "policy-refused");
    assert!(reason.contains("deny"), "{reason}");
    assert!(puts(&arm).is_empty());
}

/// A rule naming a management group allows nothing while the group is not resolved: ARM failing on the
/// hierarchy makes the check look again later, a group ARM does not know parks it `policy-refused`, each
/// saying which group and why; never a PUT.
#[tokio::test]
async fn a_management_group_not_resolved_allows_nothing() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-mg");
    let prod = vault(SUB_B, "kv-prod");
    let rule = "/providers/Microsoft.Management/managementGroups/platform->*";
    let mut a = scripted(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]);
    a.read_faults = vec![503; 4];
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[("MPE_ALLOW", rule)]).await;
    assert_eq!(run.result(), "check again", "{}", run.logs());
    assert!(run.logs().contains("managementGroups/platform is not resolved"), "{}", run.logs());
    assert!(puts(&arm).is_empty());

    let (arm, base) = world(s, &mpe, &prod, vec![ours(s, &mpe, &prod, "Pending", MSG)]).await;
    let run = check(&base, &mpe, &[("MPE_ALLOW", rule)]).await;
    let (code, reason) = run.parked().expect("parked");
    assert_eq!(code, "policy-refused", "{reason}");
    assert!(reason.contains("managementGroups/platform is not resolved") && reason.contains("not found"), "{reason}");
    assert!(puts(&arm).is_empty());
}

/// A deny tag the approver does not understand (a zero-width space, a BOM, a typo, a forged log line
/// in its value, a near-miss name) is not "no tag": the approval is refused and parked `policy-refused`
/// with the tag's name and its value quoted, in the park reason and the audit line, for every provider.
#[tokio::test]
async fn a_deny_tag_the_approver_does_not_understand_refuses() {
    let hostile = "deny\nmpe.audit {\"outcome\":\"approved\"}\u{1b}[2J";
    let cases = [
        ("mpe-approver", "deny\u{200b}"),
        ("mpe-approver", "\u{feff}deny"),
        ("mpe-approver", "dney"),
        ("mpe-approver", hostile),
        ("mpe-approver\u{200b}", "deny"),
        ("mpe-approver-allow-from", "\u{200b}00000000-0000-0000-0000-00000000000a"),
    ];
    for s in services() {
        for (name, value) in cases {
            let mpe = mpe_id(s, SUB_A, "mpe-tagged");
            let same = vault(SUB_A, "kv-dev");
            let mut a = scripted(s, &mpe, &same, vec![ours(s, &mpe, &same, "Pending", MSG)]);
            a.tags.insert(same.key(), json!({ name: value, "env": "prod" }));
            let (arm, base) = start_arm(a).await;
            let run = check(&base, &mpe, &[]).await;
            let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?} {name:?}={value:?}: {}", run.logs()));
            assert_eq!(code, "policy-refused", "{s:?} {value:?}: {reason}");
            let quoted = mpe_approver::logsafe::q(value).to_string();
            assert!(reason.contains(&quoted), "{s:?}: the value, quoted: {reason}");
            assert!(!reason.contains(['\n', '\u{1b}', '\u{200b}', '\u{feff}']), "{reason:?}");
            assert!(puts(&arm).is_empty(), "{s:?} {name:?}={value:?}: approved");
            let audit = run.audit();
            assert_eq!((audit.len(), audit[0]["parkCode"].as_str()), (1, Some("policy-refused")), "{}", run.logs());
            for line in run.logs().lines() {
                assert!(!line.contains(['\u{1b}', '\u{200b}', '\u{feff}']), "{line:?}");
                assert!(!line.contains(r#"mpe.audit {"outcome""#), "{line:?}");
            }
        }
        // The same target without the tag is approved: the tag alone refused.
        let mpe = mpe_id(s, SUB_A, "mpe-tagged");
        let same = vault(SUB_A, "kv-dev");
        let (arm, base) = world(s, &mpe, &same, vec![ours(s, &mpe, &same, "Pending", MSG)]).await;
        assert_eq!(check(&base, &mpe, &[]).await.result(), "approved", "{s:?}");
        assert_eq!(puts(&arm).len(), 1);
    }
}

// ---- 4. never undo a human --------------------------------------------------------------------------------

/// a rejection lands between the read our PUT relies on and the PUT. Where the PEC has an ETag (Key
/// Vault) that read is the list's (no re-read: the ETag guards), the PUT carries `If-Match` on it, is
/// refused 412, and the next check reads the rejection.
#[tokio::test]
async fn a_rejection_racing_our_put_is_never_overwritten_with_an_etag() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-race");
        let kv = vault(SUB_A, "kv1");
        let a = Arm { reject_after_list: Some(1), ..scripted(s, &mpe, &kv, vec![ours(s, &mpe, &kv, "Pending", MSG)]) };
        let (arm, base) = start_arm(a).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "check again", "{s:?}: {}", run.logs());
        let p = puts(&arm);
        assert_eq!(p.len(), 1, "{s:?}");
        assert_eq!(p[0].1.as_deref(), Some("\"etag-ours.1\""), "{s:?}: If-Match on the ETag we read");
        assert_eq!(arm.lock().unwrap().pec_gets, 0, "{s:?}: the list's ETag needs no re-read");
        assert_eq!(status_of(&arm, &kv, "ours.1"), "Rejected", "{s:?}: the human's decision stands");
        // the next check sees the rejection and never PUTs again
        let run = check(&base, &mpe, &[]).await;
        assert_ne!(run.result(), "approved", "{s:?}: {}", run.logs());
        assert_eq!(puts(&arm).len(), 1, "{s:?}");
        assert_eq!(status_of(&arm, &kv, "ours.1"), "Rejected");
    }
}

/// Without an ETag (Storage) every PUT attempt is preceded by a fresh read: a PUT that failed
/// transiently is not retried blindly over a rejection that landed meanwhile.
#[tokio::test]
async fn without_an_etag_a_retried_put_re_reads_first() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-noetag");
    let st = storage(SUB_A, "st1");
    // GET 1 (before PUT 1, which fails 503) → the human rejects → GET 2 sees it.
    let mut a =
        Arm { reject_after_pec_get: Some(1), put_faults: vec![(503, "ServiceUnavailable")], ..Default::default() };
    a.mpes.insert(mpe.key(), mpe_body(s, &mpe, &st));
    a.pecs.insert(st.key(), vec![ours(s, &mpe, &st, "Pending", MSG)]);
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    assert_eq!(run.result(), "rejected", "{}", run.logs());
    let p = puts(&arm);
    assert_eq!(p.len(), 1, "one PUT, never a second over the rejection");
    assert_eq!(p[0].1, None, "Storage PECs have no ETag");
    assert_eq!(status_of(&arm, &st, "ours.1"), "Rejected");
}

/// With an ETag (Key Vault) only the first PUT relies on the list: a PUT that failed transiently is
/// retried after a fresh read, which sees a rejection that landed meanwhile.
#[tokio::test]
async fn with_an_etag_a_retried_put_re_reads_first() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-etag");
    let kv = vault(SUB_A, "kv1");
    // The list (PUT 1 on its ETag fails 503) → GET 1, after which the human rejects → GET 2 sees it.
    let a = Arm {
        reject_after_pec_get: Some(1),
        put_faults: vec![(503, "ServiceUnavailable")],
        ..scripted(s, &mpe, &kv, vec![ours(s, &mpe, &kv, "Pending", MSG)])
    };
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    let p = puts(&arm);
    assert_eq!(p.len(), 2, "{}", run.logs());
    assert_eq!(p[0].1.as_deref(), Some("\"etag-ours.1\""), "the first PUT on the list's ETag");
    assert_eq!(p[1].1.as_deref(), Some("\"etag-ours.1\""), "the second on the re-read's");
    assert!(arm.lock().unwrap().pec_gets >= 1, "the retry read the PEC first");
    assert_eq!(status_of(&arm, &kv, "ours.1"), "Rejected", "{}", run.logs());
    assert_ne!(run.result(), "approved", "{}", run.logs());
}

/// A PUT answered 400 parks with ARM's code and message (it will not succeed later); 409 reads again.
#[tokio::test]
async fn a_put_answered_400_parks_with_arms_error_and_409_reads_again() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-400");
    let st = storage(SUB_A, "st1");
    let mut a =
        Arm { put_faults: vec![(400, "ApproveOrRejectPrivateEndpointConnectionBadRequest")], ..Default::default() };
    a.mpes.insert(mpe.key(), mpe_body(s, &mpe, &st));
    a.pecs.insert(st.key(), vec![ours(s, &mpe, &st, "Pending", MSG)]);
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    let (code, reason) = run.parked().expect("parked");
    assert_eq!(code, "arm-refused");
    assert!(
        reason.contains("ApproveOrRejectPrivateEndpointConnectionBadRequest")
            && reason.contains("scripted PUT failure")
    );
    assert_eq!(puts(&arm).len(), 1, "a 400 is not retried");

    let a =
        Arm { put_faults: vec![(409, "Conflict")], ..scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]) };
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    assert_eq!(run.result(), "check again", "{}", run.logs());
    assert!(run.parked().is_none());
    let run = check(&base, &mpe, &[]).await;
    assert_eq!(run.result(), "approved", "{}", run.logs());
    assert_eq!(puts(&arm).len(), 2);
}

/// The approving PUT against each fault of the matrix: 401 twice (a fresh token refused too)
/// and 403 park `forbidden`; 404 reads again at the next check; 429 (no `Retry-After`: the subscription
/// is held 5 s) schedules the check for when the wait is over (spread over half as long again), nothing parked; 500/503 re-read and PUT once more in the same check.
/// Never more PUTs than listed, and nothing approved over the fault.
#[tokio::test]
async fn the_approving_put_against_every_fault() {
    let s = any_service();
    let st = storage(SUB_A, "st1");
    type Expect = fn(&Run) -> Result<(), String>;
    type Case = (&'static str, Vec<(u16, &'static str)>, Expect, usize);
    let parked = |want: &'static str| -> Expect {
        match want {
            "forbidden" => |r: &Run| match r.parked() {
                Some((c, reason)) if c == "forbidden" && reason.contains("scripted PUT failure") => Ok(()),
                other => Err(format!("not parked forbidden with ARM's words: {other:?}")),
            },
            _ => unreachable!(),
        }
    };
    let cases: Vec<Case> = vec![
        (
            "401 twice",
            vec![(401, "InvalidAuthenticationTokenTenant"), (401, "InvalidAuthenticationTokenTenant")],
            parked("forbidden"),
            2,
        ),
        ("403", vec![(403, "AuthorizationFailed")], parked("forbidden"), 1),
        (
            "404",
            vec![(404, "NotFound")],
            |r| (r.result() == "check again" && r.parked().is_none()).then_some(()).ok_or_else(|| r.logs()),
            1,
        ),
        (
            "429",
            vec![(429, "TooManyRequests")],
            |r| {
                // ARM's wait (5 s without `Retry-After`), spread over half as long again.
                let after: Option<f64> = r
                    .logs()
                    .split("check again in ")
                    .nth(1)
                    .and_then(|t| t.split('s').next())
                    .and_then(|n| n.parse().ok());
                (r.result() == "check again" && after.is_some_and(|a| (5.0..=7.5).contains(&a)) && r.parked().is_none())
                    .then_some(())
                    .ok_or_else(|| r.logs())
            },
            1,
        ),
        (
            "500",
            vec![(500, "InternalServerError")],
            |r| (r.result() == "approved").then_some(()).ok_or_else(|| r.logs()),
            2,
        ),
        (
            "503",
            vec![(503, "ServiceUnavailable")],
            |r| (r.result() == "approved").then_some(()).ok_or_else(|| r.logs()),
            2,
        ),
    ];
    for (name, faults, expect, want_puts) in cases {
        let mpe = mpe_id(s, SUB_A, "mpe-putfault");
        let a = Arm { put_faults: faults, ..scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]) };
        let (arm, base) = start_arm(a).await;
        let run = check(&base, &mpe, &[]).await;
        if let Err(why) = expect(&run) {
            panic!("PUT {name}: {why}\nstatus {}, result {:?}", run.status, run.result());
        }
        assert_eq!(puts(&arm).len(), want_puts, "PUT {name}: {}", run.logs());
        let approved = status_of(&arm, &st, "ours.1") == "Approved";
        assert_eq!(approved, run.result() == "approved", "PUT {name}: approved only when the check says so");
    }
}

// ---- the approval itself ---------------------------------------------------------------------------------------

/// The request message stays in the description: our marker is appended.
#[tokio::test]
async fn the_approval_appends_our_marker_to_the_request_message() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-desc");
        let st = storage(SUB_A, "st1");
        let (arm, base) = world(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
        let p = puts(&arm);
        let state = &p[0].2["properties"]["privateLinkServiceConnectionState"];
        assert_eq!(state["status"], "Approved");
        let inc = incarnation(s, CREATED);
        assert_eq!(state["description"], format!("{MSG} {}", pec::marker(&mpe, inc.as_deref())), "{s:?}");
    }
}

/// Two MPEs to one target at once, for every provider: each approves its own PEC, and the second check of
/// the first ends as already approved (the service says so, or our marker at the target), never touching
/// the other's.
#[tokio::test]
async fn two_mpes_to_one_target() {
    use azure_sim::MpePhase::Approved;
    for s in services() {
        let m1 = mpe_id(s, SUB_A, "mpe-one");
        let m2 = mpe_id(s, SUB_A, "mpe-two");
        let st = storage(SUB_A, "st1");
        // Each MPE with its own request message, as a platform team writes them.
        let msg2 = format!("{MSG} (two)");
        let mut a = Arm::default();
        a.mpes.insert(m1.key(), mpe_body(s, &m1, &st));
        a.mpes.insert(m2.key(), mpe_body_saying(s, &m2, &st, azure_sim::MpePhase::AwaitingApproval, &msg2));
        a.pecs.insert(
            st.key(),
            vec![
                pec_body(&st, "one.1", MANAGED, &our_endpoint(s, &m1), "Pending", MSG),
                pec_body(&st, "two.1", MANAGED, &our_endpoint(s, &m2), "Pending", &msg2),
            ],
        );
        let (arm, base) = start_arm(a).await;
        assert_eq!(check(&base, &m1, &[]).await.result(), "approved", "{s:?}");
        assert_eq!(status_of(&arm, &st, "two.1"), "Pending", "{s:?}");
        // The service notices its connection approved, where it reports it.
        arm.lock().unwrap().mpes.insert(m1.key(), mpe_body_in(s, &m1, &st, Approved));
        assert_eq!(check(&base, &m2, &[]).await.result(), "approved", "{s:?}");
        assert_eq!(check(&base, &m1, &[]).await.result(), "already approved", "{s:?}");
        let p = puts(&arm);
        assert_eq!(p.len(), 2, "{s:?}");
        assert!(p[0].0.ends_with("/one.1") && p[1].0.ends_with("/two.1"), "{s:?}: {p:?}");
    }
}

/// Two MPEs to one target with the same request message, each with a pending PEC of its own (two Front
/// Door origins in different profiles, each profile with its private endpoint), for every provider: where
/// the service names its private endpoint (by a rule, or in the MPE) the name tells them apart and each
/// approves its own; where it does not, nothing does, and both park `ambiguous` with nothing approved.
#[tokio::test]
async fn two_mpes_with_one_request_message_to_one_target() {
    for s in services() {
        let m1 = mpe_id(s, SUB_A, "mpe-same-1");
        let m2 = mpe_id(s, SUB_A, "mpe-same-2");
        let st = storage(SUB_A, "st1");
        let mut a = Arm::default();
        a.mpes.insert(m1.key(), mpe_body(s, &m1, &st));
        a.mpes.insert(m2.key(), mpe_body(s, &m2, &st));
        a.pecs.insert(
            st.key(),
            vec![
                pec_body(&st, "one.1", MANAGED, &our_endpoint(s, &m1), "Pending", MSG),
                pec_body(&st, "two.1", MANAGED, &our_endpoint(s, &m2), "Pending", MSG),
            ],
        );
        let (arm, base) = start_arm(a).await;
        for (m, own) in [(&m1, "one.1"), (&m2, "two.1")] {
            let run = check(&base, m, &[]).await;
            if s.provider.endpoint_name(m).is_some() || reported_endpoint(s) || operator_named(s) {
                assert_eq!(run.result(), "approved", "{s:?} {m}: {}", run.logs());
                assert_eq!(status_of(&arm, &st, own), "Approved", "{s:?}");
            } else {
                let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?} {m} not parked: {}", run.logs()));
                assert_eq!(code, "ambiguous", "{s:?}: {reason}");
                assert!(reason.contains("one.1") && reason.contains("two.1"), "{s:?}: {reason}");
            }
        }
        let named = s.provider.endpoint_name(&m1).is_some() || reported_endpoint(s) || operator_named(s);
        assert_eq!(puts(&arm).len(), if named { 2 } else { 0 }, "{s:?}");
    }
}

/// The Front Door provider of the registry.
fn front_door() -> Service {
    services()
        .into_iter()
        .find(|s| s.provider.resource_type().eq_ignore_ascii_case("Microsoft.Cdn/profiles/originGroups/origins"))
        .expect("the Front Door provider is registered")
}

/// Front Door: origins of one profile with the same target, group and location share one private
/// endpoint, so one PEC serves them all (its description the request message of the origin that created
/// it). The first origin's check approves it; the second's, while its shared link still reports Pending,
/// finds no PEC of its own (the one PEC now carries our marker for the first) and waits; once its shared
/// link reports Approved it ends already approved. One PUT in all, and a stranger beside it stays pending.
#[tokio::test]
async fn origins_sharing_one_private_endpoint_are_approved_once() {
    use azure_sim::MpePhase::Approved;
    let s = front_door();
    let first = mpe_id(s, SUB_A, "origin-one");
    let second = mpe_id(s, SUB_A, "origin-two");
    assert_eq!(first.parent(), second.parent(), "two origins of one origin group of one profile");
    let st = storage(SUB_A, "st1");
    let mut a = Arm::default();
    a.mpes.insert(first.key(), mpe_body(s, &first, &st));
    a.mpes.insert(second.key(), mpe_body(s, &second, &st));
    let shared = pec_body(&st, "shared.1", MANAGED, &our_endpoint(s, &first), "Pending", MSG);
    a.pecs.insert(st.key(), vec![shared, pec_body(&st, "stranger.1", ATTACKER, "someone", "Pending", "let me in")]);
    let (arm, base) = start_arm(a).await;

    let run = check(&base, &first, &[]).await;
    assert_eq!(run.result(), "approved", "{}", run.logs());
    assert_eq!(status_of(&arm, &st, "shared.1"), "Approved");

    // Front Door has not caught up for the second origin yet: nothing of its own to approve.
    let run = check(&base, &second, &[]).await;
    assert_eq!(run.result(), "check again", "{}", run.logs());
    assert!(run.parked().is_none() && puts(&arm).len() == 1, "{}", run.logs());

    // Both origins' shared link reports Approved: each check ends, touching nothing.
    for origin in [&second, &first] {
        arm.lock().unwrap().mpes.insert(origin.key(), mpe_body_in(s, origin, &st, Approved));
        let run = check(&base, origin, &[]).await;
        assert_eq!(run.result(), "already approved", "{origin}: {}", run.logs());
    }
    let p = puts(&arm);
    assert!(p.len() == 1 && p[0].0.ends_with("/shared.1"), "one approval for both origins: {p:?}");
    assert_eq!(status_of(&arm, &st, "stranger.1"), "Pending");
}

/// An MPE body that connects to nothing, as the official examples show one (a Front Door origin whose
/// `sharedPrivateLinkResource` is null, served verbatim): the check ends `no-private-link` on the first
/// read, for every such example of every provider. The target is never read, nothing is queued, parked or
/// PUT, and the one audit line says so.
#[tokio::test]
async fn a_resource_without_a_private_link_ends_quietly() {
    let mut served = 0;
    for s in services() {
        for rel in s.provider.examples() {
            let responses = common::example(rel)["responses"].as_object().cloned().unwrap_or_default();
            for (code, response) in responses {
                let Some(body) = response.get("body").filter(|b| b.get("properties").is_some()) else { continue };
                let mpe = mpe_id(s, SUB_A, &format!("origin-{code}"));
                let read = s.provider.parse(&mpe, body);
                if !read.is_ok_and(|v| v.status == mpe_approver::providers::MpeStatus::NoPrivateLink) {
                    continue;
                }
                let mut a = Arm::default();
                // As ARM lists it: under its own id.
                let mut body = body.clone();
                body["id"] = json!(mpe.as_str());
                a.mpes.insert(mpe.key(), body);
                let (arm, base) = start_arm(a).await;
                let run = check(&base, &mpe, &[]).await;
                assert_eq!(run.status, StatusCode::OK, "{rel} {code}: {}", run.logs());
                assert_eq!(run.result(), "no private link: nothing to approve", "{rel} {code}: {}", run.logs());
                assert!(run.sent.is_empty(), "{rel} {code}: nothing queued or parked: {:?}", run.sent);
                let log = arm.lock().unwrap().log.clone();
                assert_eq!(log.len(), 1, "{rel} {code}: only the MPE is read: {log:?}");
                let audit = run.audit();
                assert_eq!(audit.len(), 1, "{rel} {code}: {}", run.logs());
                assert_eq!(audit[0]["outcome"], "no-private-link", "{rel} {code}");
                assert!(audit[0]["pecId"].is_null() && audit[0]["parkCode"].is_null(), "{}", audit[0]);
                served += 1;
            }
        }
    }
    assert!(served > 0, "no example body connects to nothing");
}

/// An MPE deleted and created again with the same name, for every provider: the old PEC (Disconnected,
/// our marker for the earlier MPE) is never revived; the new one is approved.
#[tokio::test]
async fn an_mpe_recreated_with_the_same_name() {
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-again");
        let st = storage(SUB_A, "st1");
        let earlier = incarnation(s, "2026-11-20T08:00:00Z");
        let old_desc = pec::approved_description(Some(MSG), &mpe, earlier.as_deref());
        let pecs = vec![
            pec_body(&st, "old.1", MANAGED, &our_endpoint(s, &mpe), "Disconnected", &old_desc),
            pec_body(&st, "new.1", MANAGED, &our_endpoint(s, &mpe), "Pending", MSG),
        ];
        let (arm, base) = world(s, &mpe, &st, pecs).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
        let p = puts(&arm);
        assert!(p.len() == 1 && p[0].0.ends_with("/new.1"), "{s:?}: {p:?}");
        assert_eq!(status_of(&arm, &st, "old.1"), "Disconnected", "{s:?}");
    }
}

/// One approval per MPE, for every provider. Once we approved its connection and the target's owner
/// disconnected or rejected it, a pending PEC that looks like the MPE's (a stranger's with its name,
/// group and message, from an unconfigured subscription) is never approved: the check ends with the
/// state the service reports, or, where only the target shows the connection, parks `not-new`; it ends
/// with the connection's state when nothing else is pending. A marker that names no incarnation counts
/// as this MPE's (fail closed).
#[tokio::test]
async fn one_connection_is_approved_per_mpe() {
    use azure_sim::MpePhase::{Disconnected, Rejected};
    for s in services() {
        let mpe = mpe_id(s, SUB_A, "mpe-once");
        let st = storage(SUB_A, "st1");
        let tagged = pec::approved_description(Some(MSG), &mpe, incarnation(s, CREATED).as_deref());
        let untagged = pec::approved_description(Some(MSG), &mpe, None);
        for (state, phase, desc) in [
            ("Disconnected", Disconnected, &tagged),
            ("Rejected", Rejected, &tagged),
            ("Disconnected", Disconnected, &untagged),
        ] {
            let said = mpe_body_in(s, &mpe, &st, phase);
            let pecs = vec![ours(s, &mpe, &st, state, desc), stranger(s, &mpe, &st, ATTACKER)];
            let mut a = scripted(s, &mpe, &st, pecs);
            a.mpes.insert(mpe.key(), said.clone());
            let (arm, base) = start_arm(a).await;
            let run = check(&base, &mpe, &[]).await;
            if s.provider.reports_connection() {
                assert_eq!(run.result(), state.to_lowercase(), "{s:?} {state}: {}", run.logs());
            } else {
                assert_eq!(run.result(), "parked", "{s:?} {state}: {}", run.logs());
                assert_eq!(run.parked().map(|p| p.0).as_deref(), Some("not-new"), "{s:?} {state}");
            }
            assert!(puts(&arm).is_empty(), "{s:?} {state}: nothing may be PUT");
            let mut a = scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, state, desc)]);
            a.mpes.insert(mpe.key(), said);
            let (arm, base) = start_arm(a).await;
            let run = check(&base, &mpe, &[]).await;
            assert_eq!(run.result(), state.to_lowercase(), "{s:?} {state} alone: {}", run.logs());
            assert!(puts(&arm).is_empty(), "{s:?}");
        }
    }
}

/// An MPE whose connection only the target shows: a PEC that looks like the MPE's is approved only while
/// the MPE is new (created within `MPE_GIVE_UP_AFTER`, by `systemData.createdAt`). An older MPE, or one
/// that does not say when it was created, is never approved: whatever its PEC's history (ours removed and
/// a stranger's in its place, as a nightly sweep would find), the check parks `not-new`.
#[tokio::test]
async fn an_mpe_asking_the_target_is_approved_only_while_new() {
    for s in services_asking_the_target() {
        let st = storage(SUB_A, "st1");
        for (name, created) in [
            ("mpe-old", Some("2026-11-01T10:00:00Z")),
            ("mpe-undated", None),
            ("mpe-ahead", Some("2027-01-01T00:00:00Z")),
        ] {
            let mpe = mpe_id(s, SUB_A, name);
            let mut a = Arm::default();
            let mut body = mpe_body(s, &mpe, &st);
            match created {
                Some(c) => body["systemData"]["createdAt"] = json!(c),
                None => {
                    body.as_object_mut().unwrap().remove("systemData");
                }
            }
            a.mpes.insert(mpe.key(), body);
            a.pecs.insert(st.key(), vec![stranger(s, &mpe, &st, ATTACKER)]);
            let (arm, base) = start_arm(a).await;
            let run = check(&base, &mpe, &[]).await;
            assert_eq!(run.result(), "parked", "{s:?} {name}: {}", run.logs());
            assert_eq!(run.parked().map(|p| p.0).as_deref(), Some("not-new"), "{s:?} {name}");
            assert!(puts(&arm).is_empty(), "{s:?} {name}: nothing may be PUT");
        }
        // created within the give-up time: approved
        let mpe = mpe_id(s, SUB_A, "mpe-new");
        let (arm, base) = world(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]).await;
        assert_eq!(check(&base, &mpe, &[]).await.result(), "approved", "{s:?}");
        assert_eq!(puts(&arm).len(), 1, "{s:?}");
    }
}

/// An approval ARM applies slowly (the PUT answered 202, or the PEC still `Updating` past the check's
/// confirmation reads) is audited once, as `approved` with its PEC id, by the check that confirms it:
/// the check that sent it says `check-again`, and its next work item names the PEC to confirm.
#[tokio::test]
async fn an_approval_confirmed_later_is_audited_once_with_its_pec() {
    let cases = services().into_iter().flat_map(|s| [(s, 202), (s, 200)]);
    for (s, answer) in cases {
        let mpe = mpe_id(s, SUB_A, "mpe-slow");
        let st = storage(SUB_A, "st1");
        let mut a = scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]);
        a.slow_put = Some(answer);
        a.updating_gets = 100;
        let (arm, base) = start_arm(a).await;
        let first = check(&base, &mpe, &[]).await;
        assert_eq!(first.result(), "check again", "{s:?} {answer}: {}", first.logs());
        assert!(first.audit().iter().all(|a| a["outcome"] != "approved"), "{s:?} {answer}: {}", first.logs());
        let next = first.sent.iter().find(|(q, _)| q == "mpe-approvals").map(|(_, m)| m.body.clone()).unwrap();
        let next = WorkItem::from_json(&next).unwrap();
        let pec_id = format!("{st}/privateEndpointConnections/ours.1");
        assert_eq!(next.approving.as_deref(), Some(pec_id.as_str()), "{s:?} {answer}");

        // ARM finishes; the service reports its connection approved (where it reports it).
        {
            let mut guard = arm.lock().unwrap();
            guard.updating_gets = 1;
            guard.mpes.insert(mpe.key(), mpe_body_in(s, &mpe, &st, azure_sim::MpePhase::Approved));
        }
        let second = check_item(&base, &next, &[]).await;
        assert_eq!(second.result(), "approved", "{s:?} {answer}: {}", second.logs());
        let audit = second.audit();
        assert_eq!(audit.len(), 1, "{s:?} {answer}: {}", second.logs());
        assert_eq!(
            (audit[0]["outcome"].as_str(), audit[0]["pecId"].as_str()),
            (Some("approved"), Some(pec_id.as_str()))
        );
        assert!(audit[0]["evidence"].is_object(), "{}", audit[0]);
        assert_eq!(puts(&arm).len(), 1, "{s:?} {answer}: confirming never writes");
    }
}

/// An approval that did not take (ARM accepted it, the PEC reads Pending again): the next check decides
/// afresh and approves, rather than waiting for a confirmation that never comes.
#[tokio::test]
async fn an_approval_that_did_not_take_is_decided_again() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-lost");
    let st = storage(SUB_A, "st1");
    let mut a = scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]);
    a.slow_put = Some(202);
    a.updating_gets = 100;
    let (arm, base) = start_arm(a).await;
    let first = check(&base, &mpe, &[]).await;
    assert_eq!(first.result(), "check again", "{}", first.logs());
    let next = first.sent.iter().find(|(q, _)| q == "mpe-approvals").map(|(_, m)| m.body.clone()).unwrap();
    let next = WorkItem::from_json(&next).unwrap();
    {
        let mut guard = arm.lock().unwrap();
        guard.slow_put = None;
        guard.updating_gets = 0;
        let p = &mut guard.pecs.get_mut(&st.key()).unwrap()[0];
        p["properties"]["privateLinkServiceConnectionState"]["status"] = json!("Pending");
        p["properties"]["provisioningState"] = json!("Succeeded");
    }
    let second = check_item(&base, &next, &[]).await;
    assert_eq!(second.result(), "approved", "{}", second.logs());
    assert_eq!(puts(&arm).len(), 2);
}

/// A forged work item whose first-seen time lies in the future (its age would read as zero, so the chain
/// would never give up) is parked `invalid-input` before ARM is asked anything.
#[tokio::test]
async fn a_work_item_from_the_future_is_parked_not_checked_forever() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-future");
    let st = storage(SUB_A, "st1");
    let (arm, base) = world(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]).await;
    let mut item =
        WorkItem::new(mpe.clone(), "9999-12-31T00:00:00Z".parse().unwrap(), "corr-x".into(), Origin::EventGrid);
    let run = check_item(&base, &item, &[]).await;
    assert_eq!(run.parked().map(|p| p.0).as_deref(), Some("invalid-input"), "{}", run.logs());
    assert!(!run.sent.iter().any(|(q, _)| q == "mpe-approvals"), "no next check");
    assert!(arm.lock().unwrap().log.is_empty(), "ARM untouched");
    item.first_seen = NOW.parse().unwrap();
    item.attempt = u32::MAX;
    let run = check_item(&base, &item, &[]).await;
    assert_eq!(run.parked().map(|p| p.0).as_deref(), Some("invalid-input"), "{}", run.logs());
}

/// A check that ends writes one audit line with the outcome; every park carries its code.
#[tokio::test]
async fn every_finished_check_writes_an_audit_line() {
    let s = a_service_with_a_request_message();
    let mpe = mpe_id(s, SUB_A, "mpe-audit");
    let st = storage(SUB_A, "st1");
    let (_arm, base) = world(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]).await;
    let run = check(&base, &mpe, &[]).await;
    let audit = run.audit();
    assert_eq!(audit.len(), 1, "{}", run.logs());
    let a = &audit[0];
    assert_eq!(a["event"], "mpe.audit");
    assert_eq!(a["mpeId"], mpe.as_str());
    assert_eq!(a["correlationId"], "corr-safety");
    assert_eq!(a["outcome"], "approved");
    assert_eq!(a["evidence"]["message"], "matched");
    assert_eq!(a["evidence"]["group"], "not reported by the target");
    assert_eq!(a["allowedBy"], "MPE_ALLOW rule same-subscription");
}

/// A 404 right after the MPE's write event is confirmed by a second read before the chain ends
/// (issue 10: a read replica may lag the write); a second 404 ends it.
#[tokio::test]
async fn a_404_mpe_is_read_again_before_the_chain_ends() {
    let s = any_service();
    let mpe = mpe_id(s, SUB_A, "mpe-lag");
    let st = storage(SUB_A, "st1");
    let a = Arm { mpe_missing_reads: 1, ..scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]) };
    let (arm, base) = start_arm(a).await;
    assert_eq!(check(&base, &mpe, &[]).await.result(), "approved");

    let gone = mpe_id(s, SUB_A, "mpe-gone");
    let run = check(&base, &gone, &[]).await;
    assert_eq!(run.result(), "MPE deleted", "{}", run.logs());
    let reads = arm.lock().unwrap().log.iter().filter(|(m, p, ..)| m == "GET" && p.ends_with("/mpe-gone")).count();
    assert_eq!(reads, 2, "read twice before ending");
}

/// ARM answering a read 409 (Conflict) or 412 (Precondition Failed): the resource is in the middle of
/// a change, so it is read again (inside the call, then by redelivery), never parked as refused.
#[tokio::test]
async fn a_read_answered_409_or_412_is_read_again() {
    let s = any_service();
    let st = storage(SUB_A, "st1");
    for (name, faults) in [("mpe-409", vec![409]), ("mpe-412", vec![412]), ("mpe-both", vec![409, 412])] {
        let mpe = mpe_id(s, SUB_A, name);
        let a = Arm { read_faults: faults.clone(), ..scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]) };
        let (arm, base) = start_arm(a).await;
        let run = check(&base, &mpe, &[]).await;
        assert_eq!(run.result(), "approved", "{faults:?}: {}", run.logs());
        assert!(run.parked().is_none());
        assert_eq!(puts(&arm).len(), 1);
        // The MPE is read from its parent's list (or by its own GET where it is top-level).
        let list = mpe.parent().map(|p| format!("{p}/{}", mpe.resource_type().rsplit('/').next().unwrap_or_default()));
        let reads = arm
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(m, p, ..)| m == "GET" && (p.ends_with(name) || list.as_deref() == Some(p.as_str())))
            .count();
        assert_eq!(reads, faults.len() + 1, "{faults:?}: the MPE was read again after each");
    }
    // A read that keeps answering 409: a transient failure (Service Bus redelivers), never parked.
    let mpe = mpe_id(s, SUB_A, "mpe-busy");
    let a = Arm { read_faults: vec![409; 50], ..scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]) };
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    assert_eq!(run.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", run.logs());
    assert!(run.logs().contains("transient"), "{}", run.logs());
    assert!(run.parked().is_none() && puts(&arm).is_empty());
}

/// ARM answering a read 403 (the role is missing): parked `forbidden` with ARM's code and message,
/// acknowledged, never retried and nothing approved.
#[tokio::test]
async fn a_read_answered_403_parks_forbidden_with_arms_message() {
    let s = any_service();
    let st = storage(SUB_A, "st1");
    let mpe = mpe_id(s, SUB_A, "mpe-403");
    let a = Arm { read_faults: vec![403], ..scripted(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]) };
    let (arm, base) = start_arm(a).await;
    let run = check(&base, &mpe, &[]).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.logs());
    let (code, reason) = run.parked().expect("parked");
    assert_eq!(code, "forbidden");
    assert!(reason.contains("AuthorizationFailed") && reason.contains("does not have authorization"), "{reason}");
    assert_eq!(arm.lock().unwrap().log.len(), 1, "one read, not retried");
    assert!(puts(&arm).is_empty());
}

/// `mpe-approver check <id>` (handler::inspect): a dry run unless asked to approve, and it never
/// queues or parks anything.
#[tokio::test]
async fn check_command_is_a_dry_run_unless_asked_to_approve() {
    let s = a_service_with_a_request_message();
    let mpe = mpe_id(s, SUB_A, "mpe-cli");
    let st = storage(SUB_A, "st1");
    let (arm, base) = world(s, &mpe, &st, vec![ours(s, &mpe, &st, "Pending", MSG)]).await;
    let inspect = |dry_run: bool| {
        let base = base.clone();
        let mpe = mpe.clone();
        async move {
            let mut config = Config::from_lookup(|k| match k {
                "MPE_ARM_ENDPOINT" => Some(base.clone()),
                "MPE_SERVICEBUS_ENDPOINT" => Some("http://127.0.0.1:9/sb".into()),
                _ => None,
            })
            .unwrap();
            config.dry_run = dry_run;
            let clock: Arc<dyn Clock> = Arc::new(Fixed::instant(NOW));
            let armc = ArmClient::new(
                &config.arm_endpoint,
                config.arm_audience.clone(),
                Arc::new(Tokens::Fixed),
                clock.clone(),
            )
            .unwrap();
            let sender = Arc::new(Recorder::default());
            let app = App::from_parts(config, armc, sender.clone(), clock.clone());
            let item = WorkItem::new(mpe, clock.now(), "corr-cli".into(), Origin::Replay);
            let r = mpe_approver::handler::inspect(&app, &item).await;
            assert!(sender.sent.lock().unwrap().is_empty(), "inspect never sends");
            r
        }
    };
    let r = inspect(true).await;
    assert_eq!(r.outcome, "dry-run", "{r:?}");
    assert!(puts(&arm).is_empty());
    assert_eq!(r.audit.as_ref().unwrap()["evidence"]["message"], "matched");
    let r = inspect(false).await;
    assert_eq!(r.outcome, "approved", "{r:?}");
    assert_eq!(puts(&arm).len(), 1);
}

/// When a naming rule is wrong, say so at once: for every service whose MPE reports its connection, an
/// MPE that says pending while the only pending PEC of its group at the target comes from a private
/// endpoint its rule does not name (the service renamed it, say) is checked a few times, then parks
/// `no-matching-pec`, listing that PEC's private endpoint and subscription, and nothing is approved. An
/// operator who sets the rule (`MPE_ENDPOINT_NAMES`) has it approved on replay; a rule naming something
/// else still approves nothing. (A private endpoint whose full id or name the service reports has no naming
/// rule of ours to be wrong: a customer's own, Synapse's `resourceId`, Databricks' `endpoint_name`.)
#[tokio::test]
async fn a_wrong_naming_rule_parks_no_matching_pec_and_the_operator_can_correct_it() {
    for s in services().into_iter().filter(|s| s.provider.reports_connection() && !reported_endpoint(*s)) {
        let mpe = mpe_id(s, SUB_A, "mpe-renamed");
        let st = storage(SUB_A, "st1");
        let renamed = "svc-renamed-mpe-renamed";
        let mut a = Arm::default();
        a.mpes.insert(mpe.key(), mpe_body(s, &mpe, &st));
        a.pecs.insert(st.key(), vec![pec_body(&st, "renamed.1", MANAGED, renamed, "Pending", "another message")]);
        let (arm, base) = start_arm(a).await;
        let mut item = WorkItem::new(mpe.clone(), NOW.parse().unwrap(), "corr-safety".into(), Origin::EventGrid);
        for n in 1..mpe_approver::decision::UNMATCHED_CHECKS {
            let run = check_item(&base, &item, &[]).await;
            assert_eq!(run.result(), "check again", "{s:?} check {n}: {}", run.logs());
            let (_, next) = run.sent.iter().find(|(q, _)| q == "mpe-approvals").expect("the next check");
            item = WorkItem::from_json(&next.body).unwrap();
            assert_eq!(item.unmatched, n, "{s:?}");
        }
        let run = check_item(&base, &item, &[]).await;
        let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?}: {}", run.logs()));
        assert_eq!(code, "no-matching-pec", "{s:?}: {reason}");
        assert!(reason.contains(renamed) && reason.contains(MANAGED), "{s:?}: {reason}");
        assert!(puts(&arm).is_empty(), "{s:?}: nothing approved");

        let ty = s.provider.resource_type();
        let wrong = format!("{ty}=other-{{mpe}}");
        let run = check(&base, &mpe, &[("MPE_ENDPOINT_NAMES", wrong.as_str())]).await;
        assert_eq!(run.result(), "check again", "{s:?}: a rule naming another endpoint approves nothing");
        let right = format!("{ty}=svc-renamed-{{mpe}}");
        let run = check(&base, &mpe, &[("MPE_ENDPOINT_NAMES", right.as_str())]).await;
        assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
        assert_eq!(puts(&arm).len(), 1, "{s:?}");
        assert!(run.audit().iter().any(|a| a["evidence"]["name"] == renamed), "{s:?}: {:?}", run.audit());
    }
}

/// A pending PEC of the MPE's group from a customer subscription, or of another group, is no sign of a
/// wrong rule: the MPE waits for its own PEC and gives up in the end, as before.
#[tokio::test]
async fn pending_pecs_that_cannot_be_the_mpes_are_no_sign_of_a_wrong_rule() {
    for s in services().into_iter().filter(|s| s.provider.reports_connection()) {
        let mpe = mpe_id(s, SUB_A, "mpe-waits");
        let st = storage(SUB_A, "st1");
        let mut a = Arm::default();
        a.mpes.insert(mpe.key(), mpe_body(s, &mpe, &st));
        let mut other_group = pec_body(&st, "file.1", MANAGED, "someone", "Pending", "x");
        other_group["properties"]["groupIds"] = json!(["file"]);
        a.pecs.insert(st.key(), vec![pec_body(&st, "customer.1", SUB_A, "someone", "Pending", "x"), other_group]);
        let (_arm, base) = start_arm(a).await;
        let mut item = WorkItem::new(mpe.clone(), NOW.parse().unwrap(), "corr-safety".into(), Origin::EventGrid);
        for _ in 0..mpe_approver::decision::UNMATCHED_CHECKS + 1 {
            let run = check_item(&base, &item, &[]).await;
            assert_eq!(run.result(), "check again", "{s:?}: {}", run.logs());
            let (_, next) = run.sent.iter().find(|(q, _)| q == "mpe-approvals").expect("the next check");
            item = WorkItem::from_json(&next.body).unwrap();
            assert_eq!(item.unmatched, 0, "{s:?}");
        }
    }
}

/// Opt-in sources (customers' own private endpoints, `MPE_CUSTOMER_ENDPOINTS`; Synapse, `MPE_SYNAPSE`):
/// unless the source's setting is `true`, a check of one parks `source-not-allowed` naming the setting
/// and approves nothing, however the policy reads.
#[tokio::test]
async fn opt_in_sources_are_approved_only_when_turned_on() {
    let opt_in: Vec<Service> = services().into_iter().filter(|s| s.provider.opt_in().is_some()).collect();
    assert!(opt_in.len() >= 2, "{opt_in:?}");
    for s in opt_in {
        let setting = s.provider.opt_in().unwrap_or_default();
        let mpe = mpe_id(s, SUB_A, "pe-optin");
        let target = storage(SUB_A, "st1");
        let (arm, base) = world(s, &mpe, &target, vec![ours(s, &mpe, &target, "Pending", MSG)]).await;
        let run = check(&base, &mpe, &[(setting, "false")]).await;
        let (code, reason) = run.parked().unwrap_or_else(|| panic!("{s:?}: {}", run.logs()));
        assert_eq!(code, "source-not-allowed", "{s:?}: {reason}");
        assert!(reason.contains(&format!("{setting}=true")), "{reason}");
        assert!(puts(&arm).is_empty(), "{s:?}");
        let run = check(&base, &mpe, &[(setting, "true")]).await;
        assert_eq!(run.result(), "approved", "{s:?}: {}", run.logs());
    }
}
