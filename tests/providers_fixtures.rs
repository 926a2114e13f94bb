//! Every provider adapter of the registry on the official ARM examples it declares
//! ([`Provider::examples`]), then on the ARM vocabularies its service's bodies speak (the simulator's
//! bodies, `crates/azure-sim/src/mpe/`, with their status fields edited), then on garbage. Nothing here
//! names a provider: a provider added to the registry is read on its own examples and bodies.

mod common;

use common::*;
use mpe_approver::providers::{
    for_id, for_operation, registry, ListShape, MpeStatus, MpeView, Provider, ProviderError,
};
use mpe_approver::resource_id::ResourceId;
use serde_json::{json, Value};
use std::path::Path;

// ---------------------------------------------------------------- reading bodies

/// Every `(JSON pointer, string value)` of a member named `key`, anywhere in `v`.
fn members(v: &Value, key: &str) -> Vec<(String, String)> {
    fn walk(v: &Value, key: &str, at: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let here = format!("{at}/{k}");
                    match x {
                        Value::String(s) if k == key => out.push((here, s.clone())),
                        _ => walk(x, key, &here, out),
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, key, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, key, "", &mut out);
    out
}

/// The pointer of the one string leaf of `v` equal to `s`.
fn leaf_holding(v: &Value, s: &str) -> Option<String> {
    match v {
        Value::String(x) if x == s => Some(String::new()),
        Value::Object(m) => m.iter().find_map(|(k, x)| leaf_holding(x, s).map(|p| format!("/{k}{p}"))),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| leaf_holding(x, s).map(|p| format!("/{i}{p}"))),
        _ => None,
    }
}

/// The status fields of an MPE body: its `provisioningState` and its connection's `status`, wherever the
/// service puts them.
fn status_fields(body: &Value) -> Vec<(String, String)> {
    let mut out = members(body, "provisioningState");
    out.extend(members(body, "status"));
    out
}

/// The MPE bodies of an example: each response's body, or each item of a list.
fn example_bodies(rel: &str) -> Vec<(String, Value)> {
    let responses = example(rel).get("responses").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (code, r) in responses {
        let Some(b) = r.get("body") else { continue };
        if b.is_array() || b.get("value").is_some_and(Value::is_array) {
            out.extend(items(b).into_iter().enumerate().map(|(i, it)| (format!("{rel} {code} value[{i}]"), it)));
        } else {
            out.push((format!("{rel} {code}"), b.clone()));
        }
    }
    assert!(!out.is_empty(), "{rel} answers no body");
    out
}

/// The id to read a body under: its own when that is an MPE of this provider's type (the examples spell
/// some in odd casing), else one of the type (some examples' bodies carry another resource's id).
fn id_for(p: &dyn Provider, what: &str, body: &Value) -> ResourceId {
    if let Some(own) = body.get("id").and_then(Value::as_str).and_then(|s| ResourceId::parse(s).ok()) {
        if let Some(q) = for_id(&own) {
            assert_eq!(q.service(), p.service(), "{what}: the body's id is another provider's MPE");
            return own;
        }
    }
    mpe_of_type(p.resource_type(), "00000000-0000-0000-0000-000000000001", "rg", "example")
}

/// The simulated service's body for an MPE of `p`'s type in `phase`, with its id.
fn sim_body_in(p: &dyn Provider, phase: azure_sim::MpePhase) -> (ResourceId, Value) {
    sim_mpe_body(p.resource_type(), "00000000-0000-0000-0000-000000000001", phase)
}

/// That body waiting for approval (its connection provisioned, for a service that does not report it).
fn sim_body(p: &dyn Provider) -> (ResourceId, Value) {
    sim_body_in(p, azure_sim::MpePhase::AwaitingApproval)
}

/// Every body an adapter is tried on: the simulated one and each of its examples'.
fn bodies(p: &dyn Provider) -> Vec<(String, ResourceId, Value)> {
    let (id, b) = sim_body(p);
    let mut out = vec![(format!("{} (simulated)", p.service()), id, b)];
    for rel in p.examples() {
        for (what, b) in example_bodies(rel) {
            out.push((what.clone(), id_for(p, &what, &b), b));
        }
    }
    out
}

