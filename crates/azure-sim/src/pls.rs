//! Private Link Services, provider side (`Microsoft.Network/privateLinkServices`): each service, its
//! tags, and the connections consumers' private endpoints make to it from any subscription (in any
//! tenant). Pure data over a given `now`; no I/O, no clock.
//!
//! Written from Azure's Network examples (`PrivateLinkServiceListPrivateEndpointConnection.json`,
//! `PrivateLinkServiceGetPrivateEndpointConnection.json`, `PrivateLinkServiceUpdatePrivateEndpointConnection.json`,
//! 2025-05/07/09-01) and the PLS definition of the Network specification: a connection is
//! `{name, id, type, etag, properties: {provisioningState, privateEndpoint: {id},
//! privateLinkServiceConnectionState: {status, description, actionsRequired}, linkIdentifier,
//! privateEndpointLocation}}`, named `{private endpoint name}.{guid}` as a recorded session shows. The
//! provider sets a connection's state with a PUT of it (Approved or Rejected, with a description),
//! which answers 200 with `provisioningState: Updating` while the change applies (as recorded), then
//! reads Succeeded. The consumer deleting its private endpoint leaves the connection Disconnected.

use crate::id::ResourceId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The resource type of a Private Link Service.
pub const PLS_TYPE: &str = "Microsoft.Network/privateLinkServices";
/// The type of a PLS's connections, as its bodies spell it.
pub const CONNECTION_TYPE: &str = "Microsoft.Network/privateLinkServices/privateEndpointConnections";
/// Where the simulated services and their consumers' endpoints are.
pub const LOCATION: &str = "westeurope";

