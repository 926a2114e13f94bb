//! The management groups `MPE_ALLOW` names, resolved through ARM into the subscriptions under them and
//! cached for the process. The policy (`core/policy.rs`) decides on what this hands it ([`Groups`]).
//!
//! - Read: every page of the group's descendants ([`crate::hierarchy`]), at most [`MAX_PAGES`] calls per
//!   group and refresh; a longer hierarchy is not resolved (its rule allows nothing), and says so.
//! - Fresh: a resolution is used for [`REFRESH`] (10 minutes), then read again by the next check that
//!   needs it; a failure is kept for [`RETRY_FAILED`] (1 minute), so a refused read costs one call a
//!   minute, not one per check. The checks of one process wait for a read under way rather than repeat it.
//! - Safe: a group that could not be read (403 because the identity may not read the hierarchy, ARM
//!   failing, an unreadable answer, too many pages) holds no subscription, whatever it held before: a
//!   subscription moved out of the group must not stay allowed because a later read failed. Each failed
//!   read is one error line naming the group and why (ARM's text quoted).

use crate::arm::{ArmClient, ArmError};
use crate::hierarchy::{self, API_VERSION};
use crate::policy::{GroupFailureKind, Groups, Resolution, GROUP_PREFIX};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a resolved group is used before it is read again.
pub const REFRESH: Duration = Duration::from_secs(600);
/// How long a failed read is kept before the group is read again.
pub const RETRY_FAILED: Duration = Duration::from_secs(60);
/// Pages of one group's descendants one refresh reads at most (each one ARM call).
pub const MAX_PAGES: usize = 20;

struct Entry {
    resolution: Resolution,
    at: DateTime<Utc>,
}

impl Entry {
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        let keep = match self.resolution {
            Resolution::Subscriptions(_) => REFRESH,
            Resolution::Failed { .. } => RETRY_FAILED,
        };
        let age = (now - self.at).to_std().unwrap_or(Duration::ZERO);
        // A clock gone backwards makes an entry stale, never fresh for longer.
        now >= self.at && age < keep
    }
}

/// The process's resolved management groups.
#[derive(Default)]
pub struct GroupCache {
    entries: tokio::sync::Mutex<BTreeMap<String, Entry>>,
}

impl GroupCache {
    /// The groups `names` as resolved at `now`: each from the cache while fresh, else read through `arm`.
    /// With no name, no lock and no call.
    pub async fn resolve(&self, arm: &ArmClient, now: DateTime<Utc>, names: &[String]) -> Groups {
        let mut groups = Groups::default();
        if names.is_empty() {
            return groups;
        }
        let mut entries = self.entries.lock().await;
        for name in names {
            let key = name.to_ascii_lowercase();
            let stale = entries.get(&key).is_none_or(|e| !e.fresh(now));
            if stale {
                let resolution = read(arm, &key).await;
                match &resolution {
                    Resolution::Subscriptions(subs) => tracing::info!(
                        "management group {GROUP_PREFIX}{key} resolved: {} subscription(s) under it, read again in {}s",
                        subs.len(),
                        REFRESH.as_secs()
                    ),
                    Resolution::Failed { why, .. } => tracing::error!(
                        "management group {GROUP_PREFIX}{key} not resolved: {why}; MPE_ALLOW rules naming it allow \
                         nothing until it is (read again in {}s)",
                        RETRY_FAILED.as_secs()
                    ),
                }
                entries.insert(key.clone(), Entry { resolution, at: now });
            }
            if let Some(e) = entries.get(&key) {
                groups.insert(&key, e.resolution.clone());
            }
        }
        groups
    }
}

/// Every page of `group`'s descendants: the subscriptions under it, or why not.
async fn read(arm: &ArmClient, group: &str) -> Resolution {
    let path = hierarchy::descendants_path(group);
    let mut subscriptions = BTreeSet::new();
    let mut answer = arm.get_path(&path, API_VERSION).await;
    for pages in 1..=MAX_PAGES {
        let body = match answer {
            Ok(Some(body)) => body,
            Ok(None) => {
                return failed(
                    GroupFailureKind::Refused,
                    format!("ARM GET {path}: not found (no such management group, or none the identity can see)"),
                )
            }
            Err(e) => return failed(kind_of(&e), failure_text(&e)),
        };
        let page = match hierarchy::read_page(&body) {
            Ok(page) => page,
            Err(why) => return failed(GroupFailureKind::Refused, format!("ARM GET {path}: unreadable answer: {why}")),
        };
        subscriptions.extend(page.subscriptions);
        let Some(next) = page.next_link else {
            return Resolution::Subscriptions(subscriptions);
        };
        if pages == MAX_PAGES {
            break;
        }
        answer = arm.get_next(&next).await;
    }
    failed(
        GroupFailureKind::Refused,
        format!("its descendants run past {MAX_PAGES} pages, the most one refresh reads; name a smaller group"),
    )
}

fn failed(kind: GroupFailureKind, why: String) -> Resolution {
    Resolution::Failed { why, kind }
}

fn kind_of(e: &ArmError) -> GroupFailureKind {
    if e.is_forbidden() {
        GroupFailureKind::Forbidden
    } else if e.is_transient() {
        GroupFailureKind::Transient
    } else {
        GroupFailureKind::Refused
    }
}

/// What a failed read says, with what to do when the identity may not read the hierarchy.
fn failure_text(e: &ArmError) -> String {
    if e.is_forbidden() {
        format!(
            "{e}: the approver's identity may not read the management group hierarchy; assign it \
             Microsoft.Management/managementGroups/descendants/read on the group (infra/managementgroup.bicep does)"
        )
    } else {
        e.to_string()
    }
}