fn parse(p: &dyn Provider, what: &str, id: &ResourceId, body: &Value) -> MpeView {
    p.parse(id, body).unwrap_or_else(|e| panic!("{what}: {e}\n{body:#}"))
}

/// Where `p`'s simulated body keeps the object holding its connection's `status`, below `properties`
/// (a Front Door origin's `/properties/sharedPrivateLinkResource`); `None` where the status sits in
/// `properties` itself or the MPE does not report its connection.
fn connection_holder(p: &dyn Provider) -> Option<String> {
    let ptr = field(&sim_body(p).1, "status")?;
    let (holder, _) = ptr.rsplit_once('/')?;
    (holder != "/properties").then(|| holder.to_string())
}

/// Whether `body` connects to nothing: the object that holds the connection in `p`'s simulated body is
/// null in it (a Front Door origin without a private link, as the official examples show one).
fn connects_to_nothing(p: &dyn Provider, body: &Value) -> bool {
    connection_holder(p).is_some_and(|holder| body.pointer(&holder) == Some(&Value::Null))
}

// ---------------------------------------------------------------- the official examples

#[test]
fn every_provider_declares_examples_of_its_namespace_that_exist() {
    for p in registry() {
        // A service that is not ARM-shaped (the Databricks account API, the Fabric REST API) is read from its
        // documented examples in its own file's tests; its examples here would be ARM's.
        if !arm_shaped(*p) {
            assert!(p.examples().is_empty(), "{}: examples here are ARM-shaped", p.service());
            continue;
        }
        assert!(!p.examples().is_empty(), "{}: no official examples declared", p.service());
        let namespace = p.resource_type().split('/').next().unwrap_or_default();
        for rel in p.examples() {
            assert!(Path::new(FIXTURES).join(rel).is_file(), "{}: {rel} is not under {FIXTURES}", p.service());
            assert!(rel.starts_with(&format!("{namespace}/")), "{}: {rel} is not under {namespace}/", p.service());
        }
    }
}

/// What an example body says of its connection, in the ARM words the examples use: `(provisioningState,
/// connection status)`, each `None` where the body has no such field.
fn words(body: &Value) -> (Option<String>, Option<String>) {
    let one = |key| {
        let found = members(body, key);
        assert!(found.len() <= 1, "more than one {key}: {found:?}");
        found.into_iter().next().map(|(_, v)| v)
    };
    (one("provisioningState"), one("status"))
}

