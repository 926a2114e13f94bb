//! Data planes that keep MPEs outside ARM ([`crate::providers::DataPlane`]: a Synapse workspace's, the
//! Databricks account API): where an MPE, or a parent's MPE list, is read, and the client that reads it.
//!
//! An MPE of such a service keeps an ARM-shaped id; its provider says where that id is on the data plane
//! ([`crate::providers::Provider::data_plane_paths`]). Where the host is per parent (a Synapse workspace's),
//! the parent's name must be a host label (`A-Za-z0-9-`, at most 63): the token for the data plane's
//! audience only ever goes to the configured endpoint.

use crate::arm::ArmClient;
use crate::config::Config;
use crate::providers::{self, DataPlane, ListShape, Provider};
use crate::resource_id::ResourceId;

/// The data planes of the configuration, each with its client.
pub struct DataPlanes {
    planes: Vec<Plane>,
}

struct Plane {
    provider: &'static dyn Provider,
    spec: DataPlane,
    endpoint: String,
    client: ArmClient,
}

/// Where one MPE, or one parent's MPE list, is read on its data plane.
pub struct Located<'a> {
    pub client: &'a ArmClient,
    /// The parent's endpoint (a placeholder filled): a `nextLink` is followed only under it.
    pub origin: String,
    /// The MPE's parent's list.
    pub list: String,
    /// The MPE's own URL (empty for a parent's list alone).
    pub item: String,
    /// The api-version the calls carry (empty: none).
    pub api_version: &'static str,
    pub lists: ListShape,
}

impl DataPlanes {
    /// One client per data plane the configuration names, sharing `arm`'s connections and token source.
    pub fn new(config: &Config, arm: &ArmClient) -> DataPlanes {
        let planes = config
            .data_planes
            .iter()
            .filter_map(|d| {
                let provider = *providers::registry().iter().find(|p| p.resource_type() == d.resource_type)?;
                Some(Plane {
                    provider,
                    spec: provider.data_plane()?,
                    endpoint: d.endpoint.clone(),
                    client: arm.for_data_plane(provider.service(), d.audience.clone()),
                })
            })
            .collect();
        DataPlanes { planes }
    }

    fn plane(&self, resource_type: &str) -> Option<&Plane> {
        self.planes.iter().find(|p| p.provider.resource_type().eq_ignore_ascii_case(resource_type))
    }

    /// Where the MPE `id` is read: `None` when its type is kept in ARM; an error when the id names no
    /// place on its data plane.
    pub fn locate(&self, id: &ResourceId) -> Option<Result<Located<'_>, String>> {
        let plane = self.plane(&id.resource_type())?;
        Some(plane.at(id))
    }

    /// Where the MPEs of `parent` (an MPE's parent: a Synapse workspace's network, a Databricks NCC) of the
    /// type `resource_type` are listed; `None` when that type is kept in ARM.
    pub fn parent_list(&self, resource_type: &str, parent: &ResourceId) -> Option<Result<Located<'_>, String>> {
        let plane = self.plane(resource_type)?;
        // The list is where any MPE of the parent lists: ask for a child's place.
        let leaf = resource_type.rsplit('/').next().unwrap_or_default();
        let child = match ResourceId::parse(&format!("{parent}/{leaf}/x")) {
            Ok(c) if c.is_type(resource_type) => c,
            _ => return Some(Err(format!("{parent} is not a parent of {resource_type}"))),
        };
        Some(plane.at(&child).map(|l| Located { item: String::new(), ..l }))
    }

    /// The id of an item of `parent`'s list, as the provider reads it.
    pub fn listed_id(&self, resource_type: &str, parent: &ResourceId, item: &serde_json::Value) -> Option<ResourceId> {
        self.plane(resource_type)?.provider.data_plane_item(parent, item).filter(|id| id.is_type(resource_type))
    }
}

