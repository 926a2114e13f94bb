//! A Private Link Service, provider side: which of a watched PLS's connections to approve, leave
//! Pending, or (only when configured) reject. Pure.
//!
//! A consumer's private endpoint connects to a PLS (`Microsoft.Network/privateLinkServices`) from any
//! subscription, in any tenant, and no event reaches the provider's subscription when it does; so the
//! `MpePlsScan` timer reads the watched PLSs' connections and asks [`decide`] about each one:
//! - a connection that is not Pending is never touched ([`Decision::Untouched`]);
//! - a Pending one whose ids cannot be read safely (no private endpoint id, one that is not a
//!   `Microsoft.Network/privateEndpoints` id, a connection id not under its PLS) is left alone and
//!   logged ([`Decision::LeftAlone`]);
//! - otherwise the PLS's tags may refuse everything (`mpe-approver: deny`, a tag of ours not
//!   understood: [`WaitReason::Denied`]); then `MPE_PLS_ALLOW` (`MPE_ALLOW`'s grammar, the source being
//!   the consumer's private endpoint, the target the PLS; default same subscription) or the PLS's
//!   `mpe-approver-allow-from` tag must allow the consumer's subscription ([`WaitReason::NotAllowed`]:
//!   the strangers waiting); then, where `MPE_PLS_REQUIRE_MESSAGE` names a pattern for the PLS, the
//!   request message (the connection's description while Pending) must match it whole
//!   ([`WaitReason::MessageMissing`], [`WaitReason::MessageMismatch`]); then it is approved.
//! - `MPE_PLS_REJECT_AFTER` (off by default) rejects a connection left Pending for those three reasons
//!   once this app has seen it Pending that long ([`PendingBook`]), with a description saying why.
//!
//! Writing is the approving protocol's (re-read, PUT the whole body back with `If-Match`, confirm);
//! [`after_write`] reads what it reported.

use crate::decision::{Approval, Failure, Observed};
use crate::logsafe::{q, q_max};
use crate::pec::{self, Pec, PecStatus};
use crate::policy::{Policy, Scope, Tags};
use crate::resource_id::{ListScope, ResourceId};
use chrono::{DateTime, Utc};
use regex_automata::meta::Regex;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

/// The resource type of a Private Link Service.
pub const PLS_TYPE: &str = "Microsoft.Network/privateLinkServices";
/// The api-version of every PLS call: the PLS list, its connections, one connection's GET and PUT
/// (`PrivateLinkServices_*`, the examples of 2025-05-01, 2025-07-01 and 2025-09-01 share these shapes).
pub const API_VERSION: &str = "2025-05-01";
/// The type a consumer's private endpoint id must have.
pub const ENDPOINT_TYPE: &str = "Microsoft.Network/privateEndpoints";
/// The connections collection under a PLS.
pub const CONNECTIONS: &str = "privateEndpointConnections";
/// The settings this module reads.
pub const WATCH_SETTING: &str = "MPE_PLS_WATCH";
pub const ALLOW_SETTING: &str = "MPE_PLS_ALLOW";
pub const MESSAGE_SETTING: &str = "MPE_PLS_REQUIRE_MESSAGE";
pub const REJECT_SETTING: &str = "MPE_PLS_REJECT_AFTER";
/// Connections the [`PendingBook`] remembers at most; past it a new one is not recorded (so it is never
/// rejected for its age: the book only ever delays a rejection).
pub const MAX_BOOK: usize = 50_000;
/// Patterns of `MPE_PLS_REQUIRE_MESSAGE` at most, and the longest one.
const MAX_PATTERNS: usize = 100;
const MAX_PATTERN_LEN: usize = 1000;

/// What `MPE_PLS_WATCH` names: a PLS, or a subscription or resource group whose PLSs are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    Pls(ResourceId),
    Scope(ListScope),
}

impl fmt::Display for Watched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Watched::Pls(id) => write!(f, "{id}"),
            Watched::Scope(s) => write!(f, "{s}"),
        }
    }
}

