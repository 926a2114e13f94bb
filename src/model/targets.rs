//! Target resource types whose private endpoint connections we can read and approve.
//!
//! From the Azure CLI's `register_providers()` table
//! (`azure-cli/.../private_link_resource_and_endpoint_connections/custom.py`): the api-version for the
//! PEC operations and whether the type has a `privateEndpointConnections` collection (`list`) or lists its
//! connections in the parent resource's GET (`properties.privateEndpointConnections`). Kusto and newer
//! Key Vault versions come from the REST API examples in `arm-examples/`. Azure Monitor workspaces
//! (`Microsoft.Monitor/accounts`, Managed Grafana's usual target) from the recorded azure-cli-extensions
//! session `amg/.../test_amg_private_endpoint.yaml`, whose approval PUT used 2021-06-03-preview.

use crate::resource_id::ResourceId;

#[derive(Debug, Clone, Copy)]
pub struct TargetType {
    pub resource_type: &'static str,
    pub api_version: &'static str,
    /// True: `GET {target}/privateEndpointConnections`; false: `GET {target}` and read
    /// `properties.privateEndpointConnections`.
    pub list: bool,
}

const fn t(resource_type: &'static str, api_version: &'static str, list: bool) -> TargetType {
    TargetType { resource_type, api_version, list }
}

pub const TARGETS: &[TargetType] = &[
    t("Microsoft.AppConfiguration/configurationStores", "2020-06-01", true),
    t("Microsoft.Automation/automationAccounts", "2020-01-13-preview", true),
    t("Microsoft.Batch/batchAccounts", "2020-03-01", true),
    t("Microsoft.BotService/botServices", "2021-03-01", true),
    t("Microsoft.CognitiveServices/accounts", "2021-04-30", true),
    t("Microsoft.Compute/diskAccesses", "2020-09-30", true),
    t("Microsoft.ContainerRegistry/registries", "2019-12-01-preview", true),
    t("Microsoft.DBforMariaDB/servers", "2018-06-01", false),
    t("Microsoft.DBforMySQL/servers", "2018-06-01", false),
    t("Microsoft.DBforPostgreSQL/servers", "2018-06-01", false),
    t("Microsoft.Devices/IotHubs", "2020-03-01", true),
    t("Microsoft.DigitalTwins/digitalTwinsInstances", "2020-12-01", true),
    t("Microsoft.DocumentDB/databaseAccounts", "2019-08-01-preview", false),
    t("Microsoft.EventGrid/domains", "2020-04-01-preview", true),
    t("Microsoft.EventGrid/topics", "2020-04-01-preview", true),
    t("Microsoft.EventHub/namespaces", "2021-06-01-preview", true),
    t("Microsoft.HealthcareApis/services", "2020-03-30", true),
    t("Microsoft.KeyVault/managedHSMs", "2021-04-01-preview", true),
    t("Microsoft.KeyVault/vaults", "2019-09-01", false),
    t("Microsoft.Kusto/clusters", "2024-04-13", true),
    t("Microsoft.Media/mediaservices", "2020-05-01", true),
    t("Microsoft.Monitor/accounts", "2021-06-03-preview", true),
    t("Microsoft.Network/applicationGateways", "2020-05-01", true),
    t("Microsoft.PowerBI/privateLinkServicesForPowerBI", "2020-06-01", false),
    t("Microsoft.Purview/accounts", "2021-07-01", true),
    t("Microsoft.Search/searchServices", "2020-08-01", true),
    t("Microsoft.ServiceBus/namespaces", "2021-06-01-preview", true),
    t("Microsoft.SignalRService/signalR", "2020-05-01", false),
    t("Microsoft.SignalRService/webPubSub", "2021-10-01", false),
    t("Microsoft.Sql/servers", "2018-06-01-preview", true),
    t("Microsoft.Storage/storageAccounts", "2019-06-01", true),
    t("Microsoft.StorageSync/storageSyncServices", "2020-03-01", true),
    t("Microsoft.Synapse/workspaces", "2019-06-01-preview", true),
    t("Microsoft.Web/hostingEnvironments", "2020-10-01", true),
    t("Microsoft.Web/sites", "2019-08-01", false),
    t("microsoft.insights/privateLinkScopes", "2019-10-17-preview", true),
];

/// The target type of a resource id (case-insensitive), if supported.
pub fn lookup(target: &ResourceId) -> Option<&'static TargetType> {
    TARGETS.iter().find(|t| target.is_type(t.resource_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        let id = ResourceId::parse("/subscriptions/s/resourcegroups/rg/providers/microsoft.devices/IOTHUBS/h").unwrap();
        assert_eq!(lookup(&id).unwrap().resource_type, "Microsoft.Devices/IotHubs");
        let nested =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/a/slots/b").unwrap();
        assert!(lookup(&nested).is_none());
    }
}
