//! Where the two independent implementations meet: every MPE body the simulator renders (each served type
//! in each phase, in that service's own vocabulary, `crates/azure-sim/src/mpe/`) is read by the approver's
//! provider adapters (`src/model/providers/`), and the status they report is the one that phase means. The
//! simulator does not borrow the adapters to render, so a misreading on either side fails here instead of
//! being mirrored. The two registries serve the same types, and agree on each type's facts.

mod common;

use azure_sim::{MpeFacts, MpePhase, MpeType};
use mpe_approver::providers::{self, Provider};
use serde_json::Value;

const SUB: &str = "0b5e55ed-0000-4000-8000-00000000b0d1";

const TARGET: &str =
    "/subscriptions/0b5e55ed-0000-4000-8000-00000000b0d1/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/st1";

const MESSAGE: &str = "Please approve me";

/// The private endpoint the simulated service created for the MPE, for a service that reports its id.
const ENDPOINT: &str =
    "/subscriptions/9f8e7d6c-5b4a-4321-8fed-cba987654321/resourceGroups/managed-rg/providers/Microsoft.Network/privateEndpoints/ws.mpe1";

/// What the approver must read from a body in `phase`, by name of the variant: the phase itself, except
/// that an MPE which does not report its connection says only whether it is provisioned (the target's
/// PEC tells the rest).
fn expected(p: &dyn Provider, phase: MpePhase) -> &'static str {
    match phase {
        MpePhase::Creating => "Provisioning",
        MpePhase::Failed => "Failed",
        _ if !p.reports_connection() => "ProvisionedCheckTarget",
        MpePhase::AwaitingApproval => "AwaitingApproval",
        MpePhase::Approved => "Approved",
        MpePhase::Rejected => "Rejected",
        MpePhase::Disconnected => "Disconnected",
    }
}

/// Whether a string leaf of `v` is `s`.
fn holds(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Object(m) => m.values().any(|x| holds(x, s)),
        Value::Array(a) => a.iter().any(|x| holds(x, s)),
        _ => false,
    }
}

/// The approver's provider of each served type, which must exist.
fn provider_of(t: MpeType) -> &'static dyn Provider {
    providers::registry()
        .iter()
        .copied()
        .find(|p| p.resource_type().eq_ignore_ascii_case(t.resource_type()))
        .unwrap_or_else(|| panic!("the simulator serves {} but no provider is registered for it", t.resource_type()))
}

#[test]
fn every_rendered_body_reads_as_its_phase() {
    let target = azure_sim::ResourceId::parse(TARGET).unwrap();
    let mut checked = 0;
    for &t in MpeType::all() {
        let id = common::mpe_of_type(t.resource_type(), SUB, "rg-src", "mpe1");
        let sim_id = azure_sim::ResourceId::parse(id.as_str()).unwrap();
        let provider = providers::for_id(&id).unwrap_or_else(|| panic!("no adapter for {}", t.resource_type()));
        for phase in MpePhase::ALL {
            let created: chrono::DateTime<chrono::Utc> = "2026-11-23T09:50:00.250Z".parse().unwrap();
            let facts = MpeFacts {
                id: &sim_id,
                target: &target,
                group_id: "blob",
                request_message: MESSAGE,
                name: id.name(),
                created_at: created,
                endpoint_id: ENDPOINT,
            };
            let body = t.render(&facts, phase);
            let view = provider.parse(&id, &body).unwrap_or_else(|e| panic!("{t:?} {phase:?}: {e}\n{body:#}"));
            assert_eq!(
                common::variant(&view.status),
                expected(provider, phase),
                "{t:?} in {phase:?} read as {:?} ({})\n{body:#}",
                view.status,
                view.raw_status
            );
            assert_eq!(view.target.as_str(), TARGET, "{t:?} {phase:?}: target");
            // A private endpoint name the service reports (Databricks' `endpoint_name`) is read as it is.
            let named = body.get("endpoint_name").and_then(Value::as_str).filter(|n| !n.is_empty());
            assert_eq!(view.endpoint_name.as_deref(), named, "{t:?} {phase:?}: endpoint_name");
            assert_eq!(view.group_id.as_deref(), Some("blob"), "{t:?} {phase:?}: group id");
            // The request message is read where the service's body carries it (Data Factory's does not).
            let message = holds(&body, MESSAGE).then_some(MESSAGE);
            assert_eq!(view.request_message.as_deref(), message, "{t:?} {phase:?}: request message");
            // The creation time, where the service reports it, names the MPE's incarnation.
            // (or `creation_time`, epoch milliseconds, where the service is not ARM: Databricks).
            let reported = body.pointer("/systemData/createdAt").is_some() || body.get("creation_time").is_some();
            assert_eq!(view.created_at, reported.then_some(created), "{t:?} {phase:?}: systemData.createdAt");
            // An MPE whose connection only the target shows is read once per incarnation: it must say when
            // it was created.
            assert!(provider.reports_connection() || reported, "{t:?} {phase:?}: no systemData.createdAt");
            // A private endpoint id the service reports (Synapse's `resourceId`) ties the PEC exactly.
            if holds(&body, ENDPOINT) {
                assert_eq!(view.endpoint_id.as_deref(), Some(ENDPOINT), "{t:?} {phase:?}: resourceId");
            } else if !view.is_own_endpoint() {
                assert_eq!(view.endpoint_id, None, "{t:?} {phase:?}: an endpoint id from nowhere");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, providers::registry().len() * MpePhase::ALL.len());
}

/// The approver's registry and the simulator's serve the same MPE types, and agree on each one's service
/// name, api-version, write operation, private endpoint name (the PEC matching rule) and whether the MPE
/// reports its connection. A provider registered on one side only fails here.
#[test]
fn the_simulator_and_the_adapters_know_the_same_types_and_their_facts() {
    for p in providers::registry() {
        assert!(
            MpeType::all().iter().any(|t| t.resource_type().eq_ignore_ascii_case(p.resource_type())),
            "{} is registered in the approver but the simulator does not serve it (crates/azure-sim/src/mpe/)",
            p.resource_type()
        );
    }
    for &t in MpeType::all() {
        let p = provider_of(t);
        assert_eq!(p.service(), t.service());
        assert_eq!(p.api_version(), t.api_version(), "{t:?}");
        assert!(p.write_operation().eq_ignore_ascii_case(&t.write_operation()), "{t:?}");
        assert_eq!(p.reports_connection(), t.reports_connection(), "{t:?}");
        assert_eq!(p.data_plane().is_some(), t.data_plane(), "{t:?}: kept on a data plane on one side only");
        let id = common::mpe_of_type(t.resource_type(), SUB, "rg-src", "mpe1");
        let sim_id = azure_sim::ResourceId::parse(id.as_str()).unwrap();
        assert_eq!(MpeType::of(&sim_id), Some(t));
        // Where the service publishes how it names its private endpoint, both sides name it alike; where it
        // does not, the simulator's name is the service's own and the approver matches on the message.
        if let Some(name) = p.endpoint_name(&id) {
            assert_eq!(name, t.endpoint_name(&sim_id), "{t:?}");
        }
    }
    assert_eq!(MpeType::all().len(), providers::registry().len());
}
