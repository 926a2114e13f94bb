//! The simulated ARM's list calls, walking an MPE type's resource hierarchy from the top, and the
//! Service Bus queue GET a `status` command reads queue depths from.
//!
//! - `GET /subscriptions/{sub}[/resourceGroups/{rg}]/providers/{Namespace}/{topType}`: the distinct
//!   top-level parents (a cluster, a factory ...) of the MPEs of every served type ([`MpeType::all`])
//!   that exist now in that scope, as ARM's "list by subscription" and "list by resource group" calls
//!   answer: `{"value": [{id, name, type, location, properties}], "nextLink"?}`; for a top-level MPE type
//!   (a private endpoint) the MPEs' own bodies.
//! - `GET {parentId}/{childType}`: the children one level down: intermediate resources (a factory's
//!   `managedVirtualNetworks`: `{id, name, type, properties: {}}`), or at the MPE level every MPE's
//!   body exactly as its own GET renders it ([`crate::state::World::mpe_body`]). A parent with no MPEs
//!   is unknown here: 404 `ResourceNotFound`. Types are spelled as their service spells them.
//! - `GET {namespaceId}/queues/{queue}` (`Microsoft.ServiceBus/namespaces/queues`, ARM's "Queues - Get",
//!   api-version 2021-11-01; shape from the SBQueue model as Azure PowerShell's `Get-AzServiceBusQueue`
//!   example shows it (`Azure/azure-powershell`, `src/ServiceBus/ServiceBus.Autorest/examples/
//!   Get-AzServiceBusQueue.md`) and Azure Policy's alias list for the type (`properties.messageCount`,
//!   `properties.countDetails.*`)): `properties.messageCount` and
//!   `properties.countDetails.{activeMessageCount, deadLetterMessageCount, scheduledMessageCount,
//!   transferMessageCount, transferDeadLetterMessageCount}` computed from the simulated bus, with the
//!   queue's settings (`lockDuration`, `maxDeliveryCount`, duplicate detection...).
//!
//! Lists page with `nextLink` (`$skiptoken` on this ARM host) when [`crate::SimOptions::list_page_size`]
//! is set. [`dispatch`] claims only these shapes, so the other ARM routes are untouched. This file must
//! never panic on a request.

use crate::app_state::AppState;
use crate::arm_wire::{method_not_allowed, not_found, paged};
use crate::id::ResourceId;
use crate::mpe::MpeType;
use crate::servicebus::DUPLICATE_WINDOW;
use crate::sync::lock;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The type of a Service Bus queue.
pub const QUEUE_TYPE: &str = "Microsoft.ServiceBus/namespaces/queues";

/// A request the lists answer (a view of `arm.rs`'s request).
pub(crate) struct ListReq<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub api_version: &'a str,
    /// Items to skip (`$skiptoken`).
    pub skip: usize,
    pub now: DateTime<Utc>,
}

/// How the services spell the types of an MPE's ancestors in the bodies they answer (each a prefix of
/// its [`MpeType::spelled_type`]: some services capitalise); other types as the request spells them.
fn type_name(resource_type: &str) -> String {
    MpeType::all()
        .iter()
        .flat_map(|t| {
            let spelled = t.spelled_type();
            spelled.match_indices('/').map(move |(i, _)| &spelled[..i]).chain([spelled])
        })
        .find(|k| k.eq_ignore_ascii_case(resource_type))
        .map_or_else(|| resource_type.to_string(), str::to_string)
}

/// `t` is `prefix` or lies under it (`prefix/...`), case-insensitively.
fn type_under(t: &str, prefix: &str) -> bool {
    let (t, prefix) = (t.to_ascii_lowercase(), prefix.to_ascii_lowercase());
    t == prefix || t.starts_with(&format!("{prefix}/"))
}

/// The id and its ancestors, innermost first.
fn lineage(id: &ResourceId) -> Vec<ResourceId> {
    let mut out = vec![id.clone()];
    while let Some(p) = out.last().and_then(ResourceId::parent) {
        out.push(p);
    }
    out
}

