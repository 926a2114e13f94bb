//! The registry's providers as the tests on the simulator pick them: every one, those whose MPE reports
//! its connection and those whose MPE leaves it to the target, and MPE ids of each type.

use mpe_approver::providers::{registry, Provider};
use mpe_approver::resource_id::ResourceId;

/// Every provider of the registry.
pub fn all() -> Vec<&'static dyn Provider> {
    registry().to_vec()
}

/// The providers whose private endpoint is a managed one, named by a rule (or not published): a twin from
/// another subscription can look like it. A customer's own private endpoint is tied by its full id instead.
pub fn managed() -> Vec<&'static dyn Provider> {
    let own = |p: &dyn Provider| {
        let id = mpe(p, "00000000-0000-0000-0000-000000000000", "rg", "m");
        azure_sim::ResourceId::parse(id.as_str())
            .ok()
            .and_then(|i| azure_sim::MpeType::of(&i))
            .is_some_and(|t| t.own_endpoint())
    };
    all().into_iter().filter(|p| !own(*p) && !reports_endpoint_id(*p)).collect()
}

/// Whether `p`'s MPE reports the full id of its private endpoint, as the simulated service renders it
/// (Synapse's `resourceId`): its PEC is tied by that id, and a twin of the same name is not a candidate.
pub fn reports_endpoint_id(p: &dyn Provider) -> bool {
    let endpoint = "/subscriptions/s/resourceGroups/managed/providers/Microsoft.Network/privateEndpoints/e1";
    let (id, body) =
        super::sim_mpe_body_with_endpoint(p.resource_type(), "s", azure_sim::MpePhase::AwaitingApproval, endpoint);
    p.parse(&id, &body).is_ok_and(|v| v.endpoint_id.as_deref() == Some(endpoint))
}

/// The providers whose MPEs a sweep of a subscription or resource group finds: all but a data plane whose
/// parents a setting names (Databricks' NCCs, `MPE_DATABRICKS_NCCS`), listed whatever the scope.
pub fn under_scopes() -> Vec<&'static dyn Provider> {
    use mpe_approver::providers::Parents;
    all().into_iter().filter(|p| !matches!(p.data_plane().map(|d| d.parents), Some(Parents::Setting(_)))).collect()
}

/// The providers whose MPE reports its connection (pending, approved, rejected ...).
pub fn reporting() -> Vec<&'static dyn Provider> {
    let v: Vec<_> = all().into_iter().filter(|p| p.reports_connection()).collect();
    assert!(!v.is_empty(), "no registered provider's MPE reports its connection");
    v
}

/// The providers whose MPE leaves its connection to the target: our PEC there decides, once per
/// incarnation of the MPE.
pub fn asking_the_target() -> Vec<&'static dyn Provider> {
    let v: Vec<_> = all().into_iter().filter(|p| !p.reports_connection()).collect();
    assert!(!v.is_empty(), "no registered provider's MPE leaves its connection to the target");
    v
}

/// The `n`-th provider whose MPE reports its connection (counting round): for cases that hold whatever
/// the service, spread over the registry.
pub fn any(n: usize) -> &'static dyn Provider {
    let r = reporting();
    r[n % r.len()]
}

/// An MPE of `p`'s type called `name` in `sub`'s resource group `rg`.
pub fn mpe(p: &dyn Provider, sub: &str, rg: &str, name: &str) -> ResourceId {
    super::mpe_of_type(p.resource_type(), sub, rg, name)
}

/// Whether `p`'s MPE carries its request message, as the simulated service renders it: the evidence that
/// tells two PECs of one private endpoint name apart.
pub fn carries_request_message(p: &dyn Provider) -> bool {
    let (id, body) = super::sim_mpe_body(p.resource_type(), "s", azure_sim::MpePhase::AwaitingApproval);
    p.parse(&id, &body).is_ok_and(|v| v.request_message.is_some())
}
