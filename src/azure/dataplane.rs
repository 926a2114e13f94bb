//! Data planes that keep MPEs outside ARM ([`crate::providers::DataPlane`]: a Synapse workspace's):
//! where an MPE, or a parent's MPE list, is read, and the client that reads it.
//!
//! An MPE of such a service keeps an ARM-shaped id (`{top parent}/{collection}/{name}`); the top-level
//! parent's name picks the host (`MPE_SYNAPSE_ENDPOINT`, `{workspace}` replaced), and the rest of the id
//! is the path under it. The name must be a host label (`A-Za-z0-9-`, at most 63): the token for the
//! data plane's audience only ever goes to the configured endpoint.

use crate::arm::ArmClient;
use crate::config::Config;
use crate::providers::{self, DataPlane};
use crate::resource_id::ResourceId;

/// The data planes of the configuration, each with its client.
pub struct DataPlanes {
    planes: Vec<Plane>,
}

struct Plane {
    resource_type: &'static str,
    spec: DataPlane,
    endpoint: String,
    client: ArmClient,
}

/// Where one MPE, or one parent's MPE list, is read on its data plane.
pub struct Located<'a> {
    pub client: &'a ArmClient,
    /// The parent's endpoint (the placeholder replaced): a `nextLink` is followed only under it.
    pub origin: String,
    /// The parent's MPE list.
    pub list: String,
    /// The MPE's own URL (empty for a parent's list alone).
    pub item: String,
    /// The api-version of the data plane's calls.
    pub api_version: &'static str,
}

impl DataPlanes {
    /// One client per data plane the configuration names, sharing `arm`'s connections and token source.
    pub fn new(config: &Config, arm: &ArmClient) -> DataPlanes {
        let planes = config
            .data_planes
            .iter()
            .filter_map(|d| {
                let p = providers::registry().iter().find(|p| p.resource_type() == d.resource_type)?;
                Some(Plane {
                    resource_type: d.resource_type,
                    spec: p.data_plane()?,
                    endpoint: d.endpoint.clone(),
                    client: arm.for_data_plane(p.service(), d.audience.clone()),
                })
            })
            .collect();
        DataPlanes { planes }
    }

    fn plane(&self, resource_type: &str) -> Option<&Plane> {
        self.planes.iter().find(|p| p.resource_type.eq_ignore_ascii_case(resource_type))
    }

    /// Where the MPE `id` is read: `None` when its type is kept in ARM; an error when its parent's name
    /// cannot name a host.
    pub fn locate(&self, id: &ResourceId) -> Option<Result<Located<'_>, String>> {
        let plane = self.plane(&id.resource_type())?;
        let api_version = providers::for_id(id)?.api_version();
        Some((|| {
            let origin = plane.origin(id.name_at(0).unwrap_or_default())?;
            let types: Vec<String> = id.resource_type().split('/').skip(2).map(str::to_string).collect();
            let mut rel = String::new();
            for (depth, t) in types.iter().enumerate() {
                rel.push_str(&format!("/{t}/{}", id.name_at(depth + 1).unwrap_or_default()));
            }
            let item = format!("{origin}{rel}");
            let list = item.rsplit_once('/').map(|(l, _)| l.to_string()).unwrap_or_default();
            Ok(Located { client: &plane.client, origin, list, item, api_version })
        })())
    }

    /// Where the MPEs of the top-level parent `top` (a workspace) are listed, for the MPE type
    /// `resource_type`; `None` when that type is kept in ARM.
    pub fn parent_list(&self, resource_type: &str, top: &ResourceId) -> Option<Result<Located<'_>, String>> {
        let plane = self.plane(resource_type)?;
        let api_version =
            providers::registry().iter().find(|p| p.resource_type() == plane.resource_type)?.api_version();
        Some(plane.origin(top.name()).map(|origin| Located {
            client: &plane.client,
            list: format!("{origin}/{}", plane.spec.collection),
            origin,
            item: String::new(),
            api_version,
        }))
    }

    /// The id of the MPE called `name` in the list of the top-level parent `top`.
    pub fn listed_id(&self, resource_type: &str, top: &ResourceId, name: &str) -> Option<ResourceId> {
        let plane = self.plane(resource_type)?;
        ResourceId::parse(&format!("{top}/{}/{name}", plane.spec.collection))
            .ok()
            .filter(|id| id.is_type(plane.resource_type))
    }

    /// The data planes' calls so far (each retry counts).
    pub fn calls(&self) -> u64 {
        self.planes.iter().map(|p| p.client.calls()).sum()
    }
}

impl Plane {
    /// The endpoint of the parent called `name`.
    fn origin(&self, name: &str) -> Result<String, String> {
        let label_ok = (1..=63).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !label_ok {
            return Err(format!(
                "{}: the parent's name {} cannot name its data plane's host (letters, digits and '-', at most 63)",
                self.spec.endpoint_setting,
                crate::logsafe::q(name)
            ));
        }
        Ok(self.endpoint.replace(self.spec.placeholder, &name.to_ascii_lowercase()))
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
        let top = ResourceId::parse(MPE).unwrap().parent().unwrap().parent().unwrap();
        let list = local.parent_list(MPE_TYPE, &top).unwrap().unwrap();
        assert_eq!(list.list, "http://127.0.0.1:9/synapse/ws-1/managedVirtualNetworks/default/managedPrivateEndpoints");
        assert_eq!(local.listed_id(MPE_TYPE, &top, "pe2").unwrap().as_str(), MPE.replace("pe1", "pe2"));
    }

    const MPE_TYPE: &str = "Microsoft.Synapse/workspaces/managedVirtualNetworks/managedPrivateEndpoints";

    #[test]
    fn a_name_that_cannot_be_a_host_label_is_refused() {
        let dp = planes("https://{workspace}.dev.azuresynapse.net");
        for bad in ["evil.com_x", "a_b", "-x"] {
            let id = ResourceId::parse(&MPE.replace("WS-1", bad)).unwrap();
            assert!(dp.locate(&id).unwrap().is_err(), "{bad}");
        }
        let top = ResourceId::parse(&MPE.replace("WS-1", "a.b")).unwrap().parent().unwrap().parent().unwrap();
        assert!(dp.parent_list(MPE_TYPE, &top).unwrap().is_err());
    }
}
