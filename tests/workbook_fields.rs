//! The workbook (`infra/workbooks/mpe-approver.workbook.json`) and the Kusto queries of the docs read the
//! handler's events as they reach Application Insights: every line the custom handler writes on stdout or
//! stderr, and every entry of an invocation's `Logs`, becomes a `traces` message. This test produces those
//! messages for real: the compiled binary serves the Functions host emulator over the simulator, with the
//! settings `infra/` deploys (`MPE_LOG_FORMAT=json`), and does what the panels count (an MPE approved, one
//! parked `policy-refused`, a Private Link Service scan that approves one consumer and leaves a stranger
//! waiting, ARM answering 429s). Then, for each query:
//!
//! - it binds one variable with `parse_json(message)` or `parse_json(substring(message, strlen("<p>")))`
//!   and filters it on the event it reads (`tostring(v.event) == "mpe.outcome"`, `"mpe.audit"`, or
//!   `tostring(v.message) == "ARM throttled or failed"`, the handler's throttling line);
//! - some real message passes its `message startswith/has/contains` filters, parses the way the query
//!   parses it and is that event (so the prefix and the shape the query assumes are the real ones);
//! - every field it reads (`v.a`, `v.a.b`) is a key such an event carries, and every literal it compares
//!   a field with (`==`, `!=`, `=~`, `startswith`, `in (...)`) is a value such an event has.
//!
//! The end of the test changes a field name, a compared value and a prefix in copies of the queries and
//! sees each reported: the check fails when the workbook and the events drift apart.

mod common;

use azure_sim::{write_success_event, InvocationResult, MpeSpec, SimOptions, Simulator, Throttle};
use azure_sim::{SharedClock, SystemClock};
use common::in_group;
use regex_automata::meta::Regex;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const WORKBOOK: &str = "infra/workbooks/mpe-approver.workbook.json";
/// The docs whose `kusto` blocks are checked the same way.
const DOCS: [&str; 3] = ["docs/operations.md", "docs/safety.md", "docs/private-link-service.md"];
const SUB: &str = "0b5e55ed-0000-4000-8000-00000000f001";
const OTHER_SUB: &str = "0b5e55ed-0000-4000-8000-00000000f002";
const STRANGER_SUB: &str = "0b5e55ed-0000-4000-8000-00000000f0ff";

/// One Kusto query and where it comes from.
#[derive(Clone, Debug)]
struct Query {
    origin: String,
    text: String,
}

/// Every query item of the workbook, those inside groups included.
fn workbook_queries(doc: &Value) -> Vec<Query> {
    fn walk(items: &Value, out: &mut Vec<Query>) {
        for item in items.as_array().into_iter().flatten() {
            let content = &item["content"];
            if item["type"] == 3 {
                let text = content["query"].as_str().unwrap_or_default().to_string();
                out.push(Query { origin: format!("{WORKBOOK} item {}", item["name"]), text });
            }
            walk(&content["items"], out);
        }
    }
    let mut out = Vec::new();
    walk(&doc["items"], &mut out);
    out
}

