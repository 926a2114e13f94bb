//! The Functions envelope decoded on the real captures in `tests/fixtures/functions/captures/`
//! (verbatim payloads of the Functions host), and the function definitions checked against the
//! handler's function and binding names.

mod common;

use common::capture;
use mpe_approver::functions::{number, string, text, InvocationRequest};
use mpe_approver::handler::{CHECK_FUNCTION, EVENT_FUNCTION, REPLAY_FUNCTION};
use serde_json::Value;

#[test]
fn queue_trigger_string_is_double_encoded() {
    // captures/queue-trigger-string.json: a storage-queue string body arrives as "\"aaaaa\""
    let req: InvocationRequest = serde_json::from_str(&capture("queue-trigger-string.json")).unwrap();
    assert_eq!(text(&req.data["inMsg"]).as_deref(), Some("aaaaa"));
    assert_eq!(number(req.metadata.get("DequeueCount")), Some(1));
    assert_eq!(string(req.metadata.get("Id")).as_deref(), Some("a0004923-f050-417a-9742-6d7c7b984134"));
    assert_eq!(req.metadata["sys"]["MethodName"], "queue");
}

#[test]
fn http_trigger_capture_decodes() {
    // captures/http-trigger-query-param.json
    let req: InvocationRequest = serde_json::from_str(&capture("http-trigger-query-param.json")).unwrap();
    let http = &req.data["httpPayload"];
    assert_eq!(http["Method"], "POST");
    assert_eq!(http["Query"]["name"], "test1");
    assert_eq!(http["Body"], "Jack");
    assert_eq!(string(req.metadata.get("name")).as_deref(), Some("test1"));
}

#[test]
fn timer_capture_decodes() {
    // captures/timer-trigger.json: objects arrive as objects
    let req: InvocationRequest = serde_json::from_str(&capture("timer-trigger.json")).unwrap();
    assert_eq!(req.data["inMsg"]["IsPastDue"], false);
}

#[test]
fn event_grid_capture_is_an_array_of_events() {
    // captures/event-grid-resource-write-success.json (Microsoft docs sample)
    let v: Value = serde_json::from_str(&capture("event-grid-resource-write-success.json")).unwrap();
    let ev = &v[0];
    assert_eq!(ev["eventType"], "Microsoft.Resources.ResourceWriteSuccess");
    assert_eq!(ev["data"]["operationName"], "Microsoft.Storage/storageAccounts/write");
}

#[test]
fn function_definitions_match_the_handler() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (name, trigger, binding) in [
        (EVENT_FUNCTION, "eventGridTrigger", "event"),
        (CHECK_FUNCTION, "serviceBusTrigger", "message"),
        (REPLAY_FUNCTION, "httpTrigger", "req"),
    ] {
        let p = format!("{root}/function-definitions/{name}/function.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let b = &v["bindings"][0];
        assert_eq!(b["type"], trigger, "{p}");
        assert_eq!(b["name"], binding, "{p}");
        assert_eq!(b["direction"], "in", "{p}");
    }
    let sb: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/function-definitions/{CHECK_FUNCTION}/function.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sb["bindings"][0]["queueName"], "%MPE_QUEUE_NAME%");
    assert_eq!(sb["bindings"][0]["connection"], "ServiceBusConnection");
    let host: Value = serde_json::from_str(&std::fs::read_to_string(format!("{root}/host.json")).unwrap()).unwrap();
    assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], "mpe-approver");
    assert_eq!(host["extensionBundle"]["id"], "Microsoft.Azure.Functions.ExtensionBundle");
}
