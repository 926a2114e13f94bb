//! HTTP function (manual replay): `POST /api/replay` with `{"mpeId": "..."}` (or `?mpeId=`) enqueues an
//! immediate check of one MPE. Answers 202 with the message id, 400 for bad input, 503 when the queue
//! cannot be reached.

use super::{enqueue, App, Reply};
use crate::functions::{http_response, unwrap_json, InvocationRequest};
use crate::providers;
use crate::resource_id::ResourceId;
use crate::workitem::{correlation_or_new, Origin, WorkItem};
use serde_json::{json, Value};
use std::time::Duration;
use tracing::Level;

/// Pure: the MPE id asked for, or a message for the caller.
pub(crate) fn requested_mpe(req: &Value) -> Result<ResourceId, String> {
    let from_query = req.pointer("/Query/mpeId").and_then(Value::as_str).map(str::to_string);
    let from_body =
        req.get("Body").map(unwrap_json).and_then(|b| b.get("mpeId").and_then(Value::as_str).map(str::to_string));
    let raw =
        from_body.or(from_query).ok_or("give the MPE id as JSON {\"mpeId\": \"/subscriptions/...\"} or ?mpeId=")?;
    let id = ResourceId::parse(&raw).map_err(|e| e.to_string())?;
    if providers::for_id(&id).is_none() {
        let types: Vec<&str> = providers::registry().iter().map(|p| p.resource_type()).collect();
        return Err(format!("{} is not a supported MPE type (supported: {})", id.resource_type(), types.join(", ")));
    }
    Ok(id)
}

pub(crate) async fn run(app: &App, req: InvocationRequest, invocation: &str) -> Reply {
    let mut reply = Reply::new();
    let http = req.data.get("req").or_else(|| req.data.values().next()).cloned().unwrap_or(Value::Null);
    let (status, body) = match requested_mpe(&http) {
        Err(why) => {
            reply.resp.log(Level::WARN, format!("replay {invocation}: bad request: {why}"));
            (400, json!({"error": why}))
        }
        Ok(id) if !app.config.source_subscriptions.permits(id.subscription()) => {
            let why = app.config.source_subscriptions.refusal(id.subscription()).unwrap_or_default();
            reply.resp.log(Level::WARN, format!("replay {invocation}: {why}"));
            (403, json!({"error": why}))
        }
        Ok(id) => {
            let correlation = correlation_or_new(http.pointer("/Headers/x-correlation-id/0").and_then(Value::as_str));
            let item = WorkItem::new(id, app.clock.now(), correlation, Origin::Replay);
            match enqueue(app, &item, Duration::ZERO).await {
                Ok(msg) => {
                    reply.resp.log(
                        Level::INFO,
                        format!("mpe={} correlation={} replay queued", item.mpe_id, item.correlation_id),
                    );
                    (
                        202,
                        json!({"mpeId": item.mpe_id, "correlationId": item.correlation_id, "messageId": msg.message_id}),
                    )
                }
                Err(e) => {
                    reply.resp.log(Level::ERROR, format!("mpe={} replay could not be queued: {e}", item.mpe_id));
                    (503, json!({"error": "the work queue is unavailable; try again"}))
                }
            }
        }
    };
    reply.resp.outputs.insert("res".into(), http_response(status, &body));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m";

    #[test]
    fn reads_body_or_query() {
        assert!(requested_mpe(&json!({"Body": format!("{{\"mpeId\":\"{ID}\"}}")})).is_ok());
        assert!(requested_mpe(&json!({"Query": {"mpeId": ID}})).is_ok());
        assert!(requested_mpe(&json!({"Body": "garbage"})).is_err());
        assert!(requested_mpe(&json!({"Query": {"mpeId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"}})).unwrap_err().contains("not a supported"));
        assert!(requested_mpe(&json!({"Query": {"mpeId": "/subscriptions/../x"}})).is_err());
    }
}
