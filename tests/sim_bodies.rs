//! Where the two independent implementations meet: every MPE body the simulator renders (each type in
//! each phase, in that service's own vocabulary, `crates/azure-sim/src/mpe.rs`) is read by the
//! approver's provider adapters (`src/providers/`), and the status they report is the one that phase
//! means. The simulator no longer borrows the adapters to render, so a misreading on either side fails
//! here instead of being mirrored.

mod common;

use azure_sim::{MpeFacts, MpePhase, MpeType};
use mpe_approver::providers::{self, MpeStatus};

const SUB: &str = "0b5e55ed-0000-4000-8000-00000000b0d1";

fn mpe_id(t: MpeType) -> String {
    let tail = match t {
        MpeType::StreamAnalytics => "Microsoft.StreamAnalytics/clusters/asa1/privateEndpoints/pe1",
        MpeType::DataExplorer => "Microsoft.Kusto/clusters/adx1/managedPrivateEndpoints/mpe1",
        MpeType::DataFactory => {
            "Microsoft.DataFactory/factories/adf1/managedVirtualNetworks/default/managedPrivateEndpoints/mpe1"
        }
        MpeType::SignalR => "Microsoft.SignalRService/signalR/sr1/sharedPrivateLinkResources/spl1",
        MpeType::WebPubSub => "Microsoft.SignalRService/webPubSub/wps1/sharedPrivateLinkResources/spl1",
    };
    format!("/subscriptions/{SUB}/resourceGroups/rg-src/providers/{tail}")
}

const TARGET: &str =
    "/subscriptions/0b5e55ed-0000-4000-8000-00000000b0d1/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/st1";

/// What the approver must read from a body in `phase`, by name of the variant.
fn expected(t: MpeType, phase: MpePhase) -> &'static str {
    match (t, phase) {
        (_, MpePhase::Creating) => "Provisioning",
        (_, MpePhase::Failed) => "Failed",
        // Data Explorer's MPE says only that it is provisioned: the target's PEC tells the rest.
        (MpeType::DataExplorer, _) => "ProvisionedCheckTarget",
        (_, MpePhase::AwaitingApproval) => "AwaitingApproval",
        (_, MpePhase::Approved) => "Approved",
        (_, MpePhase::Rejected) => "Rejected",
        (_, MpePhase::Disconnected) => "Disconnected",
    }
}

fn variant(s: &MpeStatus) -> &'static str {
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
    }
}

#[test]
fn every_rendered_body_reads_as_its_phase() {
    let target = azure_sim::ResourceId::parse(TARGET).unwrap();
    let mut checked = 0;
    for t in MpeType::ALL {
        let raw = mpe_id(t);
        let sim_id = azure_sim::ResourceId::parse(&raw).unwrap();
        let id = common::rid(&raw);
        let provider = providers::for_id(&id).unwrap_or_else(|| panic!("no adapter for {}", t.resource_type()));
        for phase in MpePhase::ALL {
            let created: chrono::DateTime<chrono::Utc> = "2026-11-23T09:50:00.250Z".parse().unwrap();
            let facts = MpeFacts {
                id: &sim_id,
                target: &target,
                group_id: "blob",
                request_message: "Please approve me",
                created_at: created,
            };
            let body = t.render(&facts, phase);
            let view = provider.parse(&id, &body).unwrap_or_else(|e| panic!("{t:?} {phase:?}: {e}\n{body:#}"));
            assert_eq!(
                variant(&view.status),
                expected(t, phase),
                "{t:?} in {phase:?} read as {:?} ({})\n{body:#}",
                view.status,
                view.raw_status
            );
            assert_eq!(view.target.as_str(), TARGET, "{t:?} {phase:?}: target");
            assert_eq!(view.group_id.as_deref(), Some("blob"), "{t:?} {phase:?}: group id");
            // Data Factory's MPE carries no request message (ManagedPrivateEndpoints_Get.json).
            let message = if t == MpeType::DataFactory { None } else { Some("Please approve me") };
            assert_eq!(view.request_message.as_deref(), message, "{t:?} {phase:?}: request message");
            // Data Explorer's connection is read at the target, once per incarnation: its creation time.
            if t == MpeType::DataExplorer {
                assert_eq!(view.created_at, Some(created), "{t:?} {phase:?}: systemData.createdAt");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 30);
}

#[test]
fn the_simulator_and_the_adapters_know_the_same_types_operations_and_endpoint_names() {
    assert_eq!(MpeType::ALL.len(), providers::registry().len());
    for t in MpeType::ALL {
        let raw = mpe_id(t);
        let id = common::rid(&raw);
        let p = providers::for_id(&id).unwrap_or_else(|| panic!("no adapter for {}", t.resource_type()));
        assert_eq!(p.service(), t.service());
        assert!(p.write_operation().eq_ignore_ascii_case(&t.write_operation()), "{t:?}");
        // The PEC matching rule: the private endpoint the service creates is named as the adapter expects.
        let sim_id = azure_sim::ResourceId::parse(&raw).unwrap();
        assert_eq!(p.endpoint_name(&id), t.endpoint_name(&sim_id), "{t:?}");
    }
}
