//! The Private Link Service scan (shell): read the watched PLSs' connections (every page, or nothing is
//! decided for that PLS), ask [`crate::pls::decide`] about each, approve or reject through the
//! approving protocol ([`super::approving::write`]), audit every decision (`mpe.audit`, the check's
//! shape, `mpeId` holding the PLS) and count what the run did. The `MpePlsScan` timer and
//! `mpe-approver pls-scan` both call [`pls_scan`].
//!
//! Bounded like the sweep: at most `max_calls` ARM calls (a write counts the most the protocol makes,
//! [`approving::MAX_CALLS`]) and nothing after `deadline`; the PLSs are taken in a hash order from a
//! start that moves every minute ([`super::queued::rotation_every`]), so a run cut short leaves a
//! different part for the next. A PLS that cannot be read (403, 404, a list too long) is reported and
//! the run goes on with the others.

use super::approving::{self, State, Write};
use super::observe::MAX_PEC_PAGES;
use super::queued::{fraction_of, order_key, rotation_every};
use super::settle::{audit_json, emit_outcome, Audit};
use super::{App, Reply};
use crate::decision::{Failure, Observed, TAGS_API_VERSION};
use crate::logsafe::{q, q_max};
use crate::pec::{self, Pec, PecStatus};
use crate::pls::{self, Decision, PendingBook, PlsRules, PlsWrite, WaitReason, Watched, WriteKind, WriteOutcome};
use crate::policy::Tags;
use crate::resource_id::{ListScope, ResourceId};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::time::{timeout_at, Instant};
use tracing::Level;

/// Pages of a list of PLSs (per subscription or resource group) read at most.
pub const MAX_LIST_PAGES: usize = 20;

/// One decision on a Pending connection (the connections not Pending are only counted).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlsRow {
    pub pls_id: String,
    pub pec_id: String,
    pub private_endpoint_id: Option<String>,
    /// The audit's outcome: `approved`, `approval-sent`, `rejected`, `rejection-sent`, `left-pending`,
    /// `left-alone`, `dry-run`, `changed`, `vanished`, `not-applied`, `failed`.
    pub outcome: String,
    /// Why it was left Pending (`not-allowed`, `message-missing`, `message-mismatch`, `denied`, `busy`,
    /// `tags-unread`, `limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    pub reason: String,
}

/// What one scan read, decided and did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlsScan {
    /// The run's id: every audit line of the run carries it as `correlationId`.
    pub correlation_id: String,
    pub watch: Vec<String>,
    pub dry_run: bool,
    pub arm_calls: u32,
    /// Where this run's walk started, as a 64-bit fraction in hex.
    pub rotation: String,
    /// Private Link Services whose connections were read whole.
    pub pls_read: u32,
    /// Private Link Services found or named but not read whole (a 403, a 404, the limits ...).
    pub pls_not_read: u32,
    /// Connections seen on the PLSs read (unreadable entries included).
    pub connections: u32,
    /// Approved (confirmed, or accepted and still applying).
    pub approved: u32,
    /// Rejected (after `MPE_PLS_REJECT_AFTER`).
    pub rejected: u32,
    /// A dry run's approvals and rejections.
    pub would_approve: u32,
    pub would_reject: u32,
    /// Connections left Pending, by reason.
    pub left_pending: BTreeMap<String, u32>,
    /// Left Pending because no rule allows their consumer's subscription.
    pub strangers_waiting: u32,
    /// Pending, but unreadable or hostile: never touched.
    pub left_alone: u32,
    /// Not Pending: never touched.
    pub untouched: u32,
    /// Writes that did not take: changed before the write, gone, not applied, failed.
    pub writes_not_done: u32,
    /// What the run could not read or do; empty when it saw everything.
    pub incomplete: Vec<String>,
    pub rows: Vec<PlsRow>,
    /// The run's log lines (the audit lines among them), each starting with its level.
    #[serde(skip)]
    pub logs: Vec<String>,
}

impl PlsScan {
    /// Connections left Pending, every reason.
    pub fn pending(&self) -> u32 {
        self.left_pending.values().sum()
    }