/// Parse `MPE_PLS_WATCH`: comma-, semicolon- or space-separated PLS ids, subscription ids
/// (`/subscriptions/<id>`) and resource group ids. Empty: nothing is watched.
pub fn parse_watch(value: &str) -> Result<Vec<Watched>, String> {
    let mut out = Vec::new();
    for part in value.split([',', ';', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let watched = match ResourceId::parse(part) {
            Ok(id) if id.is_type(PLS_TYPE) => Watched::Pls(id),
            Ok(id) => {
                return Err(format!(
                    "{} is a {}, not a {PLS_TYPE} id, a subscription or a resource group",
                    q_max(part, 200),
                    id.resource_type()
                ))
            }
            Err(_) => Watched::Scope(ListScope::parse(part).map_err(|e| {
                format!("{e}; or give a {PLS_TYPE} id (/subscriptions/<id>/resourceGroups/<rg>/providers/{PLS_TYPE}/<name>)")
            })?),
        };
        if !out.contains(&watched) {
            out.push(watched);
        }
    }
    Ok(out)
}

/// Parse `MPE_PLS_REJECT_AFTER`: `off` (or empty) for never, or a duration (`7d` is written `168h`).
pub fn parse_reject_after(value: &str) -> Result<Option<Duration>, String> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match crate::schedule::parse_duration(v) {
        Some(d) if d >= Duration::from_secs(60) => Ok(Some(d)),
        Some(_) => Err(format!("{v:?} is shorter than a minute: a consumer needs time to be allowed")),
        None => Err(format!("{v:?} is neither off nor a duration like 30m, 24h (at most 720h)")),
    }
}

/// A request-message pattern: the regular expression as configured, matched against the whole message.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Pattern {}

impl Pattern {
    /// Compile `source`, anchored: the whole message must match (`^(?:source)$`). The pattern must be a
    /// regular expression on its own first, so no `)` in it can escape the anchors.
    pub fn new(source: &str) -> Result<Pattern, String> {
        if source.len() > MAX_PATTERN_LEN {
            return Err(format!("a pattern longer than {MAX_PATTERN_LEN} characters"));
        }
        let build = |p: &str| {
            Regex::builder()
                .configure(Regex::config().nfa_size_limit(Some(1 << 20)))
                .build(p)
                .map_err(|e| format!("{} is not a regular expression: {}", q(source), q_max(&e.to_string(), 300)))
        };
        build(source)?;
        Ok(Pattern { source: source.to_string(), regex: build(&format!("^(?:{source})$"))? })
    }
    pub fn as_str(&self) -> &str {
        &self.source
    }
    /// Whether `message` matches the whole pattern.
    pub fn matches(&self, message: &str) -> bool {
        self.regex.is_match(message)
    }
}

/// `MPE_PLS_REQUIRE_MESSAGE`: per scope (`*`, a subscription, a resource group or a PLS id, as
/// `MPE_ALLOW` writes scopes), the pattern a request message must match; the most specific scope
/// containing the PLS decides, and an empty pattern requires nothing there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRules(Vec<(Scope, Option<Pattern>)>);

impl MessageRules {
    /// Parse a JSON object `{"<scope>": "<pattern>", ...}`; empty or absent: no pattern anywhere.
    pub fn parse(value: Option<&str>) -> Result<MessageRules, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(MessageRules::default());
        };
        let json: serde_json::Value = serde_json::from_str(v).map_err(|e| {
            format!("not a JSON object like {{\"/subscriptions/<id>\": \"^CHG[0-9]{{7}}\\\\b.*\"}}: {e}")
        })?;
        let obj = json.as_object().ok_or("not a JSON object of scope: pattern")?;
        if obj.len() > MAX_PATTERNS {
            return Err(format!("more than {MAX_PATTERNS} scopes"));
        }
        let mut rules = Vec::new();
        for (scope, pattern) in obj {
            let s = Scope::parse(scope)?;
            let p = pattern.as_str().ok_or_else(|| format!("the pattern of {} is not a string", q(scope)))?;
            let p = if p.is_empty() { None } else { Some(Pattern::new(p).map_err(|e| format!("{}: {e}", q(scope)))?) };
            rules.push((s, p));
        }
        Ok(MessageRules(rules))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pattern for `pls`: that of the most specific scope containing it, if any.
    pub fn for_pls(&self, pls: &ResourceId) -> Option<&Pattern> {
        let depth = |s: &Scope| match s {
            // `Scope::parse` reads no management group: it would contain nothing.
            Scope::Any | Scope::Group(_) => 0,
            Scope::Prefix(segs) => segs.len(),
        };
        self.0.iter().filter(|(s, _)| s.contains(pls)).max_by_key(|(s, _)| depth(s)).and_then(|(_, p)| p.as_ref())
    }
}

