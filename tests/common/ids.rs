//! Making resource ids in tests: every helper parses with `ResourceId::parse` and panics with its error.
//! Shared by the root tests (`tests/common/mod.rs`) and the demo crate's (`crates/demo/tests/common/mod.rs`).

use mpe_approver::resource_id::ResourceId;

/// A whole id, e.g. `rid("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a")`.
pub fn rid(s: &str) -> ResourceId {
    ResourceId::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// `/subscriptions/{sub}/resourceGroups/{tail}`, e.g. `in_group(SUB, "rg/providers/Microsoft.Storage/storageAccounts/a")`.
pub fn in_group(sub: &str, tail: &str) -> ResourceId {
    rid(&format!("/subscriptions/{sub}/resourceGroups/{tail}"))
}

/// An MPE of `resource_type` called `name` in `sub`'s resource group `rg`, its ancestors (a cluster, a
/// factory and its network ...) named `p0`, `p1`, ... outwards in.
pub fn mpe_of_type(resource_type: &str, sub: &str, rg: &str, name: &str) -> ResourceId {
    rid(&azure_sim::mpe::id_of_type(resource_type, sub, rg, name, |depth, _| format!("p{depth}")))
}