    /// One line for the log and the CLI.
    pub fn summary(&self) -> String {
        let mut s = format!("{} Private Link Services read, {} connections: ", self.pls_read, self.connections);
        if self.dry_run {
            s.push_str(&format!("would approve {}, would reject {}, ", self.would_approve, self.would_reject));
        } else {
            s.push_str(&format!("{} approved, {} rejected, ", self.approved, self.rejected));
        }
        s.push_str(&format!("{} left pending", self.pending()));
        if !self.left_pending.is_empty() {
            let reasons: Vec<String> = self.left_pending.iter().map(|(r, n)| format!("{n} {r}")).collect();
            s.push_str(&format!(" ({}; strangers waiting: {})", reasons.join(", "), self.strangers_waiting));
        }
        s.push_str(&format!(
            ", {} left alone, {} not Pending; {} ARM calls",
            self.left_alone, self.untouched, self.arm_calls
        ));
        if self.writes_not_done > 0 {
            s.push_str(&format!("; {} writes did not take", self.writes_not_done));
        }
        if self.pls_not_read > 0 {
            s.push_str(&format!("; {} Private Link Services not read (rotation {})", self.pls_not_read, self.rotation));
        }
        s
    }

    /// The counts, as the function's return value.
    pub fn counts(&self) -> Value {
        json!({
            "correlationId": self.correlation_id,
            "dryRun": self.dry_run,
            "plsRead": self.pls_read,
            "plsNotRead": self.pls_not_read,
            "connections": self.connections,
            "approved": self.approved,
            "rejected": self.rejected,
            "wouldApprove": self.would_approve,
            "wouldReject": self.would_reject,
            "leftPending": self.left_pending,
            "strangersWaiting": self.strangers_waiting,
            "leftAlone": self.left_alone,
            "untouched": self.untouched,
            "writesNotDone": self.writes_not_done,
            "incomplete": self.incomplete.len(),
            "armCalls": self.arm_calls,
        })
    }
}

/// Scan the Private Link Services `watch` names (PLS ids, and the PLSs listed under subscriptions and
/// resource groups) and decide about each connection; unless `dry_run`, approve and reject as decided.
/// At most `max_calls` ARM calls; nothing is started after `deadline`, and every call ends by it.
pub async fn pls_scan(app: &App, watch: &[Watched], max_calls: u32, dry_run: bool, deadline: Instant) -> PlsScan {
    let start = rotation_every(app.clock.now(), 60);
    let mut run = PlsScan {
        correlation_id: uuid::Uuid::new_v4().to_string(),
        watch: watch.iter().map(ToString::to_string).collect(),
        dry_run,
        rotation: format!("{start:016x}"),
        ..Default::default()
    };
    let mut scan = Scan { app, run: &mut run, max_calls, deadline, reply: Reply::new() };
    let mut plss: Vec<ResourceId> = Vec::new();
    let mut seen = HashSet::new();
    for w in watch {
        let found = match w {
            Watched::Pls(id) => vec![id.clone()],
            Watched::Scope(scope) => scope_plss(&mut scan, scope).await,
        };
        plss.extend(found.into_iter().filter(|id| seen.insert(id.key())));
    }
    plss.sort_by_key(|p| (order_key(&p.key()), p.key()));
    let offset = fraction_of(start, plss.len());
    plss.rotate_left(offset);
    let rules = PlsRules {
        policy: &app.config.pls.allow,
        messages: &app.config.pls.messages,
        reject_after: app.config.pls.reject_after,
        dry_run,
    };
    for (i, pls) in plss.iter().enumerate() {
        if let Some(why) = scan.limit_reached(1) {
            let left = (plss.len() - i) as u32;
            scan.run.pls_not_read += left;
            scan.run.incomplete.push(format!("{left} Private Link Services not read: {why} was reached"));
            break;
        }
        scan.one(pls, &rules).await;
    }
    let logs = std::mem::take(&mut scan.reply.resp.logs);
    run.logs = logs;
    run
}

struct Scan<'a> {
    app: &'a App,
    run: &'a mut PlsScan,
    max_calls: u32,
    deadline: Instant,
    /// Collects the run's log lines.
    reply: Reply,
}