/// The configuration's part of every decision.
#[derive(Debug, Clone)]
pub struct PlsRules<'a> {
    /// `MPE_PLS_ALLOW`.
    pub policy: &'a Policy,
    /// `MPE_PLS_REQUIRE_MESSAGE`.
    pub messages: &'a MessageRules,
    /// `MPE_PLS_REJECT_AFTER` (`None`: never reject).
    pub reject_after: Option<Duration>,
    /// `MPE_DRY_RUN`: decide, change nothing.
    pub dry_run: bool,
}

/// Why a Pending connection is left Pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitReason {
    /// No `MPE_PLS_ALLOW` rule nor the PLS's allow-from tag allows the consumer's subscription: a
    /// stranger waiting.
    NotAllowed,
    /// The PLS requires a request message and the connection has none.
    MessageMissing,
    /// The request message does not match the PLS's pattern.
    MessageMismatch,
    /// The PLS's tags refuse every approval (`mpe-approver: deny`, or a tag of ours not understood).
    Denied,
    /// The connection is being changed (`provisioningState` neither Succeeded nor absent).
    Busy,
    /// The PLS's tags could not be read: nothing is decided without them.
    TagsUnread,
}

impl WaitReason {
    pub fn code(self) -> &'static str {
        match self {
            WaitReason::NotAllowed => "not-allowed",
            WaitReason::MessageMissing => "message-missing",
            WaitReason::MessageMismatch => "message-mismatch",
            WaitReason::Denied => "denied",
            WaitReason::Busy => "busy",
            WaitReason::TagsUnread => "tags-unread",
        }
    }
    /// Whether a connection left Pending for this reason may be rejected once it has waited
    /// `MPE_PLS_REJECT_AFTER`: only what the configuration itself refuses, never a PLS tagged deny
    /// (hands off), a connection being changed or one whose PLS could not be read.
    pub fn rejectable(self) -> bool {
        matches!(self, WaitReason::NotAllowed | WaitReason::MessageMissing | WaitReason::MessageMismatch)
    }
}

/// Approve, or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WriteKind {
    Approve,
    Reject,
}

impl WriteKind {
    /// The state the write sets.
    pub fn status(self) -> PecStatus {
        match self {
            WriteKind::Approve => PecStatus::Approved,
            WriteKind::Reject => PecStatus::Rejected,
        }
    }
}

/// A write to one connection: what, why, and what the audit says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlsWrite {
    pub kind: WriteKind,
    pub pec_id: ResourceId,
    /// The consumer's private endpoint: the connection re-read before the PUT must still name it.
    pub endpoint_id: String,
    /// A rejection's description (an approval keeps the request message and appends our marker).
    pub description: Option<String>,
    /// The rule or tag that allowed an approval.
    pub allowed_by: Option<String>,
    /// Why, for the audit.
    pub why: String,
}

/// The decision on one connection of a PLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not Pending: never touched.
    Untouched { status: String },
    /// Pending, but its ids cannot be read safely: never touched; `why` is logged.
    LeftAlone { why: String },
    /// Pending, and left so.
    Wait { reason: WaitReason, why: String },
    /// Approve or reject it now.
    Write(PlsWrite),
    /// `MPE_DRY_RUN`: this write would be made.
    DryRun(PlsWrite),
}

/// What the audit event says of the connection a decision concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlsEvidence {
    /// The subscription of the consumer's private endpoint (empty when its id is unreadable).
    pub consumer_subscription: String,
    /// The consumer's private endpoint's name.
    pub private_endpoint: String,
    /// `not required`, `matched <pattern>`, `missing`, or `mismatch <pattern>`.
    pub message: String,
    /// How long this app has seen the connection Pending, in whole seconds.
    pub pending_seconds: u64,
}

