//! The check's reads: what [`crate::decision::decide`] asks for ([`Need`]), read from ARM and handed
//! back as an [`Observed`]. No decision here: a failed read is reported as a [`Failure`].

use super::{App, Reply};
use crate::arm::{ArmClient, ArmError};
use crate::decision::{Failure, Need, Observed, PecList, TAGS_API_VERSION};
use crate::logsafe::q;
use crate::pec;
use crate::policy::Tags;
use crate::providers;
use crate::resource_id::ResourceId;
use tracing::Level;

/// How long after it was sent a list (a parent's MPEs, a target's PECs) also answers the other checks
/// of the process that need it ([`crate::arm::ArmClient::get_shared`]): the checks of one parent's MPEs
/// come at the same instant ([`crate::schedule::Schedule::on_grid`]) and share one.
pub const SHARED_FRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// Pages of a target's PEC list read at most; a `nextLink` left after them is reported as
/// [`PecList::TooLong`] (a decision is only ever taken on a complete list).
pub const MAX_PEC_PAGES: usize = 20;

/// Whether a check's list reads may be shared with the other checks of the process ([`SHARED_FRESH`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lists {
    /// A list sent less than [`SHARED_FRESH`] ago, or on its way, answers this check too.
    Shared,
    /// This check reads afresh: a replay, asked for after what an operator changed.
    Afresh,
}

impl Lists {
    /// A replay's first check reads afresh (the operator may have just changed what it reads); every
    /// other check shares.
    pub(crate) fn for_item(item: &crate::workitem::WorkItem) -> Lists {
        if item.origin == crate::workitem::Origin::Replay && item.attempt == 0 {
            Lists::Afresh
        } else {
            Lists::Shared
        }
    }

    async fn get(
        self,
        client: &ArmClient,
        path: &str,
        api_version: &str,
    ) -> Result<Option<serde_json::Value>, ArmError> {
        match self {
            Lists::Shared => client.get_shared(path, api_version, SHARED_FRESH).await,
            Lists::Afresh => client.get_path(path, api_version).await,
        }
    }
}

/// The Pending PECs with an ETag as a target's list showed them in this check, by lower-cased id: the
/// body an approval PUTs back with `If-Match` on that ETag, without reading the PEC again (a change since
/// the list, a human's rejection, fails the PUT with 412). Only Pending ones are kept: nothing else is
/// approved, and a long list of settled connections is not copied on every check.
#[derive(Debug, Default)]
pub(crate) struct Listed(std::collections::HashMap<String, serde_json::Value>);

impl Listed {
    /// The body of PEC `id` as the list showed it, with its ETag.
    pub(crate) fn get(&self, id: &ResourceId) -> Option<&serde_json::Value> {
        self.0.get(&id.key())
    }

    fn keep(&mut self, items: &[serde_json::Value]) {
        for item in items {
            let etag = item.get("etag").and_then(serde_json::Value::as_str).is_some_and(|e| !e.trim().is_empty());
            let pending = item
                .pointer("/properties/privateLinkServiceConnectionState/status")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("Pending"));
            if !(etag && pending) {
                continue;
            }
            if let Some(id) =
                item.get("id").and_then(serde_json::Value::as_str).and_then(|id| ResourceId::parse(id).ok())
            {
                self.0.insert(id.key(), item.clone());
            }
        }
    }
}

