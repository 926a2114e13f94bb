//! HTTP function (manual replay), `POST /api/replay`, one of:
//! - `{"mpeId": "..."}` (or `?mpeId=`): an immediate check of one MPE; 202 with the message id;
//! - `{"mpeIds": ["...", ...]}` (at most 100): the same for each;
//! - `{"source": "parked" | "deadLetter" | "parkedDeadLetter", "reason"?: "<park code>", "max"?: N, "dryRun"?: bool}`: replay
//!   queued messages (at most `MPE_REPLAY_MAX` per call); 202 with what moved and whether more remain
//!   (200 for a dry run);
//! - `{"scope": "/subscriptions/<id>[/resourceGroups/<rg>]", "dryRun"?: bool}`: a check of every MPE
//!   not yet approved under the scope.
//!
//! 400 for bad input, 401/403 when `MPE_REPLAY_ROLE` is set and the caller lacks it, 403 for an MPE or
//! a scope outside `MPE_SOURCE_SUBSCRIPTIONS` (before anything is listed or sent), 413 for a body too
//! large, 503 when the queue cannot be reached or refused every replacement.

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
    providers::parse_mpe_id(&raw)
}

/// Largest request body `MpeReplay` reads.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;

/// What a caller asked for, beyond the single MPE of the first version.
#[derive(Debug, PartialEq)]
pub(crate) enum Request {
    One,
    Many(Vec<ResourceId>),
    Queued(crate::replay::QueuedReplay),
    Scope { scope: crate::resource_id::ListScope, dry_run: bool },
}

/// Pure: read the request body's form (`One` leaves it to [`requested_mpe`]).
pub(crate) fn request(req: &Value, max: u32) -> Result<Request, (u16, String)> {
    let raw = req.get("Body").and_then(Value::as_str).unwrap_or_default();
    if raw.len() > MAX_REQUEST_BODY {
        return Err((413, format!("the body is {} bytes; at most {MAX_REQUEST_BODY}", raw.len())));
    }
    let body = req.get("Body").map(unwrap_json).unwrap_or(Value::Null);
    let Some(obj) = body.as_object() else { return Ok(Request::One) };
    let known = ["mpeId", "mpeIds", "source", "reason", "max", "dryRun", "scope"];
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err((400, format!("unknown field {k:?} (known: {})", known.join(", "))));
    }
    let dry_run = match obj.get("dryRun") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err((400, "dryRun must be true or false".into())),
    };
    let forms = ["mpeId", "mpeIds", "source", "scope"].iter().filter(|k| obj.contains_key(**k)).count();
    if forms > 1 {
        return Err((400, "give one of mpeId, mpeIds, source, scope".into()));
    }
    if let Some(ids) = obj.get("mpeIds") {
        let ids = ids.as_array().ok_or((400, "mpeIds must be an array of MPE ids".to_string()))?;
        if ids.is_empty() || ids.len() > 100 {
            return Err((400, "mpeIds holds 1 to 100 ids".into()));
        }
        let mut v = Vec::new();
        for id in ids {
            let s = id.as_str().ok_or((400, "mpeIds must be an array of strings".to_string()))?;
            v.push(providers::parse_mpe_id(s).map_err(|e| (400, e))?);
        }
        return Ok(Request::Many(v));
    }
    if let Some(src) = obj.get("source") {
        let source = crate::replay::Source::parse(src.as_str().unwrap_or_default()).map_err(|e| (400, e))?;
        let reason = match obj.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) if !r.is_empty() && r.len() <= 64 => Some(r.clone()),
            Some(_) => return Err((400, "reason must be a park code or dead-letter reason".into())),
        };
        let n = match obj.get("max") {
            None => max,
            Some(v) => match v.as_u64() {
                Some(n @ 1..) => u32::try_from(n).unwrap_or(u32::MAX).min(max),
                _ => return Err((400, "max must be a whole number from 1".into())),
            },
        };
        return Ok(Request::Queued(crate::replay::QueuedReplay { source, reason, max: n, dry_run }));
    }
    if let Some(scope) = obj.get("scope") {
        let scope = crate::resource_id::ListScope::parse(scope.as_str().unwrap_or_default()).map_err(|e| (400, e))?;
        return Ok(Request::Scope { scope, dry_run });
    }
    if obj.contains_key("reason") || obj.contains_key("max") {
        return Err((400, "reason and max go with source".into()));
    }
    Ok(Request::One)
}