/// The consumer's private endpoint, when the connection names a well-formed one.
fn consumer_endpoint(p: &Pec) -> Result<ResourceId, String> {
    let raw = p.endpoint_id.as_deref().ok_or("it names no private endpoint (no properties.privateEndpoint.id)")?;
    match ResourceId::parse(raw) {
        Ok(id) if id.is_type(ENDPOINT_TYPE) => Ok(id),
        Ok(id) => Err(format!(
            "its private endpoint id {} is a {}, not a {ENDPOINT_TYPE}",
            q_max(raw, 300),
            id.resource_type()
        )),
        Err(e) => Err(format!("its private endpoint id {} is unreadable ({})", q_max(raw, 300), e.reason)),
    }
}

/// The connection's own id, when it is `{pls}/privateEndpointConnections/{name}`.
fn connection_id(pls: &ResourceId, p: &Pec) -> Result<ResourceId, String> {
    match ResourceId::parse(&p.id) {
        Ok(id) if id.parent().as_ref() == Some(pls) && id.is_type(&format!("{PLS_TYPE}/{CONNECTIONS}")) => Ok(id),
        _ => Err(format!("its id {} is not a connection of {pls}", q_max(&p.id, 300))),
    }
}

/// The evidence the audit carries for `p`.
pub fn evidence(pls: &ResourceId, p: &Pec, rules: &PlsRules<'_>, pending_for: Duration) -> PlsEvidence {
    let endpoint = consumer_endpoint(p).ok();
    let message = match (rules.messages.for_pls(pls), p.description.as_deref().filter(|d| !d.is_empty())) {
        (None, _) => "not required".to_string(),
        (Some(pat), Some(d)) if pat.matches(d) => format!("matched {}", pat.as_str()),
        (Some(_), None) => "missing".to_string(),
        (Some(pat), Some(_)) => format!("mismatch {}", pat.as_str()),
    };
    PlsEvidence {
        consumer_subscription: endpoint.as_ref().map(|e| e.subscription().to_string()).unwrap_or_default(),
        private_endpoint: endpoint.as_ref().map(|e| e.name().to_string()).unwrap_or_default(),
        message,
        pending_seconds: pending_for.as_secs(),
    }
}

/// Whether any connection is Pending: only then are the PLS's tags worth reading.
pub fn needs_tags(pecs: &[Pec]) -> bool {
    pecs.iter().any(|p| p.status == PecStatus::Pending)
}

/// A duration as an operator reads it: `90s`, `45m`, `36h`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The description a rejection writes: who, after how long, why; within [`pec::MAX_DESCRIPTION`].
pub fn rejection_description(reason: WaitReason, after: Duration, consumer_subscription: &str) -> String {
    let why = match reason {
        WaitReason::NotAllowed => format!("no {ALLOW_SETTING} rule allows subscription {consumer_subscription}"),
        WaitReason::MessageMissing => "no request message, and this service requires one".to_string(),
        _ => "the request message does not match the one this service requires".to_string(),
    };
    let text = format!("Rejected by mpe-approver after {} pending: {why}", human(after));
    text.chars().take(pec::MAX_DESCRIPTION).collect()
}

