//! The management group hierarchy: groups under groups (the tenant root group above all), each
//! subscription under one group. What `Management Groups - Get Descendants` lists
//! (azure-rest-api-specs, `specification/managementgroups/.../stable/2023-04-01/examples/GetDescendants.json`):
//! every group and subscription at any depth under a group, each entry
//! `{"name", "type", "id", "properties": {"displayName", "parent": {"id"}}}`, a group's type
//! `Microsoft.Management/managementGroups`, a subscription's `Microsoft.Management/managementGroups/subscriptions`
//! (as that example spells it) and its id `/subscriptions/{id}`. Pure state: no I/O, no clock.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The id prefix of a management group.
pub const GROUP_PREFIX: &str = "/providers/Microsoft.Management/managementGroups/";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HierarchyError {
    #[error("management group {0} already exists")]
    Duplicate(String),
    #[error("no management group {0}")]
    NoGroup(String),
    #[error("{0:?} is not a management group name (1 to 90 letters, digits, -, _, ., ( or ))")]
    BadName(String),
    #[error("moving {0} under {1} would put it under itself")]
    Cycle(String, String),
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    display: String,
    parent: Option<String>,
}

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    parent: String,
}

/// The groups and where each subscription sits.
#[derive(Debug, Clone, Default)]
pub struct Hierarchy {
    groups: BTreeMap<String, Group>,
    subscriptions: BTreeMap<String, Subscription>,
}

fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

impl Hierarchy {
    /// A group named `name` under `parent` (`None`: a root).
    pub fn add_group(&mut self, name: &str, parent: Option<&str>) -> Result<(), HierarchyError> {
        let ok = (1..=90).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
        if !ok {
            return Err(HierarchyError::BadName(name.to_string()));
        }
        if self.groups.contains_key(&key(name)) {
            return Err(HierarchyError::Duplicate(name.to_string()));
        }
        if let Some(p) = parent.filter(|p| !self.groups.contains_key(&key(p))) {
            return Err(HierarchyError::NoGroup(p.to_string()));
        }
        let group = Group { name: name.to_string(), display: format!("Group {name}"), parent: parent.map(key) };
        self.groups.insert(key(name), group);
        Ok(())
    }

    /// Put `subscription` under `group` (moving it from wherever it was).
    pub fn place_subscription(&mut self, subscription: &str, group: &str) -> Result<(), HierarchyError> {
        if !self.groups.contains_key(&key(group)) {
            return Err(HierarchyError::NoGroup(group.to_string()));
        }
        self.subscriptions.insert(key(subscription), Subscription { id: subscription.to_string(), parent: key(group) });
        Ok(())
    }

    /// Move `group` under `parent`.
    pub fn move_group(&mut self, group: &str, parent: &str) -> Result<(), HierarchyError> {
        for g in [group, parent] {
            if !self.groups.contains_key(&key(g)) {
                return Err(HierarchyError::NoGroup(g.to_string()));
            }
        }
        if key(group) == key(parent) || self.under(&key(group)).contains(&key(parent)) {
            return Err(HierarchyError::Cycle(group.to_string(), parent.to_string()));
        }
        if let Some(g) = self.groups.get_mut(&key(group)) {
            g.parent = Some(key(parent));
        }
        Ok(())
    }

    /// The groups at any depth under `group` (keys), in breadth-first order.
    fn under(&self, group: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([group.to_string()]);
        let mut frontier = vec![group.to_string()];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for (k, g) in &self.groups {
                if g.parent.as_ref().is_some_and(|p| frontier.contains(p)) && seen.insert(k.clone()) {
                    out.push(k.clone());
                    next.push(k.clone());
                }
            }
            frontier = next;
        }
        out
    }

    /// Every descendant of `group`, as the descendants list renders them: the groups (breadth first),
    /// then the subscriptions; `None` when there is no such group.
    pub fn descendants(&self, group: &str) -> Option<Vec<Value>> {
        let top = self.groups.get(&key(group))?;
        let under = self.under(&key(group));
        let parent_id = |p: &str| {
            let name = self.groups.get(p).map_or(p, |g| g.name.as_str());
            json!({ "id": format!("{GROUP_PREFIX}{name}") })
        };
        let mut out = Vec::new();
        for k in &under {
            let Some(g) = self.groups.get(k) else { continue };
            out.push(json!({
                "name": g.name,
                "type": "Microsoft.Management/managementGroups",
                "id": format!("{GROUP_PREFIX}{}", g.name),
                "properties": {
                    "displayName": g.display,
                    "parent": parent_id(g.parent.as_deref().unwrap_or_default()),
                },
            }));
        }
        let mut holders: BTreeSet<&str> = under.iter().map(String::as_str).collect();
        holders.insert(&top.name);
        let top_key = key(&top.name);
        for s in self.subscriptions.values() {
            if s.parent == top_key || holders.contains(s.parent.as_str()) {
                out.push(json!({
                    "name": s.id,
                    "type": "Microsoft.Management/managementGroups/subscriptions",
                    "id": format!("/subscriptions/{}", s.id),
                    "properties": {
                        "displayName": format!("Subscription {}", s.id),
                        "parent": parent_id(&s.parent),
                    },
                }));
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_at_any_depth_and_nothing_else() {
        let mut h = Hierarchy::default();
        h.add_group("root", None).unwrap();
        h.add_group("Platform", Some("root")).unwrap();
        h.add_group("landing", Some("platform")).unwrap();
        h.add_group("sandbox", Some("root")).unwrap();
        h.place_subscription("00000000-0000-0000-0000-0000000000a1", "platform").unwrap();
        h.place_subscription("00000000-0000-0000-0000-0000000000a2", "landing").unwrap();
        h.place_subscription("00000000-0000-0000-0000-0000000000b1", "sandbox").unwrap();
        fn ids_in(h: &Hierarchy, g: &str) -> Vec<String> {
            h.descendants(g).unwrap().iter().map(|v| v["id"].as_str().unwrap_or_default().to_string()).collect()
        }
        assert_eq!(
            ids_in(&h, "PLATFORM"),
            [
                "/providers/Microsoft.Management/managementGroups/landing",
                "/subscriptions/00000000-0000-0000-0000-0000000000a1",
                "/subscriptions/00000000-0000-0000-0000-0000000000a2",
            ]
        );
        assert_eq!(ids_in(&h, "root").len(), 6);
        let d = h.descendants("landing").unwrap();
        assert_eq!(d[0]["properties"]["parent"]["id"], "/providers/Microsoft.Management/managementGroups/landing");
        assert_eq!(d[0]["type"], "Microsoft.Management/managementGroups/subscriptions");
        assert!(h.descendants("nope").is_none());
        // a subscription moved out leaves the group
        h.place_subscription("00000000-0000-0000-0000-0000000000a2", "sandbox").unwrap();
        assert_eq!(ids_in(&h, "platform").len(), 2);
        assert_eq!(h.add_group("x", Some("nope")), Err(HierarchyError::NoGroup("nope".into())));
        assert!(h.add_group("a b", None).is_err());
        assert!(h.move_group("platform", "landing").is_err(), "no cycle");
        h.move_group("landing", "sandbox").unwrap();
        assert_eq!(ids_in(&h, "platform").len(), 1);
    }
}
