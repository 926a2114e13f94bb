//! Stream Analytics cluster private endpoints (`Microsoft.StreamAnalytics/clusters/privateEndpoints`).
//!
//! Status lives in `manualPrivateLinkServiceConnections[0].properties.privateLinkServiceConnectionState.status`,
//! a free string. Live values: `PendingCreation` → `PendingCustomerApproval` → `SetUpComplete`; the spec
//! example says `Pending`. There is no provisioningState.

use super::*;

pub struct StreamAnalytics;

fn status_of(raw: &str) -> MpeStatus {
    match raw.to_ascii_lowercase().as_str() {
        "" => MpeStatus::Provisioning("no connection status yet".into()),
        "pendingcreation" => MpeStatus::Provisioning(raw.to_string()),
        "pendingcustomerapproval" | "pending" => MpeStatus::AwaitingApproval,
        "setupcomplete" | "approved" => MpeStatus::Approved,
        "rejected" => MpeStatus::Rejected,
        "disconnected" => MpeStatus::Disconnected,
        "failed" => MpeStatus::Failed(raw.to_string()),
        _ => MpeStatus::Unknown(format!("status {raw}")),
    }
}

const SERVICE: &str = "Stream Analytics";

impl Provider for StreamAnalytics {
    fn service(&self) -> &'static str {
        SERVICE
    }
    fn resource_type(&self) -> &'static str {
        "Microsoft.StreamAnalytics/clusters/privateEndpoints"
    }
    fn api_version(&self) -> &'static str {
        "2020-03-01"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "Microsoft.StreamAnalytics/2020-03-01/PrivateEndpoint_Get.json",
            "Microsoft.StreamAnalytics/2020-03-01/PrivateEndpoint_Create.json",
            "Microsoft.StreamAnalytics/2020-03-01-preview/PrivateEndpoint_ListByCluster.json",
        ]
    }
    fn ready(&self) -> &'static str {
        "connection status `PendingCustomerApproval` (or `Pending`)"
    }
    fn confidence(&self) -> Confidence {
        Confidence::Verified
    }
    /// Towards an IoT Hub, ready after more than 30 s, sometimes more than a minute (the seed article):
    /// sparse checks for the first 25 s, dense ones to 120 s. Towards anything else (Storage: under
    /// 5 s) the schedule as configured, dense from the start.
    fn ready_window(&self, target: &ResourceId) -> Option<ReadyWindow> {
        target.is_type("Microsoft.Devices/IotHubs").then_some(ReadyWindow::seconds(25, 120))
    }

    fn parse(&self, id: &ResourceId, body: &Value) -> Result<MpeView, ProviderError> {
        let conn = body
            .pointer("/properties/manualPrivateLinkServiceConnections/0/properties")
            .ok_or(ProviderError::Missing { service: SERVICE, field: "manualPrivateLinkServiceConnections" })?;
        let target = target_at(SERVICE, "privateLinkServiceId", str_at(conn, &["privateLinkServiceId"]))?;
        let (raw, status) = match status_at(conn, &["privateLinkServiceConnectionState", "status"]) {
            Ok(raw) => (raw.to_string(), status_of(raw)),
            Err(bad) => (bad.clone(), MpeStatus::Unknown(format!("status {bad} is not a string"))),
        };
        Ok(MpeView {
            id: id.clone(),
            target,
            group_id: conn.get("groupIds").and_then(|g| g.get(0)).and_then(Value::as_str).map(str::to_string),
            request_message: nonempty(str_at(conn, &["requestMessage"])),
            status,
            raw_status: format!("privateLinkServiceConnectionState.status={raw:?}"),
            created_at: system_created_at(body),
            endpoint_id: None,
            endpoint_name: None,
        })
    }
}
