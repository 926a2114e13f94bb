//! Resource ids the official ARM examples' request parameters name (`tests/fixtures/arm-examples`).

use super::{in_group, param};
use mpe_approver::resource_id::ResourceId;

/// `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{tail}` from the example's parameters.
pub fn id_from_params(rel: &str, tail: &str) -> ResourceId {
    in_group(&param(rel, "subscriptionId"), &format!("{}/providers/{tail}", param(rel, "resourceGroupName")))
}

/// The Stream Analytics private endpoint an ARM example's parameters name.
pub fn asa_id(rel: &str) -> ResourceId {
    id_from_params(
        rel,
        &format!(
            "Microsoft.StreamAnalytics/clusters/{}/privateEndpoints/{}",
            param(rel, "clusterName"),
            param(rel, "privateEndpointName")
        ),
    )
}

/// The Data Explorer managed private endpoint an ARM example's parameters name.
pub fn kusto_id(rel: &str) -> ResourceId {
    id_from_params(
        rel,
        &format!(
            "Microsoft.Kusto/clusters/{}/managedPrivateEndpoints/{}",
            param(rel, "clusterName"),
            param(rel, "managedPrivateEndpointName")
        ),
    )
}

/// The Data Factory managed private endpoint an ARM example's parameters name.
pub fn adf_id(rel: &str) -> ResourceId {
    id_from_params(
        rel,
        &format!(
            "Microsoft.DataFactory/factories/{}/managedVirtualNetworks/{}/managedPrivateEndpoints/{}",
            param(rel, "factoryName"),
            param(rel, "managedVirtualNetworkName"),
            param(rel, "managedPrivateEndpointName")
        ),
    )
}

/// SignalR / Web PubSub: the example bodies carry a `.../privateEndpointConnections/upstream` id, so the
/// MPE id is built from the request parameters (`kind` = `signalR` or `webPubSub`).
pub fn splr_id(rel: &str, kind: &str, name: &str) -> ResourceId {
    id_from_params(
        rel,
        &format!("Microsoft.SignalRService/{kind}/{}/sharedPrivateLinkResources/{name}", param(rel, "resourceName")),
    )
}