/// The PLSs ARM lists under `scope` (every page up to [`MAX_LIST_PAGES`]); what could not be listed
/// is noted in the run, and what was listed is still scanned.
async fn scope_plss(scan: &mut Scan<'_>, scope: &ListScope) -> Vec<ResourceId> {
    let path = format!("{scope}/providers/{}", pls::PLS_TYPE);
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for n in 1..=MAX_LIST_PAGES {
        let body = match scan.get(&path, next.as_deref(), pls::API_VERSION).await {
            Ok(Some(b)) => b,
            // No PLS there (or the resource provider is not registered in the subscription).
            Ok(None) => return out,
            Err(why) => {
                let role = if why.starts_with("forbidden") {
                    format!(" (the role needs {}/read there)", pls::PLS_TYPE)
                } else {
                    String::new()
                };
                scan.run.incomplete.push(format!("listing the Private Link Services of {scope}: {why}{role}"));
                return out;
            }
        };
        let Some(items) = body.get("value").and_then(Value::as_array) else {
            scan.run
                .incomplete
                .push(format!("listing the Private Link Services of {scope}: not a {{value: [...]}} list"));
            return out;
        };
        for raw in items.iter().map(|v| v.get("id").and_then(Value::as_str).unwrap_or_default()) {
            match ResourceId::parse(raw) {
                Ok(id) if id.is_type(pls::PLS_TYPE) && scope.contains(&id) => out.push(id),
                _ => scan.run.incomplete.push(format!(
                    "the list of {scope} answered {}, not a Private Link Service in it",
                    q_max(raw, 200)
                )),
            }
        }
        match body.get("nextLink").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            None => return out,
            Some(link) => next = Some(link.to_string()),
        }
        if n == MAX_LIST_PAGES {
            scan.run.incomplete.push(format!(
                "{scope} lists more than {MAX_LIST_PAGES} pages of Private Link Services; the rest were not read"
            ));
        }
    }
    out
}