#[test]
fn every_example_reads_as_its_own_words_say() {
    // fixtures: every example each provider declares; each response body, each item of a list
    let mut read = 0;
    for p in registry() {
        for rel in p.examples() {
            for (what, b) in example_bodies(rel) {
                let id = id_for(*p, &what, &b);
                let v = parse(*p, &what, &id, &b);
                assert_eq!(v.id, id, "{what}");
                if connects_to_nothing(*p, &b) {
                    // No connection at all, whatever the provisioningState: nothing to approve; the view
                    // names the resource itself as its target.
                    assert_eq!(variant(&v.status), "NoPrivateLink", "{what}: {:?} ({})", v.status, v.raw_status);
                    assert_eq!((&v.target, &v.group_id, &v.request_message), (&id, &None, &None), "{what}");
                    for (field, value) in status_fields(&b) {
                        assert!(
                            v.raw_status.contains(&format!("{value:?}")),
                            "{what}: {field} not in {:?}",
                            v.raw_status
                        );
                    }
                    read += 1;
                    continue;
                }
                // What it reads is in the body: the target, the group, the request message where it has one.
                assert!(leaf_holding(&b, v.target.as_str()).is_some(), "{what}: target {} not in the body", v.target);
                let group = v.group_id.as_deref().unwrap_or_else(|| panic!("{what}: no group read"));
                assert!(leaf_holding(&b, group).is_some(), "{what}: group {group}");
                let message = members(&b, "requestMessage").into_iter().map(|(_, m)| m).find(|m| !m.trim().is_empty());
                assert_eq!(v.request_message, message, "{what}: request message");
                // Its status, from the body's own words.
                let (provisioning, connection) = words(&b);
                // A service whose waiting MPE reports a provisioningState (as the simulator, written from
                // its recordings, renders it) is not read as waiting from a body without one.
                let provisioned = words(&sim_body(*p).1).0.is_some();
                let want = match (provisioning.as_deref(), connection.as_deref()) {
                    (None, None) => "Unknown",
                    (None, Some(_)) if provisioned => "Unknown",
                    (Some("Succeeded"), None) if !p.reports_connection() => "ProvisionedCheckTarget",
                    (None | Some("Succeeded"), Some("Pending")) => "AwaitingApproval",
                    (None | Some("Succeeded"), Some("Approved")) => "Approved",
                    (None | Some("Succeeded"), Some("Rejected")) => "Rejected",
                    // A create's answer still provisioning, its connection to be (Synapse's example).
                    (Some("Provisioning"), Some("Pending")) => "Provisioning",
                    // A create's answer: provisioned or still running, no connection state yet (Grafana).
                    (Some("Succeeded" | "Accepted"), None) => "Provisioning",
                    other => panic!("{what}: an example saying {other:?}: say here what it means"),
                };
                assert_eq!(variant(&v.status), want, "{what}: {:?} ({})", v.status, v.raw_status);
                for (field, value) in status_fields(&b) {
                    assert!(v.raw_status.contains(&format!("{value:?}")), "{what}: {field} not in {:?}", v.raw_status);
                }
                read += 1;
            }
        }
    }
    assert!(read >= registry().len(), "{read} bodies read");
}

#[test]
fn an_example_without_a_connection_reads_as_waiting_once_given_the_simulated_one() {
    // Every example body that connects to nothing (no official example shows a Front Door origin with its
    // private link), with the connection object of the provider's simulated body put in its place: read as
    // that body is, towards its target; the example's own provisioningState (`Creating` in a 202) still
    // counts.
    let mut given = 0;
    for p in registry() {
        let Some(holder) = connection_holder(*p) else { continue };
        let (_, sim) = sim_body(*p);
        let sim_view = parse(*p, p.service(), &sim_body(*p).0, &sim);
        let connection = sim.pointer(&holder).cloned().expect("the simulated body's connection");
        for rel in p.examples() {
            for (what, b) in example_bodies(rel) {
                if !connects_to_nothing(*p, &b) {
                    continue;
                }
                let id = id_for(*p, &what, &b);
                let v = parse(*p, &what, &id, &with(&b, &holder, connection.clone()));
                let want = match words(&b).0.as_deref() {
                    Some("Succeeded") => "AwaitingApproval",
                    Some("Creating") => "Provisioning",
                    other => panic!("{what}: provisioningState {other:?}: say here what it means"),
                };
                assert_eq!(variant(&v.status), want, "{what}: {:?} ({})", v.status, v.raw_status);
                assert_eq!(v.target, sim_view.target, "{what}");
                assert_eq!((&v.group_id, &v.request_message), (&sim_view.group_id, &sim_view.request_message));
                given += 1;
            }
        }
    }
    assert!(given > 0, "no example connects to nothing");
}

// ---------------------------------------------------------------- the ARM vocabularies

/// Whether `p`'s bodies are ARM's shape (`properties`, `provisioningState`, a connection `status`): all
/// but a data plane whose lists are not ARM's (the Databricks account API, the Fabric REST API: read by
/// their own files' tests).
fn arm_shaped(p: &dyn Provider) -> bool {
    !p.data_plane().is_some_and(|d| d.lists != ListShape::Value)
}

