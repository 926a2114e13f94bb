//! The `MpeDiscover` timer: the MPEs of sources that raise no ARM event (a data plane's: Synapse's, the
//! Databricks account API's, [`crate::providers::Provider::data_plane`]) are found by listing them, every
//! minute by default.
//!
//! A run is the sweep's walk ([`super::queued::walk_scopes`]) over those types alone: their parents
//! listed through ARM under the sweep scopes (Synapse workspaces) or named by a setting (Databricks'
//! NCCs), their MPEs on each data plane,
//! within `MPE_DISCOVER_MAX_CALLS` and `MPE_DISCOVER_BUDGET`, starting elsewhere each minute when cut
//! short. Each MPE not known to be approved gets a check through the same chain, policy, evidence,
//! audit and replay as every other source ([`crate::workitem::Origin::Sweep`]). What a run queued is
//! remembered ([`Discovered`]): an MPE is not queued again while its chain may still run
//! (`MPE_GIVE_UP_AFTER`), so one left Pending on purpose (a policy refusal, parked) is parked once per
//! give-up period, not once a minute.

use super::queued::{walk_scopes, Limits, Sweep};
use super::App;
use crate::providers::{self, Provider};
use crate::resource_id::{ListScope, ResourceId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The MPEs `MpeDiscover` queued a check of in this process, and when.
#[derive(Debug, Default)]
pub struct Discovered {
    queued: HashMap<String, DateTime<Utc>>,
}

impl Discovered {
    /// Whether to queue a check of `id` now: worth a check, and not queued within `chain_life` (the
    /// check it was given may still run). One no longer worth a check (approved, ...) is forgotten.
    pub fn wants(&mut self, id: &ResourceId, worth: bool, now: DateTime<Utc>, chain_life: Duration) -> bool {
        if !worth {
            self.queued.remove(&id.key());
            return false;
        }
        let life = chrono::Duration::from_std(chain_life).unwrap_or(chrono::Duration::MAX);
        self.queued.get(&id.key()).is_none_or(|at| now - *at >= life)
    }

    /// A check of `id` was queued at `now`.
    pub fn queued(&mut self, id: &ResourceId, now: DateTime<Utc>) {
        self.queued.insert(id.key(), now);
    }

    /// The complete list of `parent`'s MPEs shows `listed` (keys): those it held under `parent` and no
    /// longer listed are gone, and one created again under the name is new.
    pub fn listed(&mut self, parent: &ResourceId, listed: &[String]) {
        let prefix = format!("{}/", parent.key());
        self.queued.retain(|k, _| !k.starts_with(&prefix) || listed.contains(k));
    }

    /// How many MPEs it holds.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

/// The MPE types without ARM events the configuration turns on (`MPE_SYNAPSE`, `MPE_DATABRICKS`, `MPE_FABRIC`).
pub fn sources(app: &App) -> Vec<&'static dyn Provider> {
    let on = app.config.opted_in();
    providers::registry()
        .iter()
        .copied()
        .filter(|p| p.data_plane().is_some() && p.opt_in().is_none_or(|s| on.contains(&s)))
        .collect()
}

/// One discovery run over `scopes` (see the module), by `deadline`.
pub async fn discover(app: &App, scopes: &[ListScope], max_calls: u32, dry_run: bool, deadline: Instant) -> Sweep {
    let sources = sources(app);
    let limits = Limits { max_calls, dry_run, deadline, rotation_secs: 60 };
    walk_scopes(app, scopes, &sources, limits, &|_, _| {}, Some(&app.discovered)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> ResourceId {
        ResourceId::parse(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/ws/managedVirtualNetworks/default/managedPrivateEndpoints/{name}"
        ))
        .unwrap()
    }

    #[test]
    fn queued_once_per_chain_life_and_again_when_gone_from_the_list() {
        let t0: DateTime<Utc> = "2026-12-06T10:00:00Z".parse().unwrap();
        let life = Duration::from_secs(7200);
        let mut d = Discovered::default();
        assert!(d.wants(&id("a"), true, t0, life));
        d.queued(&id("a"), t0);
        assert!(!d.wants(&id("a"), true, t0 + chrono::Duration::minutes(1), life), "its chain may still run");
        assert!(d.wants(&id("a"), true, t0 + chrono::Duration::hours(2), life), "its chain has ended by now");
        assert!(!d.wants(&id("b"), false, t0, life), "not worth a check");
        // Listed without it: deleted; the next one of the name is new.
        let ws = id("a").parent().unwrap().parent().unwrap();
        d.listed(&ws, &[id("c").key()]);
        assert!(d.is_empty());
        d.queued(&id("a"), t0);
        d.listed(&ws, &[id("a").key()]);
        assert_eq!(d.len(), 1, "still listed: kept");
        // Approved since: forgotten.
        assert!(!d.wants(&id("a"), false, t0, life));
        assert!(d.is_empty());
    }
}
