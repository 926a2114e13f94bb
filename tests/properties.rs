//! Property tests of the decoders that meet untrusted input: the resource id parser, the Functions
//! envelope, the Event Grid event, the work item, each provider adapter, and the PEC parser. 256 cases per property keeps
//! `cargo test` quick; `PROPTEST_CASES=10000 cargo test --test properties` digs deeper.

mod common;

use azure_sim::MpePhase as SimPhase;
use mpe_approver::eventgrid::Event;
use mpe_approver::functions::{self, InvocationRequest};
use mpe_approver::pec::{self, PecStatus};
use mpe_approver::providers::{self, MpeStatus};
use mpe_approver::resource_id::ResourceId;
use mpe_approver::workitem::{Origin, WorkItem, VERSION};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Cases per property: 256, or `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

// ---- strategies ----

/// Field names the decoders look for, so arbitrary documents reach past the first `get` (with every member
/// name of the simulated MPE bodies, [`sim_vocabulary`]).
const KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "properties",
    "status",
    "value",
    "nextLink",
    "privateEndpoint",
    "privateEndpointConnections",
    "privateLinkServiceConnectionState",
    "provisioningState",
    "groupId",
    "groupIds",
    "requestMessage",
    "description",
    "Data",
    "Metadata",
    "v",
    "mpeId",
    "attempt",
    "firstSeen",
    "correlationId",
    "origin",
    "eventType",
    "subject",
    "topic",
    "eventTime",
    "data",
    "operationName",
    "resourceUri",
    "authorization",
    "action",
    "scope",
];

/// Every member name and every string of the simulated MPE bodies (each served type in each phase): the
/// fields and status words of each service's own vocabulary.
fn sim_vocabulary() -> &'static (Vec<String>, Vec<String>) {
    static VOCABULARY: std::sync::OnceLock<(Vec<String>, Vec<String>)> = std::sync::OnceLock::new();
    VOCABULARY.get_or_init(|| {
        fn walk(v: &Value, keys: &mut Vec<String>, words: &mut Vec<String>) {
            match v {
                Value::Object(m) => m.iter().for_each(|(k, x)| {
                    keys.push(k.clone());
                    walk(x, keys, words)
                }),
                Value::Array(a) => a.iter().for_each(|x| walk(x, keys, words)),
                Value::String(s) if !s.starts_with('/') => words.push(s.clone()),
                _ => {}
            }
        }
        let (mut keys, mut words) = (Vec::new(), Vec::new());
        for p in providers::registry() {
            for phase in SimPhase::ALL {
                walk(&sim_body(*p, phase).1, &mut keys, &mut words);
            }
        }
        for v in [&mut keys, &mut words] {
            v.sort();
            v.dedup();
        }
        (keys, words)
    })
}

/// The connection status words of the simulated bodies waiting for approval (their `status` members):
/// what each service says while its connection waits.
fn pending_words() -> Vec<String> {
    let mut words = Vec::new();
    for p in providers::registry() {
        let body = sim_body(*p, SimPhase::AwaitingApproval).1;
        let mut paths = Vec::new();
        leaves(&body, String::new(), &mut paths);
        for path in paths.iter().filter(|p| p.ends_with("/status")) {
            words.extend(body.pointer(path).and_then(Value::as_str).map(str::to_string));
        }
    }
    assert!(!words.is_empty(), "no simulated body says its connection is pending");
    words
}

/// Strings worth trying besides arbitrary ones: status words (each service's, from the simulator), ids,
/// double encodings, base64.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(sim_vocabulary().1.clone()),
        prop::sample::select(vec![
            "Pending",
            "pending",
            "Succeeded",
            "Approved",
            "Rejected",
            "Disconnected",
            "Failed",
            "",
            " ",
            "null",
            "\"\"",
            "{}",
            "[]",
            "eyJhIjoxfQ==",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
        ])
        .prop_map(str::to_string),
        any::<String>(),
        valid_id().prop_map(|p| p.text),
    ]
}

fn key() -> impl Strategy<Value = String> {
    let keys: Vec<String> = KEYS.iter().map(|k| k.to_string()).chain(sim_vocabulary().0.iter().cloned()).collect();
    prop_oneof![3 => prop::sample::select(keys), 1 => any::<String>()]
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        interesting_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A segment the id parser accepts.
fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_().-]{1,10}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

/// A segment of the type/name tail (no nested `providers`).
fn tail_segment() -> impl Strategy<Value = String> {
    segment().prop_filter("no nested providers", |s| !s.eq_ignore_ascii_case("providers"))
}

#[derive(Debug, Clone)]
struct IdParts {
    sub: String,
    rg: String,
    namespace: String,
    tail: Vec<(String, String)>,
    text: String,
}

fn valid_id() -> impl Strategy<Value = IdParts> {
    (
        segment(),
        segment(),
        "[A-Za-z][A-Za-z0-9]{0,8}\\.[A-Za-z][A-Za-z0-9]{0,8}",
        prop::collection::vec((tail_segment(), tail_segment()), 1..4),
    )
        .prop_map(|(sub, rg, namespace, tail)| {
            let mut text = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}");
            for (t, n) in &tail {
                text.push_str(&format!("/{t}/{n}"));
            }
            IdParts { sub, rg, namespace, tail, text }
        })
}

/// A valid id with one character inserted somewhere.
fn near_id() -> impl Strategy<Value = String> {
    (valid_id(), any::<prop::sample::Index>(), any::<char>()).prop_map(|(p, at, c)| {
        let mut chars: Vec<char> = p.text.chars().collect();
        chars.insert(at.index(chars.len() + 1), c);
        chars.into_iter().collect()
    })
}

fn work_item() -> impl Strategy<Value = WorkItem> {
    (
        valid_id(),
        any::<u32>(),
        0i64..4_102_444_800,
        0u32..1_000_000_000,
        "[A-Za-z0-9_.:-]{1,128}",
        prop::sample::select(vec![Origin::EventGrid, Origin::Replay, Origin::Sweep]),
        prop::option::of("[A-Za-z0-9-]{1,64}"),
        prop::option::of("/subscriptions/[a-z0-9]{1,8}/x"),
        prop::sample::select(vec![0u32, 1, 2, u32::MAX]),
    )
        .prop_map(|(id, attempt, secs, nanos, correlation_id, origin, chain, approving, unmatched)| WorkItem {
            v: VERSION,
            mpe_id: ResourceId::parse(&id.text).expect("generated ids are valid"),
            attempt,
            first_seen: chrono::DateTime::from_timestamp(secs, nanos).expect("in range"),
            correlation_id,
            origin,
            chain,
            approving,
            unmatched,
            siblings: Vec::new(),
        })
}

/// Every leaf of a document (JSON pointers).
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            m.iter().for_each(|(k, x)| leaves(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

/// `doc` with the leaf picked by `at` replaced by `with`.
fn replace_leaf(doc: &Value, at: prop::sample::Index, with: Value) -> Value {
    let mut paths = Vec::new();
    leaves(doc, String::new(), &mut paths);
    let mut out = doc.clone();
    if !paths.is_empty() {
        if let Some(slot) = out.pointer_mut(&paths[at.index(paths.len())]) {
            *slot = with;
        }
    }
    out
}

/// Every string leaf equal (case-insensitively) to one of `words`, replaced by `with`.
fn replace_words(v: &Value, words: &[&str], with: &str) -> Value {
    match v {
        Value::String(s) if words.iter().any(|w| s.eq_ignore_ascii_case(w)) => Value::String(with.to_string()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), replace_words(x, words, with))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|x| replace_words(x, words, with)).collect()),
        other => other.clone(),
    }
}

/// An MPE id of the provider's resource type.
fn provider_id(p: &dyn providers::Provider) -> ResourceId {
    common::mpe_of_type(p.resource_type(), "s", "rg", "m")
}

/// The body of an MPE of the provider's type in `phase`, as the simulator renders it.
fn sim_body(p: &dyn providers::Provider, phase: SimPhase) -> (ResourceId, Value) {
    common::sim_mpe_body(p.resource_type(), "s", phase)
}

// ---- properties ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn resource_id_parse_never_panics(s in any::<String>()) {
        let _ = ResourceId::parse(&s);
    }

    #[test]
    fn resource_id_round_trips(p in valid_id(), trailing_slash in any::<bool>()) {
        let input = if trailing_slash { format!("{}/", p.text) } else { p.text.clone() };
        let id = ResourceId::parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(id.as_str(), p.text.as_str());
        prop_assert_eq!(id.subscription(), p.sub.as_str());
        prop_assert_eq!(id.resource_group(), p.rg.as_str());
        prop_assert_eq!(id.namespace(), p.namespace.as_str());
        prop_assert_eq!(id.name(), p.tail.last().map(|(_, n)| n.as_str()).unwrap_or_default());
        let again = ResourceId::parse(id.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.as_str(), id.as_str());
        prop_assert_eq!(&again, &id);
        // Comparison is case-insensitive, as ARM's is.
        let lower = ResourceId::parse(&id.as_str().to_ascii_lowercase()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(lower.key(), id.key());
    }

    #[test]
    fn whatever_parses_round_trips_and_is_clean(s in near_id()) {
        if let Ok(id) = ResourceId::parse(&s) {
            let again = ResourceId::parse(id.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again.as_str(), id.as_str());
            let text = id.as_str();
            prop_assert!(!text.contains("//") && !text.contains("/../") && !text.ends_with("/.."), "{}", text);
            prop_assert!(!text.contains(['?', '%', '#', ' ', '\\']), "{}", text);
            prop_assert!(text.is_ascii(), "{}", text);
        }
    }

    #[test]
    fn resource_ids_with_dot_dot_empty_query_or_escape_are_refused(
        p in valid_id(),
        at in any::<prop::sample::Index>(),
        defect in prop::sample::select(vec!["..", ".", "", "?", "%", "%2F", "?api-version=1", "#", " "]),
        inside in any::<bool>(),
    ) {
        let mut segs: Vec<String> = p.text.trim_start_matches('/').split('/').map(str::to_string).collect();
        let i = at.index(segs.len());
        if defect.is_empty() || defect == "." || defect == ".." || !inside {
            // A whole segment: `..`, `.`, an empty one, or one made of the defect.
            segs[i] = defect.to_string();
        } else {
            segs[i].push_str(defect);
        }
        let bad = format!("/{}", segs.join("/"));
        prop_assert!(ResourceId::parse(&bad).is_err(), "accepted {:?}", bad);
    }

    #[test]
    fn envelope_decoder_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<InvocationRequest>(&bytes);
    }

    #[test]
    fn envelope_decoder_never_panics_on_json(data in json_value(), metadata in json_value(), any_doc in json_value()) {
        let doc = json!({"Data": data, "Metadata": metadata}).to_string();
        for text in [doc, any_doc.to_string()] {
            if let Ok(req) = serde_json::from_str::<InvocationRequest>(&text) {
                for v in req.data.values().chain(req.metadata.values()) {
                    let _ = functions::text(v);
                    let _ = functions::unwrap_json(v);
                    let _ = functions::number(Some(v));
                    let _ = functions::string(Some(v));
                }
            }
        }
    }

    #[test]
    fn envelope_values_decode_through_double_encoding(s in any::<String>(), n in any::<u64>(), obj in json_value()) {
        // The host sends strings JSON-encoded a second time: text() gives back the plain string.
        let twice = Value::String(serde_json::to_string(&s).map_err(|e| TestCaseError::fail(e.to_string()))?);
        prop_assert_eq!(functions::text(&twice), Some(s));
        prop_assert_eq!(functions::number(Some(&json!(n))), Some(n));
        prop_assert_eq!(functions::number(Some(&json!(n.to_string()))), Some(n));
        prop_assert_eq!(functions::number(Some(&json!(format!("\"{n}\"")))), Some(n));
        if obj.is_object() {
            // An object, as an object or as its JSON text, reads as that JSON text.
            let expected = serde_json::from_str::<Value>(&obj.to_string()).ok();
            let direct = functions::text(&obj).map(|t| serde_json::from_str::<Value>(&t).ok());
            prop_assert_eq!(&direct, &Some(expected.clone()));
            let encoded = functions::text(&Value::String(obj.to_string())).map(|t| serde_json::from_str::<Value>(&t).ok());
            prop_assert_eq!(&encoded, &Some(expected));
        }
    }

    #[test]
    fn work_item_decoder_never_panics(s in any::<String>(), doc in json_value()) {
        let _ = WorkItem::from_json(&s);
        let _ = WorkItem::from_json(&doc.to_string());
    }

    #[test]
    fn work_item_round_trips(item in work_item()) {
        let text = item.to_json();
        let back = WorkItem::from_json(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(back.message_id(), item.message_id());
        prop_assert_eq!(&back, &item);
        prop_assert_eq!(back.next().attempt, item.attempt.saturating_add(1));
    }

    #[test]
    fn work_item_with_a_field_replaced_never_panics(
        item in work_item(),
        at in any::<prop::sample::Index>(),
        with in json_value(),
    ) {
        let doc: Value = serde_json::from_str(&item.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mutated = replace_leaf(&doc, at, with);
        if let Ok(back) = WorkItem::from_json(&mutated.to_string()) {
            // Whatever is accepted is a well-formed item.
            prop_assert_eq!(back.v, VERSION);
            prop_assert!(mpe_approver::workitem::valid_correlation_id(&back.correlation_id));
        }
    }

    #[test]
    fn provider_parse_never_panics_on_arbitrary_json(body in json_value()) {
        for p in providers::registry() {
            let _ = p.parse(&provider_id(*p), &body);
        }
    }

    #[test]
    fn provider_parse_never_panics_on_a_mutated_real_body(
        phase in prop::sample::select(SimPhase::ALL.to_vec()),
        at in any::<prop::sample::Index>(),
        with in json_value(),
    ) {
        for p in providers::registry() {
            let (id, body) = sim_body(*p, phase);
            let _ = p.parse(&id, &replace_leaf(&body, at, with.clone()));
        }
    }

    #[test]
    fn an_unknown_status_is_never_awaiting_approval(word in interesting_string(), odd in json_value()) {
        let pending = pending_words();
        let pending: Vec<&str> = pending.iter().map(String::as_str).collect();
        prop_assume!(!pending.iter().any(|w| word.eq_ignore_ascii_case(w)));
        for p in providers::registry() {
            let (id, body) = sim_body(*p, SimPhase::AwaitingApproval);
            // The unmutated body is the pending one (or "ask the target", for an MPE that does not report its
            // connection).
            let before = p.parse(&id, &body).map_err(|e| TestCaseError::fail(e.to_string()))?.status;
            let waiting = if p.reports_connection() { MpeStatus::AwaitingApproval } else { MpeStatus::ProvisionedCheckTarget };
            prop_assert_eq!(before, waiting);
            // The pending status replaced by any other word.
            let other = replace_words(&body, &pending, &word);
            if let Ok(v) = p.parse(&id, &other) {
                prop_assert_ne!(v.status, MpeStatus::AwaitingApproval, "{}: status {:?} read as pending", p.service(), word);
            }
            // Provisioning that has not Succeeded never counts as pending.
            if !word.eq_ignore_ascii_case("succeeded") {
                let unprovisioned = replace_words(&body, &["succeeded"], &word);
                if let Ok(v) = p.parse(&id, &unprovisioned) {
                    if unprovisioned != body {
                        prop_assert_ne!(v.status, MpeStatus::AwaitingApproval, "{}: provisioningState {:?}", p.service(), word);
                    }
                }
            }
            // A status that is not a string at all.
            if !odd.is_string() {
                let mut paths = Vec::new();
                leaves(&body, String::new(), &mut paths);
                for path in paths {
                    if body.pointer(&path).and_then(Value::as_str).is_some_and(|s| pending.iter().any(|w| s.eq_ignore_ascii_case(w))) {
                        let mut b = body.clone();
                        if let Some(slot) = b.pointer_mut(&path) {
                            *slot = odd.clone();
                        }
                        if let Ok(v) = p.parse(&id, &b) {
                            prop_assert_ne!(v.status, MpeStatus::AwaitingApproval, "{}: status {} read as pending", p.service(), odd);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pec_parsers_never_panic(doc in json_value()) {
        let _ = pec::parse_pec(&doc);
        if let Ok((items, _next)) = pec::list_items(&doc) {
            for item in items {
                let _ = pec::parse_pec(item);
            }
        }
        let _ = pec::parse_list(&doc);
    }

    #[test]
    fn pec_is_pending_only_when_its_status_says_so(status in interesting_string(), id in interesting_string()) {
        let doc = json!({
            "id": id,
            "properties": {
                "privateEndpoint": {"id": "/subscriptions/x/resourceGroups/m/providers/Microsoft.Network/privateEndpoints/pe"},
                "privateLinkServiceConnectionState": {"status": status, "description": "d"}
            }
        });
        let pec = pec::parse_pec(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(pec.status == PecStatus::Pending, status.eq_ignore_ascii_case("pending"));
        prop_assert_eq!(pec.endpoint_name(), Some("pe"));
        for list in [json!([doc.clone()]), json!({"value": [doc.clone()]}), json!({"properties": {"privateEndpointConnections": [doc]}})] {
            let (items, _) = pec::list_items(&list).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(items.len(), 1);
        }
    }

    #[test]
    fn event_grid_decoder_never_panics(doc in json_value(), data in json_value(), event_type in interesting_string()) {
        let _ = Event::from_value(&doc);
        let _ = Event::from_value(&json!({"eventType": event_type, "data": data}));
        let _ = Event::from_value(&json!({"eventType": event_type, "data": data.to_string()}));
    }

    #[test]
    fn event_grid_data_decodes_the_same_double_encoded(
        event_type in interesting_string(),
        subject in proptest::option::of(interesting_string()),
        operation in proptest::option::of(interesting_string()),
        resource in proptest::option::of(interesting_string()),
        action in proptest::option::of(interesting_string()),
    ) {
        let data = json!({"operationName": operation, "resourceUri": resource, "authorization": {"action": action}});
        let plain = json!({"eventType": event_type, "subject": subject, "data": data});
        let twice = json!({"eventType": event_type, "subject": subject, "data": data.to_string()});
        let a = Event::from_value(&plain).map_err(TestCaseError::fail)?;
        let b = Event::from_value(&twice).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&a, &b);
        // The operation is operationName, else the authorization action; the resource resourceUri, else the subject.
        prop_assert_eq!(a.operation(), operation.as_deref().or(action.as_deref()).unwrap_or(""));
        prop_assert_eq!(a.resource(), resource.as_deref().or(subject.as_deref()));
    }
}