/// A connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConnectionStatus {
    Pending,
    Approved,
    Rejected,
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "Pending",
            ConnectionStatus::Approved => "Approved",
            ConnectionStatus::Rejected => "Rejected",
            ConnectionStatus::Disconnected => "Disconnected",
        }
    }
    /// The status a PUT asks for (case-insensitive), if the provider may set it.
    pub fn settable(s: &str) -> Option<ConnectionStatus> {
        [ConnectionStatus::Approved, ConnectionStatus::Rejected]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

/// A connection as the PLS shows it at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlsConnection {
    pub name: String,
    /// The consumer's private endpoint id, exactly as the consumer's side gave it.
    pub endpoint_id: String,
    pub status: ConnectionStatus,
    pub description: String,
    /// True while the provider's last change still applies (`provisioningState: Updating`).
    pub updating: bool,
    pub etag: String,
    pub link_identifier: String,
    /// Who last set the state (`None`: nobody yet).
    pub changed_by: Option<String>,
    /// How many times the provider set the state.
    pub puts: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlsError {
    #[error("{0} is not a top-level {PLS_TYPE} id")]
    NotPls(String),
    #[error("no private link service {0}")]
    NoPls(String),
    #[error("private endpoint connection '{0}' was not found")]
    NoConnection(String),
    #[error("private endpoint connection '{name}' is {from} and cannot be set to {to}")]
    NotAllowed { name: String, from: &'static str, to: &'static str },
    #[error("the ETag {given} does not match private endpoint connection '{name}' any more")]
    EtagMismatch { name: String, given: String },
}

#[derive(Debug, Clone)]
struct ConnRec {
    name: String,
    endpoint_id: String,
    link_identifier: String,
    status: ConnectionStatus,
    description: String,
    /// Bumped by every change: the ETag's version.
    version: u64,
    updating_until: Option<DateTime<Utc>>,
    changed_by: Option<String>,
    puts: u32,
}

impl ConnRec {
    fn snapshot(&self, now: DateTime<Utc>) -> PlsConnection {
        PlsConnection {
            name: self.name.clone(),
            endpoint_id: self.endpoint_id.clone(),
            status: self.status,
            description: self.description.clone(),
            updating: self.updating_until.is_some_and(|u| now < u),
            etag: format!("W/\"{:016x}-{}\"", fnv(&self.name.to_ascii_lowercase()), self.version),
            link_identifier: self.link_identifier.clone(),
            changed_by: self.changed_by.clone(),
            puts: self.puts,
        }
    }
}

/// FNV-1a, for stable ETags and link identifiers.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Debug)]
struct PlsRec {
    id: ResourceId,
    tags: BTreeMap<String, String>,
    conns: Vec<ConnRec>,
}

/// Every simulated Private Link Service.
#[derive(Debug, Default)]
pub struct PlsBook {
    services: BTreeMap<String, PlsRec>,
}

impl PlsBook {
    /// Add a PLS (nothing happens when it exists).
    pub fn add(&mut self, id: &ResourceId) -> Result<(), PlsError> {
        if id.parent().is_some() || !id.is_type(PLS_TYPE) {
            return Err(PlsError::NotPls(id.to_string()));
        }
        self.services.entry(id.key()).or_insert_with(|| PlsRec {
            id: id.clone(),
            tags: BTreeMap::new(),
            conns: Vec::new(),
        });
        Ok(())
    }

    fn get(&self, id: &ResourceId) -> Result<&PlsRec, PlsError> {
        self.services.get(&id.key()).ok_or_else(|| PlsError::NoPls(id.to_string()))
    }
    fn get_mut(&mut self, id: &ResourceId) -> Result<&mut PlsRec, PlsError> {
        self.services.get_mut(&id.key()).ok_or_else(|| PlsError::NoPls(id.to_string()))
    }

    /// Whether `id` is a PLS here; its id as added.
    pub fn find(&self, id: &ResourceId) -> Option<ResourceId> {
        self.services.get(&id.key()).map(|p| p.id.clone())
    }

    /// The PLSs of a subscription, or of one of its resource groups (case-insensitive), in key order.
    pub fn ids_in(&self, subscription: &str, resource_group: Option<&str>) -> Vec<ResourceId> {
        let prefix = match resource_group {
            None => format!("/subscriptions/{subscription}/").to_ascii_lowercase(),
            Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/").to_ascii_lowercase(),
        };
        self.services.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, p)| p.id.clone()).collect()
    }

    pub fn tags(&self, id: &ResourceId) -> Option<&BTreeMap<String, String>> {
        self.services.get(&id.key()).map(|p| &p.tags)
    }

    pub fn set_tag(&mut self, id: &ResourceId, name: &str, value: &str) -> Result<(), PlsError> {
        self.get_mut(id)?.tags.insert(name.to_string(), value.to_string());
        Ok(())
    }

    /// A consumer's private endpoint `endpoint_id` (any text: a consumer's side is not ours to check)
    /// asks to connect with the request message `description`: a Pending connection. Returns its name.
    pub fn connect(&mut self, pls: &ResourceId, endpoint_id: &str, description: &str) -> Result<String, PlsError> {
        let leaf = endpoint_id.rsplit('/').next().unwrap_or_default();
        let leaf: String =
            leaf.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).take(64).collect();
        let name = format!("{}.{}", if leaf.is_empty() { "pe" } else { &leaf }, uuid::Uuid::new_v4());
        let link_identifier = (fnv(&name) % 1_000_000_000).to_string();
        self.get_mut(pls)?.conns.push(ConnRec {
            name: name.clone(),
            endpoint_id: endpoint_id.to_string(),
            link_identifier,
            status: ConnectionStatus::Pending,
            description: description.to_string(),
            version: 1,
            updating_until: None,
            changed_by: None,
            puts: 0,
        });
        Ok(name)
    }

    /// The PLS's connections at `now`, in the order they came.
    pub fn connections(&self, pls: &ResourceId, now: DateTime<Utc>) -> Result<Vec<PlsConnection>, PlsError> {
        Ok(self.get(pls)?.conns.iter().map(|c| c.snapshot(now)).collect())
    }

    /// One connection by name (case-insensitive).
    pub fn connection(&self, pls: &ResourceId, name: &str, now: DateTime<Utc>) -> Result<PlsConnection, PlsError> {
        let p = self.get(pls)?;
        p.conns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.snapshot(now))
            .ok_or_else(|| PlsError::NoConnection(name.to_string()))
    }

    /// The provider sets a connection's state (`Approved` or `Rejected`) and description, as `by`,
    /// honouring `If-Match`; the change applies for `applying`. A connection Rejected or Disconnected
    /// stays so; setting the state it has is accepted (the description changes).
    #[allow(clippy::too_many_arguments)]
    pub fn set_state(
        &mut self,
        pls: &ResourceId,
        name: &str,
        status: ConnectionStatus,
        description: &str,
        by: &str,
        if_match: Option<&str>,
        now: DateTime<Utc>,
        applying: Duration,
    ) -> Result<PlsConnection, PlsError> {
        let p = self.get_mut(pls)?;
        let c = p
            .conns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| PlsError::NoConnection(name.to_string()))?;
        if let Some(given) = if_match.filter(|m| *m != "*") {
            if given != c.snapshot(now).etag {
                return Err(PlsError::EtagMismatch { name: c.name.clone(), given: given.to_string() });
            }
        }
        let allowed = match (c.status, status) {
            (ConnectionStatus::Disconnected, _) => false,
            (ConnectionStatus::Rejected, to) => to == ConnectionStatus::Rejected,
            _ => true,
        };
        if !allowed {
            return Err(PlsError::NotAllowed { name: c.name.clone(), from: c.status.as_str(), to: status.as_str() });
        }
        c.status = status;
        c.description = description.to_string();
        c.version += 1;
        c.puts += 1;
        c.changed_by = Some(by.to_string());
        c.updating_until = chrono::Duration::from_std(applying).ok().and_then(|d| now.checked_add_signed(d));
        Ok(c.snapshot(now))
    }

    /// The consumer deletes its private endpoint: the connection reads Disconnected.
    pub fn disconnect(&mut self, pls: &ResourceId, name: &str) -> Result<(), PlsError> {
        let c = self
            .get_mut(pls)?
            .conns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| PlsError::NoConnection(name.to_string()))?;
        c.status = ConnectionStatus::Disconnected;
        c.description = "The private endpoint was deleted".into();
        c.version += 1;
        Ok(())
    }

    /// The provider deletes a connection: it is no longer listed.
    pub fn remove(&mut self, pls: &ResourceId, name: &str) -> Result<(), PlsError> {
        let p = self.get_mut(pls)?;
        let before = p.conns.len();
        p.conns.retain(|c| !c.name.eq_ignore_ascii_case(name));
        if p.conns.len() == before {
            return Err(PlsError::NoConnection(name.to_string()));
        }
        Ok(())
    }

    /// The PLS's body (`PrivateLinkServices_Get`, and each item of its lists) at `now`.
    pub fn pls_json(&self, pls: &ResourceId, now: DateTime<Utc>) -> Result<Value, PlsError> {
        let p = self.get(pls)?;
        let conns: Vec<Value> = p.conns.iter().map(|c| connection_json(&p.id, &c.snapshot(now))).collect();
        Ok(json!({
            "id": p.id.as_str(),
            "name": p.id.name(),
            "type": PLS_TYPE,
            "location": LOCATION,
            "etag": format!("W/\"{:016x}\"", fnv(&p.id.key())),
            "tags": p.tags,
            "properties": {
                "provisioningState": "Succeeded",
                "alias": format!("{}.{:08x}.{LOCATION}.azure.privatelinkservice", p.id.name(), fnv(&p.id.key()) as u32),
                "visibility": { "subscriptions": [] },
                "autoApproval": { "subscriptions": [] },
                "fqdns": [],
                "enableProxyProtocol": false,
                "privateEndpointConnections": conns,
            },
        }))
    }
}