/// Pure: when `MPE_REPLAY_ROLE` is set, the caller (App Service authentication's
/// `X-MS-CLIENT-PRINCIPAL`, base64 JSON with `claims: [{typ, val}]`) must hold the role.
pub(crate) fn authorised(req: &Value, role: Option<&str>) -> Result<(), (u16, String)> {
    let Some(role) = role else { return Ok(()) };
    let header = req
        .pointer("/Headers/X-MS-CLIENT-PRINCIPAL/0")
        .or_else(|| req.pointer("/Headers/x-ms-client-principal/0"))
        .and_then(Value::as_str)
        .ok_or((401, "sign in: MpeReplay requires an Entra ID token (App Service authentication)".to_string()))?;
    use base64::Engine;
    let principal: Value = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or((401, "the X-MS-CLIENT-PRINCIPAL header is not readable".to_string()))?;
    let role_type = principal.get("role_typ").and_then(Value::as_str).unwrap_or("roles");
    let holds = principal.get("claims").and_then(Value::as_array).is_some_and(|claims| {
        claims.iter().any(|c| {
            let typ = c.get("typ").and_then(Value::as_str).unwrap_or_default();
            (typ == role_type || typ == "roles") && c.get("val").and_then(Value::as_str) == Some(role)
        })
    });
    if holds {
        Ok(())
    } else {
        Err((403, format!("the caller does not hold the app role {role}")))
    }
}

pub(crate) async fn run(app: &App, req: InvocationRequest, invocation: &str) -> Reply {
    let mut reply = Reply::new();
    let http = req.data.get("req").or_else(|| req.data.values().next()).cloned().unwrap_or(Value::Null);
    let form =
        authorised(&http, app.config.replay_role.as_deref()).and_then(|()| request(&http, app.config.replay_max));
    let started = tokio::time::Instant::now();
    // Leave a fifth of the budget for answering.
    let deadline = started + app.config.budgets.replay.mul_f64(0.8);
    // The management groups the source filter names, resolved (cached) for the refusals below.
    let groups = match &form {
        Ok(Request::Scope { .. } | Request::Many(_) | Request::One) => app.filter_groups(deadline).await,
        _ => Default::default(),
    };
    let (status, body) = match form {
        Err((status, why)) => {
            reply.resp.log(Level::WARN, format!("replay {invocation}: refused ({status}): {why}"));
            (status, json!({"error": why}))
        }
        Ok(Request::Queued(q)) => {
            let r = super::replay_queued(app, &q, deadline, &|_| {}).await;
            reply.resp.log(
                Level::INFO,
                format!(
                    "replay {invocation}: {} from {}: seen {}, replayed {}, failed {}, too large {}, more {}",
                    if q.dry_run { "dry run" } else { "moved" },
                    r.queue,
                    r.seen,
                    r.replayed,
                    r.failed,
                    r.too_large,
                    r.more
                ),
            );
            // Every replacement refused (or the queue unreadable): the caller must not read success.
            let status = if (r.stopped.is_some() && r.seen == 0) || (r.replayed == 0 && r.failed > 0) {
                503
            } else if q.dry_run {
                200
            } else {
                202
            };
            (status, serde_json::to_value(&r).unwrap_or_default())
        }
        Ok(Request::Scope { scope, .. })
            if !app.config.source_subscriptions.permits_in(scope.subscription(), &groups) =>
        {
            let why = app.config.source_subscriptions.refusal_in(scope.subscription(), &groups).unwrap_or_default();
            reply.resp.log(Level::WARN, format!("replay {invocation}: scope {scope} refused: {why}"));
            (403, json!({"error": why, "scope": scope.to_string()}))
        }
        Ok(Request::Scope { scope, dry_run }) => {
            let r = super::sweep(
                app,
                std::slice::from_ref(&scope),
                app.config.sweep_max_calls,
                dry_run,
                deadline,
                &|_, _| {},
            )
            .await;
            reply.resp.log(Level::INFO, format!("replay {invocation}: scope {scope}: {}", r.summary()));
            let status = if dry_run {
                200
            } else if r.enqueued == 0 && r.failed > 0 {
                503
            } else {
                202
            };
            (status, serde_json::to_value(&r).unwrap_or_default())
        }
        Ok(Request::Many(ids)) => {
            let mut queued = Vec::new();
            let mut status = 202;
            for id in ids {
                let (s, b) = one(app, &mut reply, &http, id, &groups, invocation).await;
                if s != 202 {
                    status = s;
                }
                queued.push(b);
            }
            (status, json!({"results": queued}))
        }
        Ok(Request::One) => match requested_mpe(&http) {
            Err(why) => {
                reply.resp.log(Level::WARN, format!("replay {invocation}: bad request: {why}"));
                (400, json!({"error": why}))
            }
            Ok(id) => one(app, &mut reply, &http, id, &groups, invocation).await,
        },
    };
    reply.resp.outputs.insert("res".into(), http_response(status, &body));
    reply
}