/// The status field named `key` of the provider's simulated body, if the service reports one.
fn field(body: &Value, key: &str) -> Option<String> {
    let found = members(body, key);
    assert!(found.len() <= 1, "more than one {key}: {found:?}");
    found.into_iter().next().map(|(ptr, _)| ptr)
}

/// For every provider whose simulated body waiting for approval has the status field `key`: that field
/// replaced by each word reads as the status named beside it, and the raw status quotes the word; the
/// provider's own cases (`more`) follow the shared ones. Returns how many providers were tried.
fn read_alike(
    key: &str,
    cases: &[(&str, &str)],
    more: impl Fn(&dyn Provider) -> Vec<(&'static str, &'static str)>,
) -> usize {
    let mut tried = 0;
    for p in registry() {
        let (id, b) = sim_body(*p);
        let Some(ptr) = field(&b, key) else { continue };
        for (word, want) in cases.iter().copied().chain(more(*p)) {
            let v = parse(*p, p.service(), &id, &with(&b, &ptr, json!(word)));
            assert_eq!(variant(&v.status), want, "{}: {key} {word:?} read as {:?}", p.service(), v.status);
            assert!(v.raw_status.contains(&format!("{word:?}")), "{}: {:?}", p.service(), v.raw_status);
        }
        tried += 1;
    }
    tried
}

#[test]
fn the_connection_status_vocabulary_reads_alike_for_every_provider() {
    // The simulated body waiting for approval, its connection's status replaced (provisioning Succeeded).
    let cases = [
        ("Pending", "AwaitingApproval"),
        ("pending", "AwaitingApproval"),
        ("Approved", "Approved"),
        ("APPROVED", "Approved"),
        ("Rejected", "Rejected"),
        ("Disconnected", "Disconnected"),
        ("", "Provisioning"),
        ("Weird", "Unknown"),
        ("Pending ", "Unknown"),
    ];
    for p in registry().iter().filter(|p| arm_shaped(**p)) {
        let reported = field(&sim_body(*p).1, "status").is_some();
        assert_eq!(
            reported,
            p.reports_connection(),
            "{}: a status field exactly where the MPE reports its connection",
            p.service()
        );
    }
    assert!(read_alike("status", &cases, |_| Vec::new()) > 0, "no provider reports its connection's status");
}

#[test]
fn the_provisioning_state_vocabulary_reads_alike_for_every_provider() {
    // The simulated body waiting for approval, its provisioningState replaced.
    let cases = [
        ("Creating", "Provisioning"),
        ("creating", "Provisioning"),
        ("Provisioning", "Provisioning"),
        ("Updating", "Provisioning"),
        ("Running", "Provisioning"),
        ("Failed", "Failed"),
        ("Canceled", "Failed"),
        ("Deleting", "Deleting"),
        ("Weird", "Unknown"),
        ("", "Unknown"),
    ];
    let provisioned = |p: &dyn Provider| {
        let want = if p.reports_connection() { "AwaitingApproval" } else { "ProvisionedCheckTarget" };
        vec![("Succeeded", want), ("succeeded", want)]
    };
    assert!(read_alike("provisioningState", &cases, provisioned) > 0, "no provider reports a provisioningState");
}

#[test]
fn status_words_are_read_whatever_their_case() {
    // The simulated body of every phase (the live words each service uses), every status field upper- and
    // lower-cased: read as the same status.
    for p in registry() {
        for phase in azure_sim::MpePhase::ALL {
            let (id, b) = sim_body_in(*p, phase);
            let want = variant(&parse(*p, p.service(), &id, &b).status);
            for (ptr, word) in status_fields(&b) {
                for odd in [word.to_ascii_uppercase(), word.to_ascii_lowercase()] {
                    let v = parse(*p, p.service(), &id, &with(&b, &ptr, json!(odd)));
                    assert_eq!(variant(&v.status), want, "{} {phase:?}: {ptr} = {odd:?}", p.service());
                }
            }
        }
    }
}

// ---------------------------------------------------------------- garbage in