/// One connection's body, as the list, the GET and the PUT answer it.
pub fn connection_json(pls: &ResourceId, c: &PlsConnection) -> Value {
    json!({
        "name": c.name,
        "id": format!("{}/privateEndpointConnections/{}", pls.as_str(), c.name),
        "type": CONNECTION_TYPE,
        "etag": c.etag,
        "properties": {
            "provisioningState": if c.updating { "Updating" } else { "Succeeded" },
            "privateEndpoint": { "id": c.endpoint_id },
            "privateLinkServiceConnectionState": {
                "status": c.status.as_str(),
                "description": c.description,
                "actionsRequired": "None",
            },
            "linkIdentifier": c.link_identifier,
            "privateEndpointLocation": LOCATION,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }
    fn pls() -> ResourceId {
        ResourceId::parse("/subscriptions/p/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/svc")
            .unwrap()
    }

    #[test]
    fn a_consumer_connects_pending_and_the_provider_decides() {
        let mut b = PlsBook::default();
        b.add(&pls()).unwrap();
        let pe = "/subscriptions/c/resourceGroups/crg/providers/Microsoft.Network/privateEndpoints/pe1";
        let name = b.connect(&pls(), pe, "CHG0000001 please").unwrap();
        assert!(name.starts_with("pe1."), "{name}");
        let c = b.connection(&pls(), &name.to_uppercase(), t0()).unwrap();
        assert_eq!(
            (c.status, c.description.as_str(), c.updating),
            (ConnectionStatus::Pending, "CHG0000001 please", false)
        );
        let etag = c.etag.clone();
        let wrong =
            b.set_state(&pls(), &name, ConnectionStatus::Approved, "ok", "mi", Some("W/\"x\""), t0(), Duration::ZERO);
        assert!(matches!(wrong, Err(PlsError::EtagMismatch { .. })));
        let after = b
            .set_state(&pls(), &name, ConnectionStatus::Approved, "ok", "mi", Some(&etag), t0(), Duration::from_secs(3))
            .unwrap();
        assert!(after.updating && after.status == ConnectionStatus::Approved && after.etag != etag);
        assert!(!b.connection(&pls(), &name, t0() + chrono::Duration::seconds(3)).unwrap().updating);
        let v = connection_json(&pls(), &after);
        assert_eq!(v["properties"]["provisioningState"], "Updating");
        assert_eq!(v["properties"]["privateEndpoint"]["id"], pe);
        // Rejected stays rejected; a deleted endpoint stays disconnected.
        b.set_state(&pls(), &name, ConnectionStatus::Rejected, "no", "owner", None, t0(), Duration::ZERO).unwrap();
        assert!(matches!(
            b.set_state(&pls(), &name, ConnectionStatus::Approved, "x", "mi", None, t0(), Duration::ZERO),
            Err(PlsError::NotAllowed { from: "Rejected", .. })
        ));
        b.disconnect(&pls(), &name).unwrap();
        assert_eq!(b.connection(&pls(), &name, t0()).unwrap().status, ConnectionStatus::Disconnected);
        b.remove(&pls(), &name).unwrap();
        assert!(b.connections(&pls(), t0()).unwrap().is_empty());
        assert_eq!(ConnectionStatus::settable("pending"), None);
        assert_eq!(ConnectionStatus::settable("REJECTED"), Some(ConnectionStatus::Rejected));
    }

    #[test]
    fn services_are_listed_by_scope_and_only_plss_are_added() {
        let mut b = PlsBook::default();
        b.add(&pls()).unwrap();
        let other =
            ResourceId::parse("/subscriptions/p/resourceGroups/rg2/providers/Microsoft.Network/privateLinkServices/x")
                .unwrap();
        b.add(&other).unwrap();
        assert_eq!(b.ids_in("P", None).len(), 2);
        assert_eq!(b.ids_in("p", Some("RG")), vec![pls()]);
        assert!(b.ids_in("q", None).is_empty());
        let storage =
            ResourceId::parse("/subscriptions/p/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a")
                .unwrap();
        assert!(matches!(b.add(&storage), Err(PlsError::NotPls(_))));
        // A hostile endpoint id is kept as given; the connection's name stays routable.
        let name = b.connect(&pls(), "x\n/../\u{1b}[2J", "m").unwrap();
        assert!(ResourceId::parse(&format!("{}/privateEndpointConnections/{name}", pls())).is_ok(), "{name}");
        assert_eq!(b.connection(&pls(), &name, t0()).unwrap().endpoint_id, "x\n/../\u{1b}[2J");
        let body = b.pls_json(&pls(), t0()).unwrap();
        assert_eq!(body["properties"]["privateEndpointConnections"].as_array().map(Vec::len), Some(1));
    }
}
