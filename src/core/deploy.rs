//! What a deployment needs to know about the code: the ARM write operations Event Grid must deliver,
//! and the least-privilege role the identity needs. Both are derived from the provider registry and the
//! target table, never written by hand: `mpe-approver print operations` / `print role` print them, the
//! Bicep loads the checked-in copies in `infra/generated/`, and `tests/infra_drift.rs` fails when those
//! copies drift from what the code prints.

use crate::providers;
use crate::targets::TARGETS;
use serde::Serialize;
use std::collections::BTreeSet;

/// The role's name; the per-subscription template appends the subscription id (role names are unique
/// per tenant).
pub const ROLE_NAME: &str = "MPE Approver";

/// Every MPE write operation the handler acts on (Event Grid's `data.operationName`), sorted: those of
/// the MPE types kept in ARM (a data plane's MPEs raise no event, [`providers::Provider::data_plane`]).
pub fn watched_operations() -> Vec<String> {
    let ops: BTreeSet<String> =
        providers::registry().iter().filter(|p| p.data_plane().is_none()).map(|p| p.write_operation()).collect();
    ops.into_iter().collect()
}

/// A custom role definition in the shape `az role definition create --role-definition @file` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleDefinition {
    pub name: String,
    pub is_custom: bool,
    pub description: String,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
    pub assignable_scopes: Vec<String>,
}

/// Target types left out of the default role because the Azure permissions reference
/// (`infra/reference/actions.tsv`) does not document their actions: ARM rejects a whole role definition
/// naming one action it does not know (`InvalidActionOrNotAction`). Their actions are in
/// `infra/generated/role-opt-in.json` for whoever has checked them in their cloud
/// (`subscription.bicep` `additionalRoleActions`, `deploy.sh --role-opt-in`).
pub const OPT_IN_TARGETS: &[(&str, &str)] = &[
    (
        "Microsoft.Monitor/accounts",
        "the Azure permissions reference lists no private endpoint connection actions for Azure Monitor workspaces",
    ),
    (
        "Microsoft.PowerBI/privateLinkServicesForPowerBI",
        "the privateLinkServicesForPowerBI actions are not in the Azure permissions reference",
    ),
];

/// Target types never put in a role: the service is retired.
pub const RETIRED_TARGETS: &[(&str, &str)] =
    &[("Microsoft.Media/mediaservices", "Azure Media Services was retired on 30 June 2024")];

/// Reading a target's tags (`mpe-approver`, `mpe-approver-allow-from`) through the tags API.
pub const TAGS_READ: &str = "Microsoft.Resources/tags/read";

/// The Private Link Service scan (`MpePlsScan`, provider side): `privateLinkServices/read` (list the
/// PLSs of a subscription or resource group), and read and write on their connections (list, re-read,
/// approve or reject by PUT, confirm by GET). Their tags are read with [`TAGS_READ`].
pub fn pls_actions() -> Vec<String> {
    let t = crate::pls::PLS_TYPE;
    vec![
        format!("{t}/read"),
        format!("{t}/privateEndpointConnections/read"),
        format!("{t}/privateEndpointConnections/write"),
    ]
}

fn excluded(resource_type: &str) -> bool {
    OPT_IN_TARGETS.iter().chain(RETIRED_TARGETS).any(|(t, _)| t.eq_ignore_ascii_case(resource_type))
}

fn target_actions(t: &crate::targets::TargetType, actions: &mut BTreeSet<String>) {
    actions.insert(format!("{}/privateEndpointConnections/read", t.resource_type));
    actions.insert(format!("{}/privateEndpointConnections/write", t.resource_type));
    if !t.list {
        actions.insert(format!("{}/read", t.resource_type));
    }
}

/// The MPE side: `read` on each supported MPE type kept in ARM (the handler re-reads the MPE on every
/// check; a data plane's MPEs are read with the data plane's own permission,
/// [`providers::DataPlane::permission`]) and on each of its parents ([`mpe_parent_reads`]), and the
/// refresh action of a service whose MPE reports an approval only once asked
/// ([`providers::Provider::refresh`]: Managed Grafana). No MPE is ever written.
pub fn mpe_side_actions() -> Vec<String> {
    let actions: BTreeSet<String> = providers::registry()
        .iter()
        .filter(|p| p.data_plane().is_none())
        .map(|p| format!("{}/read", p.resource_type()))
        .chain(mpe_parent_reads())
        .chain(refresh_actions())
        .collect();
    actions.into_iter().collect()
}