/// Answer the request if it is one of this file's shapes; `None` leaves it to the other routes.
pub(crate) fn dispatch(st: &AppState, req: &ListReq<'_>) -> Option<Response> {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let is = |i: usize, s: &str| segs.get(i).is_some_and(|v| v.eq_ignore_ascii_case(s));
    // `/subscriptions/{sub}[/resourceGroups/{rg}]/providers/{Namespace}/{topType}`.
    let scope = match segs.len() {
        5 if is(0, "subscriptions") && is(2, "providers") => Some((segs[1], None, segs[3], segs[4])),
        7 if is(0, "subscriptions") && is(2, "resourceGroups") && is(4, "providers") => {
            Some((segs[1], Some(segs[3]), segs[5], segs[6]))
        }
        _ => None,
    };
    if let Some((sub, rg, namespace, top)) = scope {
        let top_type = format!("{namespace}/{top}");
        if !MpeType::all().iter().any(|t| t.parents_in_arm() && type_under(t.resource_type(), &top_type))
            || sub.is_empty()
        {
            return None;
        }
        return Some(only_get(req).unwrap_or_else(|| list_top(st, req, sub, rg, &top_type)));
    }
    // `{parentId}/{childType}`, the child type on an MPE type's path.
    if let Some((parent, child)) = req.path.rsplit_once('/') {
        if let Ok(parent) = ResourceId::parse(parent) {
            let full = format!("{}/{child}", parent.resource_type());
            let served = MpeType::all().iter().find(|t| !child.is_empty() && type_under(t.resource_type(), &full));
            if let Some(t) = served {
                // A data plane's MPEs, and what lies between them and their top-level parent, are not ARM's.
                if t.data_plane() {
                    return Some(invalid_type(&full, req.api_version));
                }
                return Some(only_get(req).unwrap_or_else(|| list_children(st, req, &parent, &full)));
            }
        }
    }
    // `{namespaceId}/queues/{queue}`.
    let id = ResourceId::parse(req.path).ok().filter(|id| id.is_type(QUEUE_TYPE))?;
    Some(only_get(req).unwrap_or_else(|| get_queue(st, &id)))
}

/// ARM's answer for a type its provider does not register (a data plane's MPE type): 404
/// `InvalidResourceType`.
pub(crate) fn invalid_type(resource_type: &str, api_version: &str) -> Response {
    let namespace = resource_type.split('/').next().unwrap_or_default();
    crate::arm_wire::arm_error(
        axum::http::StatusCode::NOT_FOUND,
        "InvalidResourceType",
        format!(
            "The resource type '{}' could not be found in the namespace '{namespace}' for api version '{api_version}'.",
            resource_type.split_once('/').map(|(_, t)| t).unwrap_or_default()
        ),
    )
}

fn only_get(req: &ListReq<'_>) -> Option<Response> {
    (req.method != Method::GET).then(|| method_not_allowed(req.method))
}

/// A page of the list ([`paged`]) of `list_page_size` items.
fn page(st: &AppState, req: &ListReq<'_>, items: Vec<Value>) -> Response {
    paged(items, st.options.list_page_size, req.skip, &st.arm_url(req.path, req.api_version))
}

/// The top-level parents of type `top_type` of the MPEs alive now under the subscription (and group).
fn list_top(st: &AppState, req: &ListReq<'_>, sub: &str, rg: Option<&str>, top_type: &str) -> Response {
    let scope = match rg {
        None => format!("/subscriptions/{sub}/").to_ascii_lowercase(),
        Some(rg) => format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/").to_ascii_lowercase(),
    };
    let mut world = lock(&st.world);
    let mut parents: BTreeMap<String, Value> = BTreeMap::new();
    for m in world.live_mpes_keyed(&scope, req.now) {
        let Some(top) = lineage(&m).pop() else { continue };
        if !top.is_type(top_type) || !top.key().starts_with(&scope) {
            continue;
        }
        // A top-level MPE type (a private endpoint) lists the MPEs themselves, as their own GET renders them.
        let body = if top.key() == m.key() {
            world.read_mpe(&m, req.now)
        } else {
            Some(json!({
                "id": top.as_str(),
                "name": top.name(),
                "type": type_name(&top.resource_type()),
                "location": "westeurope",
                "properties": { "provisioningState": "Succeeded" },
            }))
        };
        if let Some(body) = body {
            parents.entry(top.key()).or_insert(body);
        }
    }
    // Data-plane parents (Synapse workspaces) exist without MPEs too.
    for top in world.data_plane_parents() {
        if top.is_type(top_type) && top.key().starts_with(&scope) {
            parents.entry(top.key()).or_insert_with(|| {
                json!({
                    "id": top.as_str(),
                    "name": top.name(),
                    "type": type_name(&top.resource_type()),
                    "location": "westeurope",
                    "properties": { "provisioningState": "Succeeded" },
                })
            });
        }
    }
    drop(world);
    page(st, req, parents.into_values().collect())
}