#[test]
fn garbage_status_values_are_unknown_never_pending() {
    // Every body of every adapter, each status field replaced by a non-string or odd string. A number,
    // bool or object status reads as unknown, never as "no status yet" (Provisioning).
    for p in registry() {
        for (what, id, b) in bodies(*p) {
            // A body that connects to nothing stays so: its provisioningState decides nothing.
            let nothing = connects_to_nothing(*p, &b);
            for (ptr, _) in status_fields(&b) {
                for garbage in
                    [json!("Weird"), json!(1), json!(0), json!(true), json!({"status": "Pending"}), json!(["Pending"])]
                {
                    let v = parse(*p, &what, &id, &with(&b, &ptr, garbage.clone()));
                    assert!(
                        if nothing {
                            v.status == MpeStatus::NoPrivateLink
                        } else {
                            matches!(v.status, MpeStatus::Unknown(_))
                        },
                        "{what}: {ptr} = {garbage} gave {:?}, want {}",
                        v.status,
                        if nothing { "NoPrivateLink" } else { "Unknown" }
                    );
                }
            }
        }
    }
}

#[test]
fn missing_status_fields_are_never_pending() {
    // Every body of every adapter, each status field removed or null: "not set (yet)".
    for p in registry() {
        for (what, id, b) in bodies(*p) {
            let nothing = connects_to_nothing(*p, &b);
            for (ptr, _) in status_fields(&b) {
                for edited in [without(&b, &ptr), with(&b, &ptr, json!(null))] {
                    let v = parse(*p, &what, &id, &edited);
                    assert!(
                        if nothing {
                            v.status == MpeStatus::NoPrivateLink
                        } else {
                            matches!(v.status, MpeStatus::Unknown(_) | MpeStatus::Provisioning(_))
                        },
                        "{what}: without {ptr} gave {:?}",
                        v.status
                    );
                }
            }
        }
    }
}

#[test]
fn missing_properties_is_a_clear_error() {
    // Every body of every ARM-shaped adapter, `properties` removed or replaced.
    for p in registry().iter().filter(|p| arm_shaped(**p)) {
        for (what, id, b) in bodies(*p) {
            for edited in
                [without(&b, "/properties"), with(&b, "/properties", json!("x")), json!(null), json!([]), json!({})]
            {
                match p.parse(&id, &edited) {
                    Err(ProviderError::Missing { field, .. }) => assert!(!field.is_empty()),
                    other => panic!("{what}: {edited} gave {other:?}, want Missing"),
                }
            }
        }
    }
}

#[test]
fn hostile_or_missing_target_ids_are_errors() {
    // Every body of every adapter, the target id (where the body holds what the adapter read) replaced.
    for p in registry() {
        // A body that connects to nothing holds no target to replace.
        for (what, id, b) in bodies(*p).into_iter().filter(|(_, _, b)| !connects_to_nothing(*p, b)) {
            let target = parse(*p, &what, &id, &b).target;
            let ptr =
                leaf_holding(&b, target.as_str()).unwrap_or_else(|| panic!("{what}: the target is not in the body"));
            for hostile in [
                "/subscriptions/../x",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/../acct",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct?api-version=2020-01-01",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct#x",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a%2Fb",
                "https://evil.example/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
                "subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            ] {
                match p.parse(&id, &with(&b, &ptr, json!(hostile))) {
                    Err(ProviderError::BadTarget { source, .. }) => assert!(!source.reason.is_empty()),
                    other => panic!("{what}: target {hostile:?} gave {other:?}, want BadTarget"),
                }
            }
            for missing in [json!(""), json!(null), json!(7)] {
                match p.parse(&id, &with(&b, &ptr, missing.clone())) {
                    Err(ProviderError::Missing { .. }) => {}
                    other => panic!("{what}: target {missing} gave {other:?}, want Missing"),
                }
            }
            assert!(matches!(p.parse(&id, &without(&b, &ptr)), Err(ProviderError::Missing { .. })), "{what}");
        }
    }
}