/// Decide about connection `p` of `pls`, seen Pending by this app for `pending_for`. `tags` are the
/// PLS's (`None`: they could not be read). Pure: the same input always gives the same answer.
pub fn decide(pls: &ResourceId, p: &Pec, tags: Option<&Tags>, pending_for: Duration, rules: &PlsRules<'_>) -> Decision {
    if p.status != PecStatus::Pending {
        let status = match &p.status {
            PecStatus::Other(s) => q_max(s, 40).to_string(),
            s => format!("{s:?}"),
        };
        return Decision::Untouched { status };
    }
    let pec_id = match connection_id(pls, p) {
        Ok(id) => id,
        Err(why) => return Decision::LeftAlone { why: format!("a Pending connection of {pls} left alone: {why}") },
    };
    let endpoint = match consumer_endpoint(p) {
        Ok(e) => e,
        Err(why) => return Decision::LeftAlone { why: format!("connection {pec_id} left alone: {why}") },
    };
    let wait = |reason: WaitReason, why: String| Decision::Wait { reason, why };
    if !pec::settled_as(p, &PecStatus::Pending) {
        let state = p.provisioning_state.as_deref().unwrap_or_default();
        return wait(
            WaitReason::Busy,
            format!("being changed (provisioningState {}); read again next run", q_max(state, 40)),
        );
    }
    let Some(tags) = tags else {
        return wait(
            WaitReason::TagsUnread,
            format!("the tags of {pls} could not be read; nothing is decided without them"),
        );
    };
    if let Some(why) = tags.refusal(pls) {
        return wait(WaitReason::Denied, why);
    }
    // Rejected once waited long enough, when the reason is the configuration's own.
    let refuse = |reason: WaitReason, why: String| match rules.reject_after {
        Some(after) if pending_for >= after && reason.rejectable() => {
            let write = PlsWrite {
                kind: WriteKind::Reject,
                pec_id: pec_id.clone(),
                endpoint_id: p.endpoint_id.clone().unwrap_or_default(),
                description: Some(rejection_description(reason, after, endpoint.subscription())),
                allowed_by: None,
                why: format!("pending for {} ({REJECT_SETTING}={}): {why}", human(pending_for), human(after)),
            };
            if rules.dry_run {
                Decision::DryRun(write)
            } else {
                Decision::Write(write)
            }
        }
        Some(after) if reason.rejectable() => wait(
            reason,
            format!("{why}; rejected once pending for {} (seen pending for {})", human(after), human(pending_for)),
        ),
        _ => wait(reason, why),
    };
    let allowed_by = match rules.policy.evaluate(&endpoint, pls, tags) {
        Ok(allowed) => rules.policy.allowed_text(&allowed),
        Err(why) => return refuse(WaitReason::NotAllowed, why),
    };
    if let Some(pattern) = rules.messages.for_pls(pls) {
        match p.description.as_deref().filter(|d| !d.is_empty()) {
            None => {
                return refuse(
                    WaitReason::MessageMissing,
                    format!("no request message; {MESSAGE_SETTING} requires one matching {}", q(pattern.as_str())),
                )
            }
            Some(d) if !pattern.matches(d) => {
                return refuse(
                    WaitReason::MessageMismatch,
                    format!("request message {} does not match {}", q_max(d, 200), q(pattern.as_str())),
                )
            }
            Some(_) => {}
        }
    }
    let write = PlsWrite {
        kind: WriteKind::Approve,
        pec_id,
        endpoint_id: p.endpoint_id.clone().unwrap_or_default(),
        description: None,
        why: format!("consumer subscription {} allowed by {allowed_by}", endpoint.subscription()),
        allowed_by: Some(allowed_by),
    };
    if rules.dry_run {
        Decision::DryRun(write)
    } else {
        Decision::Write(write)
    }
}

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The connection reads the new state, settled.
    Done,
    /// ARM took the PUT; the connection still applies it (the next run sees it settled, not Pending).
    Sent,
    /// Read before the PUT (or right after), the connection was not the Pending one decided on any more:
    /// someone else decided, or it names another endpoint. Nothing of ours is in it.
    Changed(String),
    /// The connection was gone before the PUT.
    Vanished,
    /// ARM did not apply the PUT (409, 412, 404) or its answer was unreadable: the next run decides again.
    NotApplied(String),
    /// The write failed (a missing permission, ARM refusing, trouble): why.
    Failed(String),
}

impl WriteOutcome {
    /// The audit's outcome code for a write of `kind` that ended so.
    pub fn code(&self, kind: WriteKind) -> &'static str {
        match (self, kind) {
            (WriteOutcome::Done, WriteKind::Approve) => "approved",
            (WriteOutcome::Done, WriteKind::Reject) => "rejected",
            (WriteOutcome::Sent, WriteKind::Approve) => "approval-sent",
            (WriteOutcome::Sent, WriteKind::Reject) => "rejection-sent",
            (WriteOutcome::Changed(_), _) => "changed",
            (WriteOutcome::Vanished, _) => "vanished",
            (WriteOutcome::NotApplied(_), _) => "not-applied",
            (WriteOutcome::Failed(_), _) => "failed",
        }
    }
    /// The write took effect or is taking it.
    pub fn took(&self) -> bool {
        matches!(self, WriteOutcome::Done | WriteOutcome::Sent)
    }
}