/// Queue an immediate check of one MPE.
async fn one(
    app: &App,
    reply: &mut Reply,
    http: &Value,
    id: ResourceId,
    groups: &crate::policy::Groups,
    invocation: &str,
) -> (u16, Value) {
    match id {
        id if !app.config.source_subscriptions.permits_in(id.subscription(), groups) => {
            let why = app.config.source_subscriptions.refusal_in(id.subscription(), groups).unwrap_or_default();
            reply.resp.log(Level::WARN, format!("replay {invocation}: {why}"));
            (403, json!({"error": why, "mpeId": id}))
        }
        id => {
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
                    (503, json!({"error": "the work queue is unavailable; try again", "mpeId": item.mpe_id}))
                }
            }
        }
    }
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

    #[test]
    fn request_forms_and_their_mistakes() {
        let body = |v: Value| json!({"Body": v.to_string()});
        assert_eq!(request(&body(json!({"mpeId": ID})), 10), Ok(Request::One));
        assert_eq!(request(&json!({"Query": {"mpeId": ID}}), 10), Ok(Request::One));
        let Ok(Request::Queued(q)) =
            request(&body(json!({"source": "parked", "reason": "policy-refused", "max": 50})), 10)
        else {
            panic!("not a queued replay")
        };
        assert_eq!((q.max, q.reason.as_deref(), q.dry_run), (10, Some("policy-refused"), false), "max is capped");
        assert!(matches!(request(&body(json!({"mpeIds": [ID, ID]})), 10), Ok(Request::Many(v)) if v.len() == 2));
        let sub = "/subscriptions/00000000-0000-0000-0000-000000000001";
        assert!(matches!(
            request(&body(json!({"scope": sub, "dryRun": true})), 10),
            Ok(Request::Scope { dry_run: true, .. })
        ));
        for (bad, code) in [
            (json!({"sourc": "parked"}), 400),
            (json!({"source": "work"}), 400),
            (json!({"source": "parked", "max": 0}), 400),
            (json!({"mpeId": ID, "scope": sub}), 400),
            (json!({"scope": format!("{sub}/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c")}), 400),
            (json!({"mpeIds": []}), 400),
            (
                json!({"mpeIds": ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"]}),
                400,
            ),
            (json!({"max": 3}), 400),
            (json!({"dryRun": "yes", "source": "parked"}), 400),
        ] {
            assert_eq!(request(&body(bad.clone()), 10).map_err(|e| e.0), Err(code), "{bad}");
        }
        let huge = json!({"Body": "x".repeat(MAX_REQUEST_BODY + 1)});
        assert_eq!(request(&huge, 10).map_err(|e| e.0), Err(413));
    }

    #[test]
    fn the_replay_role_is_read_from_app_service_authentication() {
        use base64::Engine;
        let principal = |claims: Value| {
            let p = json!({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"});
            json!({"Headers": {"X-MS-CLIENT-PRINCIPAL": [base64::engine::general_purpose::STANDARD.encode(p.to_string())]}})
        };
        let role = Some("MpeReplay.Operator");
        assert_eq!(authorised(&json!({}), None), Ok(()));
        assert_eq!(authorised(&json!({}), role).map_err(|e| e.0), Err(401));
        assert_eq!(authorised(&principal(json!([{"typ": "roles", "val": "MpeReplay.Operator"}])), role), Ok(()));
        assert_eq!(authorised(&principal(json!([{"typ": "roles", "val": "Reader"}])), role).map_err(|e| e.0), Err(403));
        assert_eq!(
            authorised(&principal(json!([{"typ": "name", "val": "MpeReplay.Operator"}])), role).map_err(|e| e.0),
            Err(403)
        );
        let garbage = json!({"Headers": {"X-MS-CLIENT-PRINCIPAL": ["%%%"]}});
        assert_eq!(authorised(&garbage, role).map_err(|e| e.0), Err(401));
    }
}