// ---------------------------------------------------------------- registry

#[test]
fn for_id_and_for_operation_are_case_insensitive_and_exact() {
    for p in registry() {
        let id = mpe_of_type(p.resource_type(), "s", "rg", "m1");
        for spelled in [p.resource_type().to_ascii_uppercase(), p.resource_type().to_ascii_lowercase()] {
            let odd = mpe_of_type(&spelled, "s", "RG", "m1");
            let found = for_id(&odd).unwrap_or_else(|| panic!("{odd}: no provider"));
            assert_eq!(found.service(), p.service(), "{odd}");
            let (a, b) = (found.endpoint_name(&odd), p.endpoint_name(&id));
            assert_eq!(a.map(|n| n.to_ascii_lowercase()), b.map(|n| n.to_ascii_lowercase()), "{odd}");
        }
        let op = p.write_operation();
        assert_eq!(for_operation(&op.to_ascii_uppercase()).map(|q| q.service()), Some(p.service()), "{op}");
        let delete = format!("{}/delete", p.resource_type());
        assert!(for_operation(&delete).is_none(), "{delete}");
        // Ids near the MPE's that are no MPE: its parent and a PEC of the parent (where the type has a
        // parent: a private endpoint has none), a child, a type one letter short.
        let short = mpe_of_type(&p.resource_type()[..p.resource_type().len() - 1], "s", "rg", "m1");
        let near =
            id.parent().map(|parent| [parent.clone(), rid(&format!("{parent}/privateEndpointConnections/upstream"))]);
        for not_mpe in near.into_iter().flatten().chain([rid(&format!("{id}/x/y")), short]) {
            assert!(for_id(&not_mpe).is_none(), "{not_mpe}");
        }
    }
}

/// Synapse's recorded session (`tests/fixtures/recordings/synapse/`): the PUT's answer reads as still
/// provisioning, the GET 92 s later as waiting for approval, and in the list the workspace's reserved MPEs
/// (Approved by Synapse itself) read as reserved, never ours, while the user's MPE waits. The recorded answers carry no
/// `resourceId`: the PEC is then matched on the `{workspace}.{mpe}` rule.
#[test]
fn synapse_recorded_session_reads_as_its_states() {
    let p = mpe_approver::providers::registry()
        .iter()
        .copied()
        .find(|p| p.service() == "Synapse")
        .expect("a Synapse provider");
    let body = |f: &str| -> Value {
        let path = Path::new(FIXTURES_ROOT).join("recordings/synapse").join(f);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let id_of = |b: &Value| ResourceId::parse(b["id"].as_str().unwrap()).unwrap();
    let put = body("put-provisioning.json");
    assert_eq!(variant(&p.parse(&id_of(&put), &put).unwrap().status), "Provisioning");
    let get = body("get-pending.json");
    let v = p.parse(&id_of(&get), &get).unwrap();
    assert_eq!(variant(&v.status), "AwaitingApproval");
    assert_eq!((v.group_id.as_deref(), v.endpoint_id.as_deref()), (Some("dfs"), None));
    assert_eq!(p.endpoint_name(&v.id).as_deref(), Some("clitest000003.AzureDataLakeStoragePE"));
    let list = body("list-with-reserved.json");
    let read: Vec<(String, &str)> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), variant(&p.parse(&id_of(b), b).unwrap().status)))
        .collect();
    assert_eq!(
        read,
        [
            ("synapse-ws-sqlOnDemand--clitest000003".to_string(), "Reserved"),
            ("AzureDataLakeStoragePE".to_string(), "AwaitingApproval"),
            ("synapse-ws-sql--clitest000003".to_string(), "Reserved"),
        ]
    );
    // A reserved MPE that ever read as pending is still not ours.
    let mut reserved = list["value"][0].clone();
    reserved["properties"]["connectionState"]["status"] = json!("Pending");
    assert_eq!(variant(&p.parse(&id_of(&reserved), &reserved).unwrap().status), "Reserved");
}