/// Some id of `resource_type` (`/subscriptions/0/resourceGroups/rg/providers/{Namespace}/{type}/x/...`).
fn an_id_of(resource_type: &str) -> Option<crate::resource_id::ResourceId> {
    let mut segments = resource_type.split('/');
    let mut id = format!("/subscriptions/0/resourceGroups/rg/providers/{}", segments.next()?);
    for t in segments {
        id.push_str(&format!("/{t}/x"));
    }
    crate::resource_id::ResourceId::parse(&id).ok()
}

/// The RBAC action of each provider's refresh ([`providers::Provider::refresh`]), sorted.
pub fn refresh_actions() -> Vec<String> {
    let actions: BTreeSet<String> = providers::registry()
        .iter()
        .filter_map(|p| p.refresh(&an_id_of(p.resource_type())?).map(|r| r.permission.to_string()))
        .collect();
    actions.into_iter().collect()
}

/// `read` on every parent type of each supported MPE type, derived from the type itself
/// (`Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints` has the parents
/// `factories` and `factories/managedVirtualNetworks`), sorted. The sweep (`MpeSweep`) and a scoped replay
/// find MPEs by listing their parents in a subscription or resource group and then each parent's MPEs, and
/// both lists are authorized by the parent's `read`. Of a data plane's MPE type only the top-level parent
/// is in ARM (the Synapse workspaces, listed to find their data planes). The casing is the code's; ARM
/// compares actions case-insensitively, and so do the checks against `infra/reference/actions.tsv`.
pub fn mpe_parent_reads() -> Vec<String> {
    let mut actions = BTreeSet::new();
    for p in providers::registry() {
        let segments: Vec<&str> = p.resource_type().split('/').collect();
        // segments[0] is the namespace; a parent needs at least one type segment, the MPE type is the last.
        // A data plane's parents are in ARM only where discovery lists them there (Synapse workspaces).
        let last = match p.data_plane().map(|d| d.parents) {
            None => segments.len(),
            Some(providers::Parents::Arm { .. }) => 3.min(segments.len()),
            Some(providers::Parents::Setting(_)) => 0,
        };
        for n in 2..last {
            actions.insert(format!("{}/read", segments[..n].join("/")));
        }
    }
    actions.into_iter().collect()
}

/// The target side: `privateEndpointConnections/read` and `/write` on each supported target type (list,
/// re-read, approve by PUT, confirm by GET), `read` on the target itself where the type lists its
/// connections in the parent's GET, and the target's tags; and the Private Link Services' reads and
/// connection writes ([`pls_actions`]), the targets of a consumer's connection. Opt-in and retired types
/// are left out.
pub fn target_side_actions() -> Vec<String> {
    let mut actions = BTreeSet::from([TAGS_READ.to_string()]);
    actions.extend(pls_actions());
    for t in TARGETS.iter().filter(|t| !excluded(t.resource_type)) {
        target_actions(t, &mut actions);
    }
    actions.into_iter().collect()
}

/// The actions of the opt-in target types (`OPT_IN_TARGETS`), sorted: not in the default role.
pub fn opt_in_actions() -> Vec<String> {
    let mut actions = BTreeSet::new();
    for t in TARGETS.iter().filter(|t| OPT_IN_TARGETS.iter().any(|(o, _)| o.eq_ignore_ascii_case(t.resource_type))) {
        target_actions(t, &mut actions);
    }
    actions.into_iter().collect()
}

/// The opt-in list as checked in at `infra/generated/role-opt-in.json`.
pub fn opt_in_list() -> serde_json::Value {
    serde_json::json!({
        "Note": "Not in the default role: these actions are not in the Azure permissions reference \
                 (infra/reference/actions.tsv), and ARM rejects a whole role definition that names an action it \
                 does not know. Add them (subscription.bicep additionalRoleActions, deploy.sh --role-opt-in) only \
                 after checking that your cloud accepts them.",
        "Targets": OPT_IN_TARGETS.iter().map(|(t, why)| serde_json::json!({"Type": t, "Why": why})).collect::<Vec<_>>(),
        "Actions": opt_in_actions(),
    })
}