/// Read what `need` names for the MPE `mpe_id`; a target's PECs with an ETag are kept in `etagged`.
pub(crate) async fn read(
    app: &App,
    mpe_id: &ResourceId,
    need: &Need,
    lists: Lists,
    etagged: &mut Listed,
    reply: &mut Reply,
) -> Observed {
    match need {
        Need::Pec { id, api_version } => match app.arm.get(id, api_version).await {
            Ok(Some(b)) => match pec::parse_pec(&b) {
                Ok(p) => Observed::ApprovingPec(Some(p)),
                Err(e) => Observed::Failed(Failure::Unreadable(format!("PEC {id} unreadable: {e}"))),
            },
            Ok(None) => Observed::ApprovingPec(None),
            Err(e) => Observed::Failed(failure(e, "reading the PEC whose approval was sent")),
        },
        Need::Pecs { target, path, api_version, with_tags: false } => {
            pecs(app, target, path, api_version, lists, etagged, reply).await
        }
        Need::Pecs { target, path, api_version, with_tags: true } => {
            let (pecs, tags) =
                tokio::join!(pecs(app, target, path, api_version, lists, etagged, reply), tags(app, target, lists));
            Observed::Several(vec![pecs, tags])
        }
        Need::Tags { target } => tags(app, target, lists).await,
        Need::Refresh { path, api_version } => match app.arm.post(path, api_version).await {
            Ok(_) => {
                reply.resp.log(Level::INFO, format!("mpe={mpe_id} asked the service to refresh its MPEs: POST {path}"));
                Observed::Refreshed
            }
            Err(e) => {
                let permission = providers::for_id(mpe_id).and_then(|p| p.refresh(mpe_id)).map(|r| r.permission);
                let what = match permission {
                    Some(p) => {
                        format!("asking the service to refresh its MPEs after the approval (the role needs {p})")
                    }
                    None => "asking the service to refresh its MPEs after the approval".to_string(),
                };
                Observed::Failed(failure(e, &what))
            }
        },
        Need::Mpe { api_version, after } => {
            if let Some(at) = app.data_planes.locate(mpe_id) {
                return on_data_plane(app, mpe_id, at, *after, lists, reply).await;
            }
            let what = if after.is_zero() {
                "reading the MPE"
            } else {
                crate::clock::sleep(app.clock.as_ref(), *after).await;
                "reading the MPE again after a 404"
            };
            if after.is_zero() {
                if let Some(listed) = listed(app, mpe_id, api_version, lists).await {
                    return match listed {
                        Ok(body) => mpe(mpe_id, &body, reply),
                        Err(e) => Observed::Failed(failure(e, "listing the MPEs of the MPE's parent")),
                    };
                }
            }
            match app.arm.get(mpe_id, api_version).await {
                Ok(None) => Observed::Mpe(None),
                Ok(Some(body)) => mpe(mpe_id, &body, reply),
                Err(e) => Observed::Failed(failure(e, what)),
            }
        }
    }
}

/// The target's tags (`Tags - Get At Scope`), shared as the lists are: the MPEs approved to one target at
/// about the same time read them once.
async fn tags(app: &App, target: &ResourceId, lists: Lists) -> Observed {
    let path = format!("{target}/providers/Microsoft.Resources/tags/default");
    match lists.get(&app.arm, &path, TAGS_API_VERSION).await {
        Ok(Some(b)) => Observed::Tags(Tags::from_body(&b)),
        Ok(None) => Observed::Tags(Tags::default()),
        Err(e @ ArmError::Refused { status: 403, .. }) => Observed::Failed(Failure::Forbidden(format!(
            "reading the target's tags (the role needs Microsoft.Resources/tags/read): {e}"
        ))),
        Err(e) => Observed::Failed(failure(e, "reading the target's tags")),
    }
}

/// The MPE as its parent's MPE list shows it, that list shared by the checks of the parent's MPEs
/// ([`SHARED_FRESH`]): `None` when the MPE is its own top-level resource, or the list's first page does
/// not show it (not there yet, gone, or further on), or ARM refused the list for a reason other than a
/// missing permission: its own GET then tells. A transient failure (a 429) or a missing permission (the
/// list needs the same read action as the GET) is the check's answer.
async fn listed(
    app: &App,
    mpe_id: &ResourceId,
    api_version: &str,
    lists: Lists,
) -> Option<Result<serde_json::Value, ArmError>> {
    let parent = mpe_id.parent()?;
    let collection = mpe_id.resource_type().rsplit('/').next().map(|t| format!("{parent}/{t}"))?;
    match lists.get(&app.arm, &collection, api_version).await {
        Ok(Some(page)) => {
            let key = mpe_id.key();
            let items = page.get("value").and_then(serde_json::Value::as_array)?;
            items
                .iter()
                .find(|v| {
                    v.get("id").and_then(serde_json::Value::as_str).is_some_and(|id| id.eq_ignore_ascii_case(&key))
                })
                .cloned()
                .map(Ok)
        }
        Ok(None) => None,
        Err(e @ (ArmError::Transient { .. } | ArmError::Identity { .. })) => Some(Err(e)),
        Err(e) if e.is_forbidden() => Some(Err(e)),
        Err(_) => None,
    }
}