/// The queries of a Markdown file's `kusto` blocks: a block holds one or more, each starting with a line
/// `traces`.
fn doc_queries(rel: &str) -> Vec<Query> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap();
    let mut out: Vec<Query> = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```kusto";
            continue;
        }
        if !in_block {
            continue;
        }
        if line.trim() == "traces" {
            out.push(Query { origin: format!("{rel} query {}", out.len() + 1), text: String::new() });
        }
        if let Some(q) = out.last_mut() {
            q.text.push_str(line);
            q.text.push('\n');
        }
    }
    out
}

/// Every match of `pattern` in `hay`: its groups, `None` for a group that did not take part.
fn matches(pattern: &str, hay: &str) -> Vec<Vec<Option<String>>> {
    let re = Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    re.captures_iter(hay)
        .map(|c| (0..c.group_len()).map(|i| c.get_group(i).map(|s| hay[s].to_string())).collect())
        .collect()
}

/// The text of `s` from an opening parenthesis at `open` to its matching close, both excluded.
fn balanced(s: &str, open: usize) -> Option<&str> {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[open + 1..open + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// How a query turns a message into JSON.
enum Parse {
    Whole,
    After(usize),
}

impl Parse {
    fn apply(&self, message: &str) -> Option<Value> {
        let text = match self {
            Parse::Whole => message,
            Parse::After(n) => message.get(*n..)?,
        };
        serde_json::from_str::<Value>(text).ok().filter(Value::is_object)
    }
}

/// The value at a dotted path (`evidence.consumerSubscription`), present even when null.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.as_object()?.get(key))
}

/// A JSON value as KQL's `tostring` shows it.
fn kql_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// What is wrong with `q` against the real trace messages (empty: nothing).
fn problems(q: &Query, traces: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let text = &q.text;
    let mut bad = |what: String| out.push(format!("{}: {what}", q.origin));
    let bindings = matches(r"(\w+)\s*=\s*parse_json\(", text);
    let [binding] = bindings.as_slice() else {
        bad(format!("{} parse_json bindings; a query reads one event (`v = parse_json(...)`)", bindings.len()));
        return out;
    };
    let var = binding[1].clone().unwrap();
    let open = text.find(binding[0].as_deref().unwrap()).unwrap() + binding[0].as_ref().unwrap().len() - 1;
    let arg = balanced(text, open).unwrap_or_default().trim();
    let parse = if arg == "message" {
        Parse::Whole
    } else if let Some(m) = matches(r#"^substring\(message,\s*strlen\("([^"]*)"\)\)$"#, arg).first() {
        Parse::After(m[1].as_ref().unwrap().chars().count())
    } else {
        bad(format!("parse_json({arg}): not one of the forms the events are written in"));
        return out;
    };
    let filters: Vec<(String, String)> =
        matches(r#"(?:^|[^\w.])message\s+(startswith|has|contains)\s+(?:"([^"]*)"|'([^']*)')"#, text)
            .into_iter()
            .map(|m| (m[1].clone().unwrap(), m[2].clone().or(m[3].clone()).unwrap()))
            .collect();
    let kinds: Vec<(String, String)> =
        matches(&format!(r#"tostring\({var}\.(event|message)\)\s*==\s*"([^"]*)""#), text)
            .into_iter()
            .map(|m| (m[1].clone().unwrap(), m[2].clone().unwrap()))
            .collect();
    if kinds.is_empty() {
        bad(format!("no `tostring({var}.event) == \"...\"` (or `.message`): which event it reads is not said"));
        return out;
    }
    let passes = |m: &str| {
        let lower = m.to_lowercase();
        filters.iter().all(|(op, lit)| match op.as_str() {
            "startswith" => lower.starts_with(&lit.to_lowercase()),
            _ => lower.contains(&lit.to_lowercase()),
        })
    };
    let events: Vec<Value> = traces
        .iter()
        .filter(|m| passes(m))
        .filter_map(|m| parse.apply(m))
        .filter(|e| kinds.iter().all(|(key, value)| e.get(key).and_then(Value::as_str) == Some(value)))
        .collect();
    let kind = kinds.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", ");
    if events.is_empty() {
        bad(format!("no message the handler writes passes its filters {filters:?} and parses as {kind}"));
        return out;
    }
    let mut fields: Vec<String> = matches(&format!(r"(?:^|[^\w.]){var}((?:\.\w+)+)"), text)
        .into_iter()
        .map(|m| m[1].clone().unwrap()[1..].to_string())
        .collect();
    fields.sort();
    fields.dedup();
    for field in &fields {
        if !events.iter().any(|e| at(e, field).is_some()) {
            bad(format!("reads {var}.{field}, which no {kind} event carries"));
        }
    }
    let to = r"to(?:string|int|long|double|real)";
    let mut compared: Vec<(String, String, String)> = matches(
        &format!(r#"{to}\({var}((?:\.\w+)+)\)\s*(==|!=|=~|startswith)\s*(?:"([^"]*)"|(-?\d+(?:\.\d+)?))"#),
        text,
    )
    .into_iter()
    .map(|m| (m[1].clone().unwrap()[1..].to_string(), m[2].clone().unwrap(), m[3].clone().or(m[4].clone()).unwrap()))
    .collect();
    for m in matches(&format!(r#"tostring\({var}((?:\.\w+)+)\)\s+in\s*\(([^)]*)\)"#), text) {
        for lit in matches(r#""([^"]*)""#, m[2].as_deref().unwrap()) {
            compared.push((m[1].clone().unwrap()[1..].to_string(), "==".into(), lit[1].clone().unwrap()));
        }
    }
    for (field, op, lit) in compared {
        let seen = events.iter().filter_map(|e| at(e, &field).and_then(kql_string)).any(|v| match op.as_str() {
            "startswith" => v.to_lowercase().starts_with(&lit.to_lowercase()),
            "=~" => v.eq_ignore_ascii_case(&lit),
            _ => v == lit || v.parse::<f64>().ok().zip(lit.parse::<f64>().ok()).is_some_and(|(a, b)| a == b),
        });
        if !seen {
            bad(format!("compares {var}.{field} {op} {lit:?}, a value no {kind} event has"));
        }
    }
    out
}

struct Handler {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary under `serve`, as the Functions host starts it, its stdout and stderr in one file.
fn spawn(env: &[(String, String)], port: u16) -> Handler {
    let dir = std::env::temp_dir().join(format!("mpe-approver-workbook-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("handler.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start the binary");
    Handler { child, log }
}

/// The trace messages of a run where an MPE is approved, one is parked, a Private Link Service scan
/// approves a consumer and leaves a stranger waiting, and ARM answers every fourth call of a
/// subscription 429: the handler's stdout and stderr lines and every invocation's `Logs`.
async fn real_traces() -> Vec<String> {
    let clock: SharedClock = Arc::new(SystemClock);
    let throttle = Throttle { every: 4, wait: Duration::from_secs(1) };
    let options =
        SimOptions { approval_lro: Duration::from_millis(200), throttle: Some(throttle), ..Default::default() };
    let sim = Simulator::start(clock.clone(), options).await.unwrap();
    let storage = in_group(SUB, "rg-wb/providers/Microsoft.Storage/storageAccounts/stwb");
    let elsewhere = in_group(OTHER_SUB, "rg-wb/providers/Microsoft.Storage/storageAccounts/stother");
    let approved = in_group(SUB, "rg-wb/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-ok");
    let refused = in_group(SUB, "rg-wb/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-refused");
    for (mpe, target) in [(&approved, &storage), (&refused, &elsewhere)] {
        sim.add_target(target).unwrap();
        let spec = MpeSpec::new(mpe.as_str(), target.as_str());
        sim.add_mpe(spec.timing(Duration::from_millis(300), Duration::from_millis(600))).unwrap();
    }
    let pls = in_group(SUB, "rg-wb/providers/Microsoft.Network/privateLinkServices/svc");
    sim.add_pls(pls.as_str()).unwrap();
    sim.connect_to_pls(pls.as_str(), SUB, "pe-team", "CHG0000001").unwrap();
    sim.connect_to_pls(pls.as_str(), STRANGER_SUB, "pe-who", "let me in").unwrap();

    let mut env = sim.handler_env();
    env.extend([
        ("MPE_LOG_FORMAT".to_string(), "json".to_string()),
        ("RUST_LOG".to_string(), "info".to_string()),
        ("MPE_PLS_WATCH".to_string(), pls.to_string()),
    ]);
    let port = free_port();
    let handler = spawn(&env, port);
    let log = || std::fs::read_to_string(&handler.log).unwrap_or_default();
    let host = sim.host(&format!("http://127.0.0.1:{port}"));
    host.wait_ready(Duration::from_secs(20)).await.unwrap_or_else(|e| panic!("{e}\n{}", log()));

    let mut results: Vec<InvocationResult> = Vec::new();
    for mpe in [&approved, &refused] {
        let r = host.deliver_event(&write_success_event(mpe, clock.now())).await.unwrap();
        assert!(r.success, "{r:?}\n{}", log());
        results.push(r);
    }
    let timer: Map<String, Value> =
        [("timer".to_string(), json!({"Schedule": {"AdjustForDST": true}, "IsPastDue": false}))].into_iter().collect();
    let scan = host.invoke("MpePlsScan", timer, Map::new(), 1).await;
    assert!(scan.success, "{scan:?}\n{}", log());
    results.push(scan);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        results.extend(host.drain_once("mpe-approvals").await.unwrap());
        let report = sim.report();
        let done = report.mpe(approved.as_str()).and_then(|m| m.pec_approved_at).is_some() && !sim.parked().is_empty();
        if done && sim.work_messages().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not end\n{report:#?}\n{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sim.report().throttle.waits_started > 0, "ARM throttled the run: {:?}", sim.report().throttle);
    let mut traces: Vec<String> = log().lines().map(str::to_string).collect();
    traces.extend(results.into_iter().flat_map(|r| r.logs));
    traces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_the_workbook_and_the_docs_query_is_one_the_events_carry() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join(WORKBOOK)).unwrap()).unwrap();
    let workbook = workbook_queries(&doc);
    assert!(workbook.len() >= 6, "the workbook's panels: {workbook:#?}");
    let docs: Vec<Query> = DOCS.iter().flat_map(|d| doc_queries(d)).collect();
    assert!(docs.len() >= 5, "the docs' queries: {docs:#?}");
    let traces = real_traces().await;

    let found: Vec<String> = workbook.iter().chain(&docs).flat_map(|q| problems(q, &traces)).collect();
    assert!(found.is_empty(), "{}\n\nthe trace messages:\n{}", found.join("\n"), traces.join("\n"));

    // Each panel of the issue reads what it should.
    let reads = |needle: &str| workbook.iter().any(|q| q.text.contains(needle));
    for needle in ["o.secondsToApprove", "o.parkCode", "o.origin", "a.evidence.consumerSubscription", "t.path"] {
        assert!(reads(needle), "no workbook query reads {needle}");
    }

    // The throttling panels split by the subscription in the line's path: every 429 line names one.
    let throttled: Vec<Value> = traces
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
        .filter(|v| v["message"] == "ARM throttled or failed" && v["status"] == 429)
        .collect();
    assert!(!throttled.is_empty(), "no 429 line");
    for line in &throttled {
        let path = line["path"].as_str().unwrap_or_default().to_ascii_lowercase();
        let sub = path.split("/subscriptions/").nth(1).and_then(|rest| rest.split(['/', '?']).next());
        assert!(sub.is_some_and(|s| [SUB, OTHER_SUB].contains(&s)), "a 429 line without its subscription: {line}");
    }

    // The check can fail: a field renamed, a value mistyped, a prefix the messages do not have.
    let changed = |from: &str, to: &str| -> Vec<String> {
        let q = workbook.iter().find(|q| q.text.contains(from)).unwrap_or_else(|| panic!("no query holds {from}"));
        problems(&Query { text: q.text.replacen(from, to, 1), ..q.clone() }, &traces)
    };
    let p = changed("o.secondsToApprove", "o.secondsToApproval");
    assert!(p.iter().any(|p| p.contains("reads o.secondsToApproval, which no mpe.outcome event carries")), "{p:?}");
    let p = changed("a.evidence.consumerSubscription", "a.evidence.consumer");
    assert!(p.iter().any(|p| p.contains("a.evidence.consumer,")), "{p:?}");
    let p = changed(r#"tostring(o.outcome) == "parked""#, r#"tostring(o.outcome) == "park""#);
    assert!(p.iter().any(|p| p.contains(r#"compares o.outcome == "park""#)), "{p:?}");
    let p = changed(r#"toint(t.status) == 429"#, r#"toint(t.status) == 503"#);
    assert!(p.iter().any(|p| p.contains(r#"compares t.status == "503""#)), "{p:?}");
    let p = changed(r#"startswith "INFO: mpe.audit {""#, r#"startswith "mpe.audit {""#);
    assert!(p.iter().any(|p| p.contains("no message the handler writes passes its filters")), "{p:?}");
    let p = changed(r#"tostring(t.message) == "ARM throttled or failed""#, "isnotempty(t.message)");
    assert!(p.iter().any(|p| p.contains("which event it reads is not said")), "{p:?}");
}