impl Scan<'_> {
    /// Which limit a step of `calls` ARM calls would pass, if any.
    fn limit_reached(&self, calls: u32) -> Option<&'static str> {
        if self.run.arm_calls.saturating_add(calls) > self.max_calls {
            Some("the ARM call limit (MPE_PLS_MAX_CALLS)")
        } else if Instant::now() >= self.deadline {
            Some("the time budget")
        } else {
            None
        }
    }

    /// One GET (a path, or a `nextLink`), counted and bounded by the deadline; `None` for a 404.
    async fn get(&mut self, path: &str, next: Option<&str>, api_version: &str) -> Result<Option<Value>, String> {
        if let Some(why) = self.limit_reached(1) {
            return Err(format!("not read, {why} was reached"));
        }
        self.run.arm_calls += 1;
        let arm = &self.app.arm;
        let call = async {
            match next {
                None => arm.get_path(path, api_version).await,
                Some(link) => arm.get_next(link).await,
            }
        };
        match timeout_at(self.deadline, call).await {
            Err(_) => Err("not read whole, the time budget was reached".into()),
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) if e.is_forbidden() => Err(format!("forbidden: {e}")),
            Ok(Err(e)) => Err(e.to_string()),
        }
    }

    /// Every connection of `pls`, every page; `None` (noted in the run) when not read whole.
    async fn connections(&mut self, pls: &ResourceId) -> Option<Vec<Pec>> {
        let path = format!("{pls}/{}", pls::CONNECTIONS);
        let not_read = |why: String| format!("{pls}: connections not read: {why}");
        let mut next: Option<String> = None;
        let mut all = Vec::new();
        for n in 1..=MAX_PEC_PAGES {
            let page = match self.get(&path, next.as_deref(), pls::API_VERSION).await {
                Ok(Some(b)) => b,
                Ok(None) if n == 1 => {
                    self.run
                        .incomplete
                        .push(not_read("it does not exist (deleted, or a wrong id in MPE_PLS_WATCH)".into()));
                    return None;
                }
                Ok(None) => {
                    self.run.incomplete.push(not_read(format!("page {n} answered no body")));
                    return None;
                }
                Err(why) => {
                    let role = if why.starts_with("forbidden") {
                        format!(" (the role needs {}/{}/read)", pls::PLS_TYPE, pls::CONNECTIONS)
                    } else {
                        String::new()
                    };
                    self.run.incomplete.push(not_read(format!("{why}{role}")));
                    return None;
                }
            };
            let parsed = match pec::parse_page(&page) {
                Ok(p) => p,
                Err(e) => {
                    self.run.incomplete.push(not_read(e.to_string()));
                    return None;
                }
            };
            for e in parsed.unreadable {
                self.run.connections += 1;
                self.run.left_alone += 1;
                self.reply
                    .resp
                    .log(Level::WARN, format!("pls={pls}: a connection left alone, unreadable: {}", q(&e.to_string())));
            }
            all.extend(parsed.pecs);
            match parsed.next_link {
                None => return Some(all),
                Some(link) => next = Some(link),
            }
        }
        self.run.incomplete.push(not_read(format!(
            "more than {MAX_PEC_PAGES} pages of connections (the limit read); nothing decided on a partial list"
        )));
        None
    }

    /// The PLS's tags (`None`, noted in the run, when they cannot be read).
    async fn tags(&mut self, pls: &ResourceId) -> Option<Tags> {
        let path = format!("{pls}/providers/Microsoft.Resources/tags/default");
        match self.get(&path, None, TAGS_API_VERSION).await {
            Ok(Some(b)) => Some(Tags::from_body(&b)),
            Ok(None) => Some(Tags::default()),
            Err(why) => {
                let role =
                    if why.starts_with("forbidden") { " (the role needs Microsoft.Resources/tags/read)" } else { "" };
                self.run.incomplete.push(format!("{pls}: tags not read: {why}{role}; its Pending connections wait"));
                None
            }
        }
    }

    /// Read one PLS's connections and decide about each.
    async fn one(&mut self, pls: &ResourceId, rules: &PlsRules<'_>) {
        let Some(pecs) = self.connections(pls).await else {
            self.run.pls_not_read += 1;
            return;
        };
        self.run.pls_read += 1;
        self.run.connections += pecs.len() as u32;
        let tags = if pls::needs_tags(&pecs) { self.tags(pls).await } else { Some(Tags::default()) };
        let now = self.app.clock.now();
        // How long each Pending connection of this PLS has been seen Pending; the book forgets the rest.
        let ages: Vec<Duration> = {
            let mut book = self.app.pls_pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let under = format!("{}/", pls.key());
            let pending = |p: &&Pec| p.status == PecStatus::Pending && p.id.to_ascii_lowercase().starts_with(&under);
            let ages =
                pecs.iter().map(|p| if pending(&p) { book.pending_for(p, now) } else { Duration::ZERO }).collect();
            book.keep_only(pls, &pecs.iter().filter(pending).map(PendingBook::key).collect());
            ages
        };
        for (p, age) in pecs.iter().zip(ages) {
            let decision = pls::decide(pls, p, tags.as_ref(), age, rules);
            self.act(pls, p, age, decision, rules).await;
        }
    }

    /// Do what the decision says, audit it and count it.
    async fn act(&mut self, pls: &ResourceId, p: &Pec, age: Duration, decision: Decision, rules: &PlsRules<'_>) {
        let (outcome, wait, reason, allowed_by, write) = match decision {
            Decision::Untouched { .. } => {
                self.run.untouched += 1;
                return;
            }
            Decision::LeftAlone { why } => {
                self.run.left_alone += 1;
                self.reply.resp.log(Level::WARN, format!("pls={pls}: {why}"));
                ("left-alone", None, why, None, None)
            }
            Decision::Wait { reason, why } => {
                self.left_pending(reason.code());
                if reason == WaitReason::NotAllowed {
                    self.run.strangers_waiting += 1;
                }
                ("left-pending", Some(reason.code().to_string()), why, None, None)
            }
            Decision::DryRun(w) => {
                let verb = match w.kind {
                    WriteKind::Approve => {
                        self.run.would_approve += 1;
                        "would approve"
                    }
                    WriteKind::Reject => {
                        self.run.would_reject += 1;
                        "would reject"
                    }
                };
                ("dry-run", None, format!("dry run: {verb}: {}", w.why), w.allowed_by.clone(), None)
            }
            Decision::Write(w) => match self.limit_reached(approving::MAX_CALLS) {
                Some(why) => {
                    self.left_pending("limit");
                    self.run.incomplete.push(format!("{}: not written, {why} was reached", w.pec_id));
                    let reason = format!("decided to {} ({}), but {why} was reached first", verb(w.kind), w.why);
                    ("left-pending", Some("limit".to_string()), reason, None, None)
                }
                None => {
                    let done = self.write(pls, &w).await;
                    let code = done.code(w.kind);
                    let reason = format!("{}: {}; {done}", verb(w.kind), w.why);
                    (code, None, reason, w.allowed_by.clone(), Some((w, done)))
                }
            },
        };
        let evidence = pls::evidence(pls, p, rules, age);
        let audit = audit_json(&Audit {
            subject: pls.as_str(),
            correlation_id: &self.run.correlation_id,
            attempt: 0,
            pec_id: Some(&p.id),
            private_endpoint_id: p.endpoint_id.as_deref(),
            evidence: serde_json::to_value(&evidence).unwrap_or(Value::Null),
            allowed_by: allowed_by.as_deref(),
            outcome,
            park_code: None,
            reason: reason.clone(),
        });
        if let Ok(line) = crate::logsafe::json(&audit, false) {
            self.reply.resp.log(Level::INFO, format!("mpe.audit {line}"));
        }
        if let Some((w, done)) = &write {
            if matches!(done, WriteOutcome::Done | WriteOutcome::Sent) {
                emit_outcome(&outcome_event(
                    audit,
                    self.app.clock.now(),
                    (w.kind == WriteKind::Approve).then_some(age),
                ));
            }
        }
        self.run.rows.push(PlsRow {
            pls_id: pls.to_string(),
            pec_id: p.id.clone(),
            private_endpoint_id: p.endpoint_id.clone(),
            outcome: outcome.to_string(),
            wait,
            reason,
        });
    }

    fn left_pending(&mut self, code: &str) {
        *self.run.left_pending.entry(code.to_string()).or_default() += 1;
    }

    /// Approve or reject through the approving protocol, within the deadline; count what it did.
    async fn write(&mut self, pls: &ResourceId, w: &PlsWrite) -> WriteOutcome {
        self.run.arm_calls += approving::MAX_CALLS;
        let label = format!("pls={pls}");
        let rejection = w.description.clone().unwrap_or_else(|| "Rejected by mpe-approver".into());
        let state = match w.kind {
            WriteKind::Approve => State::Approved { marker_for: pls, incarnation: None },
            WriteKind::Reject => State::Rejected { description: &rejection },
        };
        let write = Write {
            pec_id: &w.pec_id,
            endpoint_id: Some(&w.endpoint_id),
            api_version: pls::API_VERSION,
            label: &label,
            state,
            confirm: &approving::CONFIRM_WAITS,
            listed: None,
        };
        let observed = match timeout_at(self.deadline, approving::write(self.app, &write, &mut self.reply)).await {
            Ok(o) => o,
            Err(_) => Observed::Failed(Failure::Transient {
                why: "the time budget ran out during the write; the next run reads it again".into(),
                retry_after: None,
            }),
        };
        let done = pls::after_write(w.kind, &observed);
        match (&done, w.kind) {
            (WriteOutcome::Done | WriteOutcome::Sent, WriteKind::Approve) => self.run.approved += 1,
            (WriteOutcome::Done | WriteOutcome::Sent, WriteKind::Reject) => self.run.rejected += 1,
            (WriteOutcome::Failed(why), _) => {
                self.run.writes_not_done += 1;
                self.run.incomplete.push(format!("{}: could not {}: {why}", w.pec_id, verb(w.kind)));
            }
            _ => self.run.writes_not_done += 1,
        }
        done
    }
}

fn verb(kind: WriteKind) -> &'static str {
    match kind {
        WriteKind::Approve => "approve",
        WriteKind::Reject => "reject",
    }
}

/// The `mpe.outcome` event of an approval or a rejection: the audit event's fields plus when, the
/// origin (`plsScan`) and, for an approval, the seconds since the app first saw the connection Pending.
fn outcome_event(mut audit: Value, now: chrono::DateTime<chrono::Utc>, waited: Option<Duration>) -> Value {
    if let Some(o) = audit.as_object_mut() {
        o.insert("event".into(), json!("mpe.outcome"));
        o.insert("at".into(), json!(now.to_rfc3339()));
        o.insert("origin".into(), json!("plsScan"));
        o.insert("attempts".into(), json!(1));
        o.insert("secondsToApprove".into(), json!(waited.map(|d| d.as_secs_f64())));
    }
    audit
}