impl fmt::Display for WriteOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteOutcome::Done => f.write_str("done, confirmed"),
            WriteOutcome::Sent => f.write_str("accepted, still applying (the next run sees it settled)"),
            WriteOutcome::Changed(why) => write!(f, "changed before our write: {why}"),
            WriteOutcome::Vanished => f.write_str("the connection was gone before our write"),
            WriteOutcome::NotApplied(why) => write!(f, "not applied: {why}"),
            WriteOutcome::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// What the approving protocol's report means for a write of `kind`.
pub fn after_write(kind: WriteKind, observed: &Observed) -> WriteOutcome {
    let want = kind.status();
    match observed {
        Observed::Approval(Approval::Sent { last: Some(p), .. }) if pec::settled_as(p, &want) => WriteOutcome::Done,
        Observed::Approval(Approval::Sent { last: Some(p), .. }) if p.status == want => WriteOutcome::Sent,
        Observed::Approval(Approval::Sent { last: Some(p), .. }) => {
            WriteOutcome::Changed(format!("it reads {:?} after our write", p.status))
        }
        Observed::Approval(Approval::Sent { last: None, .. }) => WriteOutcome::Sent,
        Observed::Approval(Approval::Changed(p)) => {
            WriteOutcome::Changed(format!("it read {:?} right before our write", p.status))
        }
        Observed::Approval(Approval::Vanished) => WriteOutcome::Vanished,
        Observed::Approval(Approval::NotApplied(why)) => WriteOutcome::NotApplied(why.clone()),
        Observed::Failed(Failure::Transient { why, .. }) => WriteOutcome::Failed(format!("transient: {why}")),
        Observed::Failed(Failure::Forbidden(why)) => {
            WriteOutcome::Failed(format!("forbidden (the role needs {PLS_TYPE}/{CONNECTIONS}/write): {why}"))
        }
        Observed::Failed(Failure::Refused(why) | Failure::Unreadable(why)) => WriteOutcome::Failed(why.clone()),
        other => WriteOutcome::Failed(format!("internal: the approving protocol reported {other:?}")),
    }
}

/// The connections this app has seen Pending, and since when: the only memory of a connection's age
/// (a PLS connection reports no creation time). Kept per process, so a restart starts every count
/// again: a rejection can come later than `MPE_PLS_REJECT_AFTER`, never earlier.
#[derive(Debug, Default)]
pub struct PendingBook {
    since: HashMap<String, DateTime<Utc>>,
}

impl PendingBook {
    /// The book's key of a connection: its id and its private endpoint's, case-folded (a connection
    /// deleted and made again by another endpoint is another connection).
    pub fn key(p: &Pec) -> String {
        format!("{}|{}", p.id.to_ascii_lowercase(), p.endpoint_id.as_deref().unwrap_or_default().to_ascii_lowercase())
    }

    /// How long `p` has been seen Pending, as of `now`; a connection not yet in the book is recorded
    /// now (0), unless the book is full ([`MAX_BOOK`]).
    pub fn pending_for(&mut self, p: &Pec, now: DateTime<Utc>) -> Duration {
        let key = Self::key(p);
        let since = match self.since.get(&key) {
            Some(t) => *t,
            None if self.since.len() < MAX_BOOK => *self.since.entry(key).or_insert(now),
            None => now,
        };
        (now - since).to_std().unwrap_or(Duration::ZERO)
    }

    /// After reading `pls`'s connections whole: forget those of it that are no longer Pending.
    pub fn keep_only(&mut self, pls: &ResourceId, pending: &HashSet<String>) {
        let prefix = format!("{}/", pls.key());
        self.since.retain(|k, _| !k.starts_with(&prefix) || pending.contains(k));
    }

