//! The five managed-private-endpoint types the simulated ARM serves, and how each service's API
//! renders its MPE in each phase of its life: **what Azure answers** for a `GET` of an MPE.
//!
//! Written from the services' official REST examples (the repository keeps verbatim copies in
//! `tests/fixtures/arm-examples/`, sources in `tests/fixtures/PROVENANCE.md`) and the values the live
//! services report where the examples show only one state. Each service speaks its own vocabulary; this
//! file never borrows the approver's reading of it, so a mistake in an adapter is not mirrored here.
//! The approver's `tests/sim_bodies.rs` is where the two meet: every type × phase rendered here is read
//! by the approver's adapters.

use crate::id::ResourceId;
use serde::Serialize;
use serde_json::{json, Value};

/// Where an MPE is in its life, as the simulated service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MpePhase {
    /// The service is still creating its private endpoint (approving now races it).
    Creating,
    /// The service reports that its connection waits for approval.
    AwaitingApproval,
    Approved,
    Rejected,
    /// The private endpoint connection was removed at the target.
    Disconnected,
    /// The service broke the endpoint (what an early approval does).
    Failed,
}

impl MpePhase {
    pub const ALL: [MpePhase; 6] = [
        MpePhase::Creating,
        MpePhase::AwaitingApproval,
        MpePhase::Approved,
        MpePhase::Rejected,
        MpePhase::Disconnected,
        MpePhase::Failed,
    ];
}

/// A supported MPE resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MpeType {
    /// `Microsoft.StreamAnalytics/clusters/privateEndpoints` (api-version 2020-03-01).
    StreamAnalytics,
    /// `Microsoft.Kusto/clusters/managedPrivateEndpoints` (api-version 2024-04-13).
    DataExplorer,
    /// `Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints` (2018-06-01).
    DataFactory,
    /// `Microsoft.SignalRService/signalR/sharedPrivateLinkResources` (2024-03-01).
    SignalR,
    /// `Microsoft.SignalRService/webPubSub/sharedPrivateLinkResources` (2024-03-01).
    WebPubSub,
}

/// What the service knows about one MPE, to render its body.
#[derive(Debug, Clone, Copy)]
pub struct MpeFacts<'a> {
    pub id: &'a ResourceId,
    pub target: &'a ResourceId,
    pub group_id: &'a str,
    pub request_message: &'a str,
    /// When the MPE was created (`systemData.createdAt` where the service reports it).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl MpeType {
    pub const ALL: [MpeType; 5] =
        [MpeType::StreamAnalytics, MpeType::DataExplorer, MpeType::DataFactory, MpeType::SignalR, MpeType::WebPubSub];

    /// The type of an MPE id (case-insensitive), if served.
    pub fn of(id: &ResourceId) -> Option<MpeType> {
        Self::ALL.into_iter().find(|t| id.is_type(t.resource_type()))
    }

    pub fn resource_type(self) -> &'static str {
        match self {
            MpeType::StreamAnalytics => "Microsoft.StreamAnalytics/clusters/privateEndpoints",
            MpeType::DataExplorer => "Microsoft.Kusto/clusters/managedPrivateEndpoints",
            MpeType::DataFactory => "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
            MpeType::SignalR => "Microsoft.SignalRService/signalR/sharedPrivateLinkResources",
            MpeType::WebPubSub => "Microsoft.SignalRService/webPubSub/sharedPrivateLinkResources",
        }
    }

    /// The service's name, for reports.
    pub fn service(self) -> &'static str {
        match self {
            MpeType::StreamAnalytics => "Stream Analytics",
            MpeType::DataExplorer => "Data Explorer",
            MpeType::DataFactory => "Data Factory",
            MpeType::SignalR => "SignalR",
            MpeType::WebPubSub => "Web PubSub",
        }
    }

    /// The ARM write operation (Event Grid's `operationName`) for this type.
    pub fn write_operation(self) -> String {
        format!("{}/write", self.resource_type())
    }

    /// The name the service gives the private endpoint it creates in its managed network (the last
    /// segment of `privateEndpoint.id` at the target): the MPE's name, except Data Factory's
    /// `<factoryName>.<mpeName>`.
    pub fn endpoint_name(self, id: &ResourceId) -> String {
        match self {
            MpeType::DataFactory => format!("{}.{}", id.name_at(0).unwrap_or_default(), id.name()),
            _ => id.name().to_string(),
        }
    }

    /// The body `GET {mpe}?api-version=...` answers in `phase`.
    pub fn render(self, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
        match self {
            MpeType::StreamAnalytics => stream_analytics(m, phase),
            MpeType::DataExplorer => data_explorer(m, phase),
            MpeType::DataFactory => data_factory(m, phase),
            MpeType::SignalR => {
                shared_private_link("Microsoft.SignalRService/SignalR/sharedPrivateLinkResources", m, phase)
            }
            MpeType::WebPubSub => {
                shared_private_link("Microsoft.SignalRService/WebPubSub/sharedPrivateLinkResources", m, phase)
            }
        }
    }
}