/// The control-plane actions of the default role, sorted, no wildcards: the MPE side (reads) and the
/// target side (connection reads and writes), see `mpe_side_actions` and `target_side_actions`.
pub fn role_actions() -> Vec<String> {
    let actions: BTreeSet<String> = mpe_side_actions().into_iter().chain(target_side_actions()).collect();
    actions.into_iter().collect()
}

/// The role definition with the given assignable scopes (e.g. `/subscriptions/<id>`).
pub fn role_definition(assignable_scopes: Vec<String>) -> RoleDefinition {
    RoleDefinition {
        name: ROLE_NAME.to_string(),
        is_custom: true,
        description: "mpe-approver: read supported managed private endpoints and approve their private endpoint \
                      connections on supported target types; approve or reject the connections of watched \
                      Private Link Services. Generated by `mpe-approver print role`."
            .to_string(),
        actions: role_actions(),
        not_actions: Vec::new(),
        data_actions: Vec::new(),
        not_data_actions: Vec::new(),
        assignable_scopes,
    }
}

/// The placeholder scope in the checked-in role (the Bicep sets the real one per subscription).
pub const PLACEHOLDER_SCOPE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_cover_every_provider_and_nothing_else() {
        let ops = watched_operations();
        let in_arm = providers::registry().iter().filter(|p| p.data_plane().is_none()).count();
        assert_eq!(ops.len(), in_arm);
        assert!(in_arm < providers::registry().len(), "a data plane's MPE type raises no event: none watched");
        // Event Grid takes at most 25 values across an event subscription's advanced filters; past that
        // the StringIn filter on data.operationName must be split (or move to a prefix filter).
        assert!(ops.len() <= 25, "{} operations exceed Event Grid's 25 filter values", ops.len());
        for op in &ops {
            assert!(providers::for_operation(op).is_some(), "{op}");
            assert!(op.ends_with("/write"));
        }
    }

    #[test]
    fn role_has_no_wildcards_and_writes_only_connections() {
        let actions = role_actions();
        assert!(!actions.is_empty());
        let refreshes = refresh_actions();
        for a in &actions {
            assert!(!a.contains('*'), "wildcard in {a}");
            assert!(
                a.ends_with("/read") || a.ends_with("/privateEndpointConnections/write") || refreshes.contains(a),
                "unexpected action {a}"
            );
        }
        assert_eq!(refreshes, ["Microsoft.Dashboard/grafana/managedPrivateEndpoints/action"]);
        for p in providers::registry() {
            // A data plane's MPEs are read with its own permission: no ARM action names them.
            let read = format!("{}/read", p.resource_type());
            assert_eq!(actions.contains(&read), p.data_plane().is_none(), "{read}");
            assert!(!actions.iter().any(|a| a.starts_with(p.resource_type()) && a.ends_with("/write")));
        }
        assert!(actions.contains(&"Microsoft.Synapse/workspaces/read".to_string()), "workspaces are listed");
        assert!(!actions.iter().any(|a| a.starts_with("Microsoft.Synapse/workspaces/managedVirtualNetworks")));
        // A type listing its connections in the parent needs read on the parent; one with a collection does not.
        assert!(actions.contains(&"Microsoft.KeyVault/vaults/read".to_string()));
        assert!(!actions.contains(&"Microsoft.Storage/storageAccounts/read".to_string()));
        let writes = actions.iter().filter(|a| a.ends_with("/write")).count();
        assert_eq!(writes, TARGETS.len() - OPT_IN_TARGETS.len() - RETIRED_TARGETS.len() + 1, "and the PLS connections");
        assert!(actions.contains(&TAGS_READ.to_string()));
        for a in pls_actions() {
            assert!(actions.contains(&a), "{a}");
            assert!(target_side_actions().contains(&a), "a PLS is a target of connections: {a}");
        }
        assert_eq!(pls_actions()[0], "Microsoft.Network/privateLinkServices/read");
    }

    #[test]
    fn read_and_write_are_split_by_side() {
        let refreshes = refresh_actions();
        for a in mpe_side_actions() {
            assert!(a.ends_with("/read") || refreshes.contains(&a), "the MPE side reads, and refreshes: {a}");
        }
        for a in target_side_actions() {
            assert!(a.ends_with("/read") || a.ends_with("/privateEndpointConnections/write"), "{a}");
        }
    }

    #[test]
    fn the_mpe_side_is_the_watched_operations_and_their_parents_as_reads_and_the_refreshes() {
        // One read per watched operation plus the parents' reads. A targets-only subscription gets the
        // target side alone, so nothing the target side needs may come from the MPE side only: the one
        // overlap allowed is a parent read that is also a target's own read (SignalR and Web PubSub are both
        // MPE parents and target types).
        let derived: BTreeSet<String> = watched_operations()
            .iter()
            .map(|op| format!("{}/read", op.strip_suffix("/write").unwrap()))
            .chain(mpe_parent_reads())
            .chain(refresh_actions())
            .collect();
        assert_eq!(derived.into_iter().collect::<Vec<_>>(), mpe_side_actions());
        let parents = mpe_parent_reads();
        for a in target_side_actions() {
            assert!(!mpe_side_actions().contains(&a) || parents.contains(&a), "{a} is on both sides");
        }
    }

    #[test]
    fn every_mpe_parent_can_be_read() {
        let parents = mpe_parent_reads();
        // The ancestors of an MPE of each type, as ARM ids nest them (a cluster; a factory and its network).
        let mut ancestors = BTreeSet::new();
        for p in providers::registry() {
            match p.data_plane().map(|d| d.parents) {
                None => {}
                // Only the top-level parent is in ARM: listed to find the data planes.
                Some(providers::Parents::Arm { .. }) => {
                    let top: Vec<&str> = p.resource_type().split('/').take(2).collect();
                    ancestors.insert(format!("{}/read", top.join("/")));
                    continue;
                }
                // Parents a setting names: nothing in ARM.
                Some(providers::Parents::Setting(_)) => continue,
            }
            let mut segments = p.resource_type().split('/');
            let mut raw =
                format!("/subscriptions/s/resourceGroups/rg/providers/{}", segments.next().unwrap_or_default());
            for (i, t) in segments.enumerate() {
                raw.push_str(&format!("/{t}/n{i}"));
            }
            let mut id = crate::resource_id::ResourceId::parse(&raw).unwrap();
            while let Some(parent) = id.parent() {
                ancestors.insert(format!("{}/read", parent.resource_type()));
                id = parent;
            }
        }
        assert!(!ancestors.is_empty());
        assert_eq!(parents, ancestors.into_iter().collect::<Vec<_>>());
        for p in providers::registry() {
            // Every parent is a proper prefix of some MPE type; no MPE type is its own parent.
            assert!(!parents.contains(&format!("{}/read", p.resource_type())));
        }
        for a in &parents {
            let t = a.strip_suffix("/read").unwrap();
            assert!(providers::registry().iter().any(|p| p.resource_type().starts_with(&format!("{t}/"))), "{a}");
        }
        // No two actions of the role differ only in case (ARM would see one action twice).
        let role = role_actions();
        let lower: BTreeSet<String> = role.iter().map(|a| a.to_lowercase()).collect();
        assert_eq!(lower.len(), role.len());
    }

    #[test]
    fn opt_in_and_retired_types_are_not_in_the_role() {
        let actions = role_actions();
        for (t, _) in OPT_IN_TARGETS.iter().chain(RETIRED_TARGETS) {
            assert!(TARGETS.iter().any(|x| x.resource_type == *t), "{t} is not a target type");
            assert!(!actions.iter().any(|a| a.to_lowercase().starts_with(&format!("{}/", t.to_lowercase()))), "{t}");
        }
        let opt_in = opt_in_actions();
        assert!(
            opt_in.contains(&"Microsoft.PowerBI/privateLinkServicesForPowerBI/privateEndpointConnections/write".into())
        );
        assert!(!opt_in.iter().any(|a| a.starts_with("Microsoft.Media/")), "retired services are not opt-in");
    }
}