impl Plane {
    fn at(&self, id: &ResourceId) -> Result<Located<'_>, String> {
        let paths = self
            .provider
            .data_plane_paths(id)
            .ok_or_else(|| format!("{id} names no place on {}'s data plane", self.provider.service()))?;
        let origin = match (&paths.host, self.spec.parents) {
            (Some(host), providers::Parents::Arm { placeholder, .. }) => {
                self.endpoint.replace(placeholder, &host_label(self.spec.endpoint_setting, host)?)
            }
            _ => self.endpoint.clone(),
        };
        let api_version = if self.spec.api_version_query { self.provider.api_version() } else { "" };
        let item = if paths.item.is_empty() { String::new() } else { format!("{origin}{}", paths.item) };
        Ok(Located {
            client: &self.client,
            list: format!("{origin}{}", paths.list),
            item,
            origin,
            api_version,
            lists: self.spec.lists,
        })
    }
}

/// `name` as a host label, lower-cased, or why it cannot be one.
fn host_label(setting: &str, name: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!(
            "{setting}: the parent's name {} cannot name its data plane's host (letters, digits and '-', at most 63)",
            crate::logsafe::q(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct NoTokens;
    #[async_trait::async_trait]
    impl crate::http::TokenSource for NoTokens {
        async fn token(&self, _: &str) -> Result<String, crate::http::AuthError> {
            Ok(String::new())
        }
    }

    fn planes(endpoint: &str) -> DataPlanes {
        let config = Config::from_lookup(|k| match k {
            "ServiceBusConnection__fullyQualifiedNamespace" => Some("ns.servicebus.windows.net".into()),
            "MPE_SYNAPSE_ENDPOINT" => Some(endpoint.into()),
            _ => None,
        })
        .unwrap();
        let arm = ArmClient::new(
            &config.arm_endpoint,
            config.arm_audience.clone(),
            Arc::new(NoTokens),
            Arc::new(crate::clock::SystemClock),
        )
        .unwrap();
        DataPlanes::new(&config, &arm)
    }

    const MPE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/WS-1/managedVirtualNetworks/default/managedPrivateEndpoints/pe1";
    const MPE_TYPE: &str = "Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints";

    #[test]
    fn an_mpe_is_read_on_its_workspace_host() {
        let dp = planes("https://{workspace}.dev.azuresynapse.net");
        let at = dp.locate(&ResourceId::parse(MPE).unwrap()).unwrap().unwrap();
        assert_eq!(at.origin, "https://ws-1.dev.azuresynapse.net");
        assert_eq!(
            at.item,
            "https://ws-1.dev.azuresynapse.net/managedVirtualNetworks/default/managedPrivateEndpoints/pe1"
        );
        assert_eq!(at.list, "https://ws-1.dev.azuresynapse.net/managedVirtualNetworks/default/managedPrivateEndpoints");
        assert_eq!(at.api_version, "2020-12-01");
        let kusto = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m";
        assert!(dp.locate(&ResourceId::parse(kusto).unwrap()).is_none(), "ARM's types are not located here");

        let local = planes("http://127.0.0.1:9/synapse/{workspace}");
        let parent = ResourceId::parse(MPE).unwrap().parent().unwrap();
        let list = local.parent_list(MPE_TYPE, &parent).unwrap().unwrap();
        assert_eq!(list.list, "http://127.0.0.1:9/synapse/ws-1/managedVirtualNetworks/default/managedPrivateEndpoints");
        assert_eq!(list.item, "");
        let item = serde_json::json!({"name": "pe2"});
        assert_eq!(local.listed_id(MPE_TYPE, &parent, &item).unwrap().as_str(), MPE.replace("pe1", "pe2"));
        let other = serde_json::json!({"name": "pe2", "id": MPE.replace("WS-1", "ws-2")});
        assert!(local.listed_id(MPE_TYPE, &parent, &other).is_none(), "an item naming another workspace's MPE");
    }

    #[test]
    fn a_name_that_cannot_be_a_host_label_is_refused() {
        let dp = planes("https://{workspace}.dev.azuresynapse.net");
        for bad in ["evil.com_x", "a_b", "-x"] {
            let id = ResourceId::parse(&MPE.replace("WS-1", bad)).unwrap();
            assert!(dp.locate(&id).unwrap().is_err(), "{bad}");
        }
        let parent = ResourceId::parse(&MPE.replace("WS-1", "a.b")).unwrap().parent().unwrap();
        assert!(dp.parent_list(MPE_TYPE, &parent).unwrap().is_err());
    }
}