/// `PrivateEndpoint_Get.json` (2020-03-01): the state sits in
/// `manualPrivateLinkServiceConnections[0].properties.privateLinkServiceConnectionState.status`; no
/// provisioningState. The example shows `Pending`; the live service walks `PendingCreation` →
/// `PendingCustomerApproval` → `SetUpComplete`.
fn stream_analytics(m: &MpeFacts<'_>, phase: MpePhase) -> Value {
    let status = match phase {
        MpePhase::Creating => "PendingCreation",
        MpePhase::AwaitingApproval => "PendingCustomerApproval",
        MpePhase::Approved => "SetUpComplete",
        MpePhase::Rejected => "Rejected",
        MpePhase::Disconnected => "Disconnected",
        MpePhase::Failed => "Failed",
    };
    json!({
        "id": m.id.as_str(),
        "name": m.id.name(),
        "type": "Microsoft.StreamAnalytics/clusters/privateEndpoints",
        "properties": {
            "createdDate": "2026-01-01T00:00Z",
            "manualPrivateLinkServiceConnections": [{
                "properties": {
                    "privateLinkServiceId": m.target.as_str(),
                    "groupIds": [m.group_id],
                    "requestMessage": m.request_message,
                    "privateLinkServiceConnectionState": {
                        "status": status,
                        "description": "",
                        "actionsRequired": "None"
                    }
                }
            }]
        },
        "etag": "00000000-0000-0000-0000-000000000000"
    })
}

/// `KustoManagedPrivateEndpointsGet.json` (2024-04-13): `name` is `cluster/mpe`, the type capitalised;
/// the model's only state is `provisioningState` (Creating/Provisioning → Succeeded, or Failed), which
/// does not say whether the connection is pending or approved: the target's PEC does. The resource also
/// carries ARM's read-only `systemData` (the 2024-04-13 spec declares it on `ManagedPrivateEndpoint`; the
/// example omits it): `createdAt` is when this MPE, under this name, was created.
fn data_explorer(m: &MpeFacts<'_>, phase: MpePhase) -> Value {
    let provisioning = match phase {
        MpePhase::Creating => "Provisioning",
        MpePhase::Failed => "Failed",
        _ => "Succeeded",
    };
    json!({
        "id": m.id.as_str(),
        "name": format!("{}/{}", m.id.name_at(0).unwrap_or_default(), m.id.name()),
        "type": "Microsoft.Kusto/Clusters/ManagedPrivateEndpoints",
        "properties": {
            "privateLinkResourceId": m.target.as_str(),
            "groupId": m.group_id,
            "requestMessage": m.request_message,
            "provisioningState": provisioning
        },
        "systemData": {
            "createdBy": "kusto-admin@contoso.com",
            "createdByType": "User",
            "createdAt": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModifiedBy": "kusto-admin@contoso.com",
            "lastModifiedByType": "User",
            "lastModifiedAt": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }
    })
}

/// `ManagedPrivateEndpoints_Get.json` (2018-06-01): `provisioningState` and
/// `connectionState.{status, description, actionsRequired}`; no request message. While provisioning
/// the connection state is still empty.
fn data_factory(m: &MpeFacts<'_>, phase: MpePhase) -> Value {
    let (provisioning, status) = match phase {
        MpePhase::Creating => ("Provisioning", ""),
        MpePhase::Failed => ("Failed", ""),
        MpePhase::AwaitingApproval => ("Succeeded", "Pending"),
        MpePhase::Approved => ("Succeeded", "Approved"),
        MpePhase::Rejected => ("Succeeded", "Rejected"),
        MpePhase::Disconnected => ("Succeeded", "Disconnected"),
    };
    json!({
        "id": m.id.as_str(),
        "name": m.id.name(),
        "type": "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
        "properties": {
            "provisioningState": provisioning,
            "privateLinkResourceId": m.target.as_str(),
            "groupId": m.group_id,
            "fqdns": [],
            "connectionState": { "status": status, "description": "", "actionsRequired": "None" }
        },
        "etag": "000046c4-0000-0000-0000-5b2198bf0000"
    })
}

/// `SignalRSharedPrivateLinkResources_Get.json`, `WebPubSubSharedPrivateLinkResources_Get.json`
/// (2024-03-01): flat `properties.{groupId, privateLinkResourceId, provisioningState, requestMessage,
/// status}`. A resource being created already says `status: Pending`; only `provisioningState:
/// Succeeded` makes it mean "waiting for approval".
fn shared_private_link(type_name: &str, m: &MpeFacts<'_>, phase: MpePhase) -> Value {
    let (provisioning, status) = match phase {
        MpePhase::Creating => ("Creating", "Pending"),
        MpePhase::Failed => ("Failed", "Disconnected"),
        MpePhase::AwaitingApproval => ("Succeeded", "Pending"),
        MpePhase::Approved => ("Succeeded", "Approved"),
        MpePhase::Rejected => ("Succeeded", "Rejected"),
        MpePhase::Disconnected => ("Succeeded", "Disconnected"),
    };
    json!({
        "properties": {
            "groupId": m.group_id,
            "privateLinkResourceId": m.target.as_str(),
            "provisioningState": provisioning,
            "requestMessage": m.request_message,
            "status": status
        },
        "id": m.id.as_str(),
        "name": m.id.name(),
        "type": type_name
    })
}
