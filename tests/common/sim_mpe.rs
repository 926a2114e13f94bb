//! MPE bodies as the simulated services render them (`crates/azure-sim/src/mpe/`), for tests that read
//! them with the approver's adapters. Shared by the root tests (`tests/common/mod.rs`) and the demo
//! crate's (`crates/demo/tests/common/mod.rs`).

use super::mpe_of_type;
use mpe_approver::providers::MpeStatus;
use mpe_approver::resource_id::ResourceId;
use serde_json::Value;

/// The request message of [`sim_mpe_body`]'s MPE.
pub const SIM_MESSAGE: &str = "Please approve";

/// The simulated service's body for an MPE of `resource_type` in `phase`, as `crates/azure-sim/src/mpe/`
/// renders it from the service's examples, with its id: `mpe1` in `sub`, towards a storage account,
/// group `blob`, request message [`SIM_MESSAGE`], created `2026-11-23T09:50:00Z`.
pub fn sim_mpe_body(resource_type: &str, sub: &str, phase: azure_sim::MpePhase) -> (ResourceId, Value) {
    sim_mpe_body_with_endpoint(resource_type, sub, phase, "")
}

/// [`sim_mpe_body`] of an MPE whose private endpoint is `endpoint_id` (a service that reports it renders it).
pub fn sim_mpe_body_with_endpoint(
    resource_type: &str,
    sub: &str,
    phase: azure_sim::MpePhase,
    endpoint_id: &str,
) -> (ResourceId, Value) {
    let id = mpe_of_type(resource_type, sub, "rg-src", "mpe1");
    let sim_id = azure_sim::ResourceId::parse(id.as_str()).unwrap_or_else(|e| panic!("{e}"));
    let target = format!("/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/st");
    let target = azure_sim::ResourceId::parse(&target).unwrap_or_else(|e| panic!("{e}"));
    let t = azure_sim::MpeType::of(&sim_id).unwrap_or_else(|| panic!("the simulator does not serve {id}"));
    let facts = azure_sim::MpeFacts {
        id: &sim_id,
        target: &target,
        group_id: "blob",
        request_message: SIM_MESSAGE,
        name: id.name(),
        created_at: "2026-11-23T09:50:00Z".parse().unwrap_or_else(|e| panic!("{e}")),
        endpoint_id,
    };
    let body = t.render(&facts, phase);
    (id, body)
}

/// A status's variant by name, to compare statuses whatever text they carry.
pub fn variant(s: &MpeStatus) -> &'static str {
    match s {
        MpeStatus::Provisioning(_) => "Provisioning",
        MpeStatus::AwaitingApproval => "AwaitingApproval",
        MpeStatus::ProvisionedCheckTarget => "ProvisionedCheckTarget",
        MpeStatus::Approved => "Approved",
        MpeStatus::Rejected => "Rejected",
        MpeStatus::Disconnected => "Disconnected",
        MpeStatus::Failed(_) => "Failed",
        MpeStatus::Deleting => "Deleting",
        MpeStatus::Unknown(_) => "Unknown",
        MpeStatus::NoPrivateLink => "NoPrivateLink",
        MpeStatus::Reserved => "Reserved",
    }
}