    pub fn len(&self) -> usize {
        self.since.len()
    }
    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_lists_plss_and_scopes() {
        let pls = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/p";
        let w = parse_watch(&format!(
            "{pls}, /subscriptions/00000000-0000-0000-0000-000000000002;/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/rg {pls}"
        ))
        .unwrap();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(matches!(&w[0], Watched::Pls(id) if id.name() == "p"));
        assert!(matches!(&w[2], Watched::Scope(s) if s.resource_group() == Some("rg")));
        assert!(parse_watch("").unwrap().is_empty());
        for bad in [
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
            "pls1",
            "/subscriptions/not-a-guid",
        ] {
            assert!(parse_watch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reject_after_is_off_or_a_duration() {
        assert_eq!(parse_reject_after("off").unwrap(), None);
        assert_eq!(parse_reject_after(" OFF ").unwrap(), None);
        assert_eq!(parse_reject_after("").unwrap(), None);
        assert_eq!(parse_reject_after("168h").unwrap(), Some(Duration::from_secs(168 * 3600)));
        assert!(parse_reject_after("5s").unwrap_err().contains("shorter than a minute"));
        assert!(parse_reject_after("a week").is_err());
    }

    #[test]
    fn patterns_are_anchored_and_cannot_escape_the_anchors() {
        let p = Pattern::new("CHG[0-9]{7}").unwrap();
        assert!(p.matches("CHG1234567"));
        assert!(!p.matches("see CHG1234567"), "anchored at the start");
        assert!(!p.matches("CHG1234567 please"), "anchored at the end");
        assert!(Pattern::new("CHG[0-9]{7}\\b.*").unwrap().matches("CHG1234567 please"));
        // A pattern that is not a regular expression on its own is refused, so `)` cannot close the
        // anchoring group early.
        assert!(Pattern::new("x)|(.*").is_err());
        assert!(Pattern::new("(").is_err());
        assert!(Pattern::new(&"a".repeat(1001)).is_err());
        assert!(Pattern::new("a|ab").unwrap().matches("ab"), "the whole message, not the leftmost-first match");
    }

    #[test]
    fn the_most_specific_scope_decides_the_pattern() {
        let rules = MessageRules::parse(Some(
            r#"{"*": "T-[0-9]+", "/subscriptions/s/resourceGroups/rg": "", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/strict": "CHG[0-9]{7}"}"#,
        ))
        .unwrap();
        let id = |s: &str| ResourceId::parse(s).unwrap();
        let strict = id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/strict");
        let free = id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/free");
        let other = id("/subscriptions/t/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/x");
        assert_eq!(rules.for_pls(&strict).map(Pattern::as_str), Some("CHG[0-9]{7}"));
        assert_eq!(rules.for_pls(&free), None, "an empty pattern requires nothing there");
        assert_eq!(rules.for_pls(&other).map(Pattern::as_str), Some("T-[0-9]+"));
        assert_eq!(MessageRules::parse(None).unwrap(), MessageRules::default());
        for bad in ["[]", "{\"*\": 3}", "{\"rg\": \"x\"}", "{\"*\": \"(\"}", "not json"] {
            assert!(MessageRules::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_book_counts_from_the_first_sight_and_forgets_what_is_no_longer_pending() {
        let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let pls =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/p")
                .unwrap();
        let p = Pec {
            id: format!("{pls}/privateEndpointConnections/c1"),
            endpoint_id: Some(
                "/subscriptions/c/resourceGroups/r/providers/Microsoft.Network/privateEndpoints/e".into(),
            ),
            status: PecStatus::Pending,
            description: None,
            group_ids: vec![],
            provisioning_state: None,
            etag: None,
        };
        let mut book = PendingBook::default();
        assert_eq!(book.pending_for(&p, t0), Duration::ZERO);
        assert_eq!(book.pending_for(&p, t0 + chrono::Duration::minutes(5)), Duration::from_secs(300));
        book.keep_only(&pls, &HashSet::from([PendingBook::key(&p)]));
        assert_eq!(book.len(), 1);
        book.keep_only(&pls, &HashSet::new());
        assert!(book.is_empty());
        assert_eq!(book.pending_for(&p, t0 + chrono::Duration::minutes(9)), Duration::ZERO, "counted afresh");
    }
}