/// The MPE of a data plane ([`crate::dataplane`]): from its parent's MPE list's first page (shared as
/// ARM's lists are), found as its provider reads the items, or else its own GET; a 404 is an absent MPE.
async fn on_data_plane(
    app: &App,
    mpe_id: &ResourceId,
    at: Result<crate::dataplane::Located<'_>, String>,
    after: std::time::Duration,
    lists: Lists,
    reply: &mut Reply,
) -> Observed {
    let at = match at {
        Ok(at) => at,
        Err(why) => return Observed::Failed(Failure::Refused(why)),
    };
    let permission = providers::for_id(mpe_id).and_then(|p| p.data_plane()).map(|d| d.permission).unwrap_or_default();
    let failed = |e: ArmError, what: &str| {
        if e.is_forbidden() {
            Observed::Failed(failure(e, &format!("{what} (the identity needs {permission})")))
        } else {
            Observed::Failed(failure(e, what))
        }
    };
    if after.is_zero() {
        match lists.get(at.client, &at.list, at.api_version).await {
            Ok(Some(page)) => {
                let parent = mpe_id.parent();
                let this = |v: &&serde_json::Value| {
                    parent.as_ref().is_some_and(|parent| {
                        app.data_planes
                            .listed_id(&mpe_id.resource_type(), parent, v)
                            .is_some_and(|id| id.key() == mpe_id.key())
                    })
                };
                if let Some(body) = at.lists.items(&page).iter().find(this) {
                    return mpe(mpe_id, body, reply);
                }
            }
            Ok(None) => {}
            Err(e @ (ArmError::Transient { .. } | ArmError::Identity { .. })) => {
                return failed(e, "listing the MPEs of the MPE's parent on its data plane")
            }
            Err(e) if e.is_forbidden() => return failed(e, "listing the MPEs of the MPE's parent on its data plane"),
            Err(_) => {}
        }
    } else {
        crate::clock::sleep(app.clock.as_ref(), after).await;
    }
    match at.client.get_path(&at.item, at.api_version).await {
        Ok(None) => Observed::Mpe(None),
        Ok(Some(body)) => mpe(mpe_id, &body, reply),
        Err(e) => failed(e, "reading the MPE on its data plane"),
    }
}

/// The MPE's body through its provider, logged with the service's own state.
fn mpe(id: &ResourceId, body: &serde_json::Value, reply: &mut Reply) -> Observed {
    let Some(provider) = providers::for_id(id) else {
        return Observed::Failed(Failure::Unreadable(format!("unsupported MPE type {}", id.resource_type())));
    };
    match provider.parse(id, body) {
        Ok(view) => {
            reply.resp.log(
                Level::INFO,
                format!("mpe={id} {} state: {} → {:?}", provider.service(), q(&view.raw_status), view.status),
            );
            Observed::Mpe(Some(Box::new(view)))
        }
        Err(e) => Observed::Failed(Failure::Unreadable(format!("unreadable {} MPE: {e}", provider.service()))),
    }
}

/// Every PEC of the target: a failed next page is transient; a `nextLink` still there after
/// [`MAX_PEC_PAGES`] pages is [`PecList::TooLong`].
async fn pecs(
    app: &App,
    target: &ResourceId,
    path: &str,
    api_version: &str,
    lists: Lists,
    listed: &mut Listed,
    reply: &mut Reply,
) -> Observed {
    let mut page = match lists.get(&app.arm, path, api_version).await {
        Ok(Some(b)) => b,
        Ok(None) => return Observed::Pecs(PecList::TargetMissing),
        Err(e) => return Observed::Failed(failure(e, "listing the target's private endpoint connections")),
    };
    let mut all = Vec::new();
    for n in 1..=MAX_PEC_PAGES {
        let parsed = match pec::parse_page(&page) {
            Ok(x) => x,
            Err(e) => return Observed::Failed(Failure::Unreadable(format!("target {target}: {e}"))),
        };
        if let Ok((items, _)) = pec::list_items(&page) {
            listed.keep(items);
        }
        for e in parsed.unreadable {
            reply.resp.log(Level::WARN, format!("target {target}: skipping an unreadable PEC: {}", q(&e.to_string())));
        }
        all.extend(parsed.pecs);
        let Some(next) = parsed.next_link else {
            return Observed::Pecs(PecList::All(all));
        };
        if n == MAX_PEC_PAGES {
            break;
        }
        page = match app.arm.get_next(&next).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Observed::Failed(Failure::Transient {
                    why: format!("page {} of the target's PECs answered no body", n + 1),
                    retry_after: None,
                })
            }
            Err(e) => return Observed::Failed(failure(e, &format!("reading page {} of the target's PECs", n + 1))),
        };
    }
    Observed::Pecs(PecList::TooLong { pages: MAX_PEC_PAGES })
}

/// An ARM error as the core sees it, `what` the call was doing: transient ones are worth trying again;
/// a 403, a 401 also to a fresh token, or the identity endpoint refusing a token is a missing
/// permission; other refusals (400 ...) will not change by waiting.
pub(crate) fn failure(e: ArmError, what: &str) -> Failure {
    let why = format!("{what}: {e}");
    match &e {
        ArmError::Transient { .. } => Failure::Transient { why, retry_after: e.retry_after() },
        _ if e.is_forbidden() => Failure::Forbidden(why),
        ArmError::Identity { .. } => Failure::Forbidden(why),
        ArmError::Refused { .. } => Failure::Refused(why),
        ArmError::BadBody { .. } => Failure::Unreadable(why),
    }
}