/// The children of type `full` (`{parent's type}/{childType}`) of `parent`: intermediate resources, or
/// the MPEs' bodies at the MPE level.
fn list_children(st: &AppState, req: &ListReq<'_>, parent: &ResourceId, full: &str) -> Response {
    let mut world = lock(&st.world);
    let mut children: BTreeMap<String, Value> = BTreeMap::new();
    for m in world.live_mpes_keyed(&format!("{}/", parent.key()), req.now) {
        let Some(child) = lineage(&m).into_iter().find(|a| a.is_type(full) && a.parent().as_ref() == Some(parent))
        else {
            continue;
        };
        if child.key() == m.key() {
            if let Some(body) = world.read_mpe(&m, req.now) {
                children.insert(child.key(), body);
            }
        } else {
            children.entry(child.key()).or_insert_with(|| {
                json!({
                    "id": child.as_str(),
                    "name": child.name(),
                    "type": type_name(&child.resource_type()),
                    "properties": {},
                })
            });
        }
    }
    drop(world);
    if children.is_empty() {
        // Parents are known only through their MPEs.
        return not_found(parent.as_str());
    }
    page(st, req, children.into_values().collect())
}

/// ISO 8601 duration, as ARM writes `lockDuration` (`PT1M`, `PT30S`).
fn iso_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(60) {
        format!("PT{}M", s / 60)
    } else {
        format!("PT{s}S")
    }
}

/// `GET {namespace}/queues/{queue}`: the queue's description with its counts now.
fn get_queue(st: &AppState, id: &ResourceId) -> Response {
    let namespace_ok =
        id.parent().is_some_and(|ns| ns.as_str().eq_ignore_ascii_case(&st.options.servicebus_namespace_id));
    let bus = &st.bus;
    let (Some(name), true) = (bus.queue_name(id.name()), namespace_ok) else {
        return not_found(id.as_str());
    };
    let Some(c) = bus.counts(&name) else {
        return not_found(id.as_str());
    };
    let size: usize = bus.peek(&name).iter().map(|m| m.body.len()).sum::<usize>()
        + bus.dead_letters(&name).iter().map(|d| d.message.body.len()).sum::<usize>();
    Json(json!({
        "id": format!("{}/queues/{name}", st.options.servicebus_namespace_id),
        "name": name,
        "type": QUEUE_TYPE,
        "location": "westeurope",
        "properties": {
            "messageCount": c.active + c.scheduled + c.dead_letter,
            "sizeInBytes": size,
            "countDetails": {
                "activeMessageCount": c.active,
                "deadLetterMessageCount": c.dead_letter,
                "scheduledMessageCount": c.scheduled,
                "transferMessageCount": 0,
                "transferDeadLetterMessageCount": 0,
            },
            "lockDuration": iso_duration(bus.lock_duration(&name)),
            "maxDeliveryCount": bus.max_delivery_count(&name),
            "maxSizeInMegabytes": 1024,
            "requiresDuplicateDetection": true,
            "duplicateDetectionHistoryTimeWindow": iso_duration(DUPLICATE_WINDOW),
            "requiresSession": false,
            "defaultMessageTimeToLive": "P10675199DT2H48M5.4775807S",
            "deadLetteringOnMessageExpiration": false,
            "enableBatchedOperations": true,
            "enablePartitioning": false,
            "enableExpress": false,
            "status": "Active",
        },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_lineage() {
        assert!(type_under(
            "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
            "microsoft.datafactory/FACTORIES"
        ));
        assert!(!type_under("Microsoft.DataFactory/factoriesX", "Microsoft.DataFactory/factories"));
        for t in MpeType::all() {
            let spelled = t.spelled_type();
            let (top, _) = spelled.match_indices('/').nth(1).map_or((spelled, ""), |(i, _)| spelled.split_at(i));
            assert_eq!(type_name(&top.to_ascii_lowercase()), top, "{t:?}");
            assert_eq!(type_name(&spelled.to_ascii_uppercase()), spelled, "{t:?}");
        }
        assert_eq!(type_name("Microsoft.Foo/bars"), "Microsoft.Foo/bars");
        let id = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks/default/managedPrivateEndpoints/m").unwrap();
        let l = lineage(&id);
        assert_eq!(l.len(), 3);
        assert_eq!(l[2].as_str(), "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f");
        assert_eq!(iso_duration(Duration::from_secs(60)), "PT1M");
        assert_eq!(iso_duration(Duration::from_secs(30)), "PT30S");
        assert_eq!(iso_duration(Duration::ZERO), "PT0S");
    }
}
