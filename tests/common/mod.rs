//! Shared helpers for the integration tests: loading the official ARM examples in `../shared/arm-examples`
//! (each file is `{parameters, responses: {"<code>": {headers?, body?}}}`) and editing JSON bodies.
#![allow(dead_code)]

use mpe_approver::resource_id::ResourceId;
use serde_json::Value;
use std::path::PathBuf;

/// Where CI keeps the fixtures: `../shared` beside the repository.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/arm-examples");

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

/// The example's request `parameters`.
pub fn params(rel: &str) -> Value {
    example(rel).get("parameters").cloned().unwrap_or_else(|| panic!("fixture {rel} has no parameters"))
}

/// A string parameter of the example.
pub fn param(rel: &str, name: &str) -> String {
    params(rel)
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("fixture {rel} has no string parameter {name}"))
        .to_string()
}

/// `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{tail}` from the example's parameters.
pub fn id_from_params(rel: &str, tail: &str) -> ResourceId {
    let s = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/{tail}",
        param(rel, "subscriptionId"),
        param(rel, "resourceGroupName")
    );
    ResourceId::parse(&s).unwrap_or_else(|e| panic!("{e}"))
}

pub fn rid(s: &str) -> ResourceId {
    ResourceId::parse(s).unwrap_or_else(|e| panic!("{e}"))
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
