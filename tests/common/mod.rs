//! Shared helpers for the integration tests: loading the fixtures in `tests/fixtures/` (the official ARM
//! examples in `arm-examples/`, each file `{parameters, responses: {"<code>": {headers?, body?}}}`, and the
//! Functions host's envelopes in `functions/captures/`; see `tests/fixtures/PROVENANCE.md`), making resource
//! ids, and editing JSON bodies.
#![allow(dead_code)]

pub mod doubles;
mod ids;
mod sim_mpe;

#[allow(unused_imports)] // not every test uses the id helpers
pub use ids::*;
use serde_json::Value;
#[allow(unused_imports)]
pub use sim_mpe::*;
use std::path::PathBuf;

/// The fixtures, inside the repository (copied verbatim; sources in `tests/fixtures/PROVENANCE.md`).
pub const FIXTURES_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The official ARM examples, `<provider>/<api-version>/<file>.json`.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arm-examples");

/// The Functions host's request envelopes, recorded verbatim.
pub const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/functions/captures");

/// The text of a capture, e.g. `capture("timer-trigger.json")`.
pub fn capture(name: &str) -> String {
    let path: PathBuf = [CAPTURES, name].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read capture {}: {e}", path.display()))
}

/// The whole example file, e.g. `example("Microsoft.Sql/2025-01-01/PrivateEndpointConnectionGet.json")`.
pub fn example(rel: &str) -> Value {
    let path: PathBuf = [FIXTURES, rel].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()))
}

/// The response body of `code` in the example file.
pub fn body(rel: &str, code: &str) -> Value {
    example(rel)
        .pointer(&format!("/responses/{code}/body"))
        .cloned()
        .unwrap_or_else(|| panic!("fixture {rel} has no body for response {code}"))
}

/// A copy of `v` with the JSON pointer `ptr` set to `new` (the parent must exist; the key is created).
pub fn with(v: &Value, ptr: &str, new: Value) -> Value {
    let mut out = v.clone();
    let (parent, key) = ptr.rsplit_once('/').expect("pointer starts with /");
    let target = out.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in the body"));
    match target {
        Value::Object(m) => {
            m.insert(key.to_string(), new);
        }
        Value::Array(a) => a[key.parse::<usize>().expect("array index")] = new,
        other => panic!("{parent} is {other}, not a container"),
    }
    out
}

/// A copy of `v` without the member at `ptr`.
pub fn without(v: &Value, ptr: &str) -> Value {
    let mut out = v.clone();
    let (parent, key) = ptr.rsplit_once('/').expect("pointer starts with /");
    let removed = out.pointer_mut(parent).and_then(Value::as_object_mut).and_then(|m| m.remove(key));
    assert!(removed.is_some(), "no {ptr} to remove");
    out
}

/// The items of a list body (`{value: [...]}` or a bare array).
pub fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        _ => v.get("value").and_then(Value::as_array).cloned().expect("a {value: [...]} list"),
    }
}
