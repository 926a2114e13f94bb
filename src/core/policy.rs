//! The approval policy: which MPE sources may be approved to which targets. Pure.
//!
//! `MPE_ALLOW` holds comma-separated rules, each `same-subscription` (source and target in one
//! subscription) or `<source scope>-><target scope>`, where a scope is `*`, `/subscriptions/<id>`, a
//! resource group id or a resource id, matched case-insensitively on whole id segments
//! (`/resourceGroups/rg1` does not match `rg10`). Unset means `same-subscription`; set, only the listed
//! rules apply. On top, the target's own tags (read at approval time):
//! - `mpe-approver: deny` refuses whatever the rules say;
//! - `mpe-approver-allow-from: <sub>,<sub>` allows MPEs from those subscriptions.
//!
//! A scope may also name a management group, `/providers/Microsoft.Management/managementGroups/<id>`: it
//! holds the subscriptions under that group as the shell resolved them ([`Groups`], read from ARM's
//! descendants list and cached by `handler/groups.rs`). A group not resolved (the identity may not read
//! the hierarchy, ARM failed, not read yet) holds no subscription: its rule allows nothing, and a refusal
//! says why ([`Refusal::unresolved`]).
//!
//! Tags fail closed: a tag of ours whose value is not understood (anything but `deny`, surrounding
//! whitespace and letter case aside; an allow-from entry that is not a subscription id), or a tag whose
//! name is ours but for whitespace, invisible characters, `-`/`_` or case (`mpe-approver\u{200b}`),
//! refuses the approval like `deny`, naming the tag and its value, quoted ([`crate::logsafe::q`]).

use crate::logsafe::q;
use crate::resource_id::ResourceId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The tag that, set to `deny` on a target, refuses every approval to it.
pub const DENY_TAG: &str = "mpe-approver";
/// The tag listing source subscriptions a target accepts MPEs from (comma-separated ids).
pub const ALLOW_FROM_TAG: &str = "mpe-approver-allow-from";
/// The setting the rules come from.
pub const SETTING: &str = "MPE_ALLOW";

/// The id of a management group is this prefix and its name.
pub const GROUP_PREFIX: &str = "/providers/Microsoft.Management/managementGroups/";

/// A scope: `*`, the lower-cased segments of an id prefix, or a management group (its lower-cased name;
/// only in a rule, [`Scope::parse_rule`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Any,
    Prefix(Vec<String>),
    Group(String),
}

/// Whether `name` may be a management group's id: 1 to 90 letters, digits, `-`, `_`, `.`, `(`, `)`
/// (what Azure accepts for a group id), not ending in `.`.
fn group_name_ok(name: &str) -> bool {
    (1..=90).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        && !name.ends_with('.')
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(Scope::Any);
        }
        if !s.starts_with('/') {
            return Err(format!("scope {s:?} must be *, /subscriptions/<id>, a resource group id or a resource id"));
        }
        if s.chars().any(|c| matches!(c, '?' | '#' | '%' | '*' | '\\') || c.is_whitespace() || c.is_control()) {
            return Err(format!("scope {s:?} holds a character ids never hold"));
        }
        let segs: Vec<String> = s.trim_end_matches('/')[1..].split('/').map(str::to_ascii_lowercase).collect();
        if segs.iter().any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(format!("scope {s:?} has an empty or relative segment"));
        }
        if segs.len() < 2 || segs[0] != "subscriptions" {
            return Err(format!("scope {s:?} must start with /subscriptions/<id>"));
        }
        if segs.len() >= 3 && segs[2] != "resourcegroups" && segs[2] != "providers" {
            return Err(format!("scope {s:?}: after the subscription comes resourceGroups or providers"));
        }
        if segs.len() == 3 {
            return Err(format!("scope {s:?} ends after {:?} without a name", segs[2]));
        }
        Ok(Scope::Prefix(segs))
    }

    /// A scope of a rule: what [`Scope::parse`] reads, or a management group's id,
    /// `/providers/Microsoft.Management/managementGroups/<id>` (letter case aside).
    pub fn parse_rule(s: &str) -> Result<Scope, String> {
        let t = s.trim().trim_end_matches('/');
        let Some(name) = t
            .get(..GROUP_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(GROUP_PREFIX))
            .map(|_| &t[GROUP_PREFIX.len()..])
        else {
            return Scope::parse(s);
        };
        if !group_name_ok(name) {
            return Err(format!(
                "scope {s:?}: a management group id is 1 to 90 letters, digits, -, _, ., ( or ), after {GROUP_PREFIX}"
            ));
        }
        Ok(Scope::Group(name.to_ascii_lowercase()))
    }

    /// Whether `id` lies at or under this scope, on whole segments. A management group holds nothing here
    /// (see [`Scope::contains_in`]).
    pub fn contains(&self, id: &ResourceId) -> bool {
        self.contains_in(id, &Groups::default())
    }

    /// Whether `id` lies at or under this scope; for a management group, whether `id`'s subscription is
    /// one `groups` resolved under it (an unresolved group holds none).
    pub fn contains_in(&self, id: &ResourceId, groups: &Groups) -> bool {
        match self {
            Scope::Any => true,
            Scope::Prefix(segs) => {
                let mut parts = id.as_str().split('/').filter(|p| !p.is_empty());
                segs.iter().all(|s| parts.next().is_some_and(|p| p.eq_ignore_ascii_case(s)))
            }
            Scope::Group(name) => groups.holds(name, id.subscription()),
        }
    }

    /// The subscription this scope names, if any.
    pub fn subscription(&self) -> Option<&str> {
        match self {
            Scope::Any | Scope::Group(_) => None,
            Scope::Prefix(segs) => segs.get(1).map(String::as_str),
        }
    }

    /// The management group this scope names, if it names one.
    pub fn group(&self) -> Option<&str> {
        match self {
            Scope::Group(name) => Some(name),
            _ => None,
        }
    }
}

/// Why a management group could not be resolved into its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupFailureKind {
    /// Worth reading again later: throttling, server errors, network, a deadline.
    Transient,
    /// The identity may not read the hierarchy (403, 401, no token).
    Forbidden,
    /// Anything else that will not pass by waiting: the group does not exist, an unreadable answer, a
    /// hierarchy longer than the pages a refresh reads.
    Refused,
}

/// What the shell learnt of one management group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The subscriptions under it, at any depth (lower-case ids).
    Subscriptions(BTreeSet<String>),
    /// It could not be read: why (quoted where it holds outside text) and what kind of failure.
    Failed { why: String, kind: GroupFailureKind },
}

/// The management groups the rules name, as resolved by the shell at some instant. Pure data: the
/// policy decides on it; `handler/groups.rs` reads ARM and keeps it fresh. A group missing here is
/// unresolved (it holds no subscription).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups(BTreeMap<String, Resolution>);

impl Groups {
    /// Record what `group` resolved to (names compared case-insensitively).
    pub fn insert(&mut self, group: &str, resolution: Resolution) {
        self.0.insert(group.to_ascii_lowercase(), resolution);
    }

    /// What `group` resolved to, if it was looked at.
    pub fn get(&self, group: &str) -> Option<&Resolution> {
        self.0.get(&group.to_ascii_lowercase())
    }

    /// Whether `subscription` is under `group` as resolved.
    pub fn holds(&self, group: &str, subscription: &str) -> bool {
        match self.get(group) {
            Some(Resolution::Subscriptions(subs)) => subs.iter().any(|s| s.eq_ignore_ascii_case(subscription)),
            _ => false,
        }
    }

    /// Why `group` holds no subscription, if it is not resolved: the text and the kind of failure.
    fn unresolved(&self, group: &str) -> Option<(String, GroupFailureKind)> {
        match self.get(group) {
            Some(Resolution::Subscriptions(_)) => None,
            Some(Resolution::Failed { why, kind }) => Some((why.clone(), kind.clone())),
            None => Some(("it was not read".to_string(), GroupFailureKind::Transient)),
        }
    }
}

/// A policy's refusal: why, and whether a rule naming an unresolved management group might have
/// allowed it (the kind of failure: worth checking again, or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub why: String,
    /// `Some`: a rule that names a management group not resolved could have allowed this pair; the most
    /// hopeful kind of failure among them (a transient one, if any).
    pub unresolved: Option<GroupFailureKind>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Any => f.write_str("*"),
            Scope::Prefix(segs) => write!(f, "/{}", segs.join("/")),
            Scope::Group(name) => write!(f, "{GROUP_PREFIX}{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    SameSubscription,
    Pair { source: Scope, target: Scope },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::SameSubscription => f.write_str("same-subscription"),
            Rule::Pair { source, target } => write!(f, "{source}->{target}"),
        }
    }
}

impl Rule {
    fn allows(&self, source: &ResourceId, target: &ResourceId, groups: &Groups) -> bool {
        match self {
            Rule::SameSubscription => source.subscription().eq_ignore_ascii_case(target.subscription()),
            Rule::Pair { source: s, target: t } => s.contains_in(source, groups) && t.contains_in(target, groups),
        }
    }

    /// The management groups of this rule that are not resolved, when resolving them is all the rule
    /// lacks to allow the pair (every other side contains its id): each group's name, why and the kind.
    fn held_back(
        &self,
        source: &ResourceId,
        target: &ResourceId,
        groups: &Groups,
    ) -> Vec<(String, String, GroupFailureKind)> {
        let Rule::Pair { source: s, target: t } = self else { return Vec::new() };
        let mut missing = Vec::new();
        for (scope, id) in [(s, source), (t, target)] {
            match scope.group().and_then(|g| groups.unresolved(g).map(|u| (g, u))) {
                Some((g, (why, kind))) => missing.push((g.to_string(), why, kind)),
                None if scope.contains_in(id, groups) => {}
                None => return Vec::new(),
            }
        }
        missing
    }
}

/// The rules of `MPE_ALLOW` (or of another setting with its grammar: `MPE_PLS_ALLOW`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
    /// The setting was set (otherwise the default `same-subscription` applies).
    pub configured: bool,
    /// The setting the rules come from ([`SETTING`] unless parsed with [`Policy::parse_setting`]).
    pub setting: &'static str,
    /// What a source is, in a refusal's words ("MPEs"; "private endpoints" for a PLS's consumers).
    pub sources: &'static str,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::defaults_for(SETTING, "MPEs")
    }
}

/// A case-insensitive list of subscription ids and management groups, named after its setting; empty
/// allows all. A management group (`/providers/Microsoft.Management/managementGroups/<id>`) allows the
/// subscriptions the shell resolved under it ([`Groups`]); one not resolved allows none (fail closed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowList {
    setting: &'static str,
    ids: Vec<String>,
    groups: Vec<String>,
}

impl AllowList {
    pub fn parse(setting: &'static str, s: &str) -> Result<AllowList, String> {
        let (mut ids, mut groups) = (Vec::new(), Vec::new());
        for p in s.split([',', ';', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
            if p.starts_with('/') {
                match Scope::parse_rule(p) {
                    Ok(Scope::Group(name)) => groups.push(name),
                    _ => {
                        return Err(format!(
                            "{p:?} is neither a subscription id (a GUID) nor a management group ({GROUP_PREFIX}<id>)"
                        ))
                    }
                }
                continue;
            }
            if !p.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || p.len() != 36 {
                return Err(format!(
                    "{p:?} is not a subscription id (a GUID) nor a management group ({GROUP_PREFIX}<id>)"
                ));
            }
            ids.push(p.to_ascii_lowercase());
        }
        Ok(AllowList { setting, ids, groups })
    }
    /// The subscription ids listed (lower-case).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
    /// The management groups listed (lower-case names).
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
    /// Whether `subscription` is listed, the management groups as resolved in `groups`.
    pub fn permits_in(&self, subscription: &str, groups: &Groups) -> bool {
        (self.ids.is_empty() && self.groups.is_empty())
            || self.ids.iter().any(|s| s.eq_ignore_ascii_case(subscription))
            || self.groups.iter().any(|g| groups.holds(g, subscription))
    }
    /// [`AllowList::permits_in`] with no group resolved: a subscription only a group lists is refused.
    pub fn permits(&self, subscription: &str) -> bool {
        self.permits_in(subscription, &Groups::default())
    }
    /// Why `subscription` is refused, naming the setting (and each listed group not resolved, and why);
    /// `None` when it is allowed.
    pub fn refusal_in(&self, subscription: &str, groups: &Groups) -> Option<String> {
        if self.permits_in(subscription, groups) {
            return None;
        }
        let unresolved: Vec<String> = self
            .groups
            .iter()
            .filter_map(|g| groups.unresolved(g).map(|(why, _)| format!("{GROUP_PREFIX}{g}: {why}")))
            .collect();
        Some(if unresolved.is_empty() {
            format!("subscription {subscription} is not in {}", self.setting)
        } else {
            format!(
                "subscription {subscription} is not in {} (management groups not resolved: {})",
                self.setting,
                unresolved.join("; ")
            )
        })
    }
    /// [`AllowList::refusal_in`] with no group resolved.
    pub fn refusal(&self, subscription: &str) -> Option<String> {
        self.refusal_in(subscription, &Groups::default())
    }
}

/// What allowed an approval, for the audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Rule(String),
    Tag(String),
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Rule(r) => write!(f, "{SETTING} rule {r}"),
            Allowed::Tag(sub) => write!(f, "target tag {ALLOW_FROM_TAG} lists {sub}"),
        }
    }
}

/// The target's tags as ARM reports them (`properties.tags` of `tags/default`), names compared
/// case-insensitively (ARM tag names are case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<String, String>);

/// What the target's tags say before any rule is looked at.
enum TagVerdict {
    Deny,
    /// A tag of ours (or nearly ours) the approver does not understand: the reason.
    NotUnderstood(String),
}

/// Whether a tag name is ours but for whitespace, invisible characters, `-`/`_` and letter case
/// (`mpe_approver\u{200b}`, `MPE Approver`, `mpeapprover-allowfrom`).
fn nearly_ours(name: &str) -> bool {
    let loose: String = name
        .chars()
        .filter(|c| c.is_alphanumeric() && c.escape_debug().len() == 1)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    loose.starts_with("mpeapprover")
}

/// An allow-from entry as the approver reads it: letters, digits and `-` (a subscription id's).
fn subscription_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The entries of an allow-from value: separated by `,`, `;` or whitespace.
fn allow_from_entries(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty())
}

impl Tags {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tags {
        Tags(pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect())
    }
    /// From a `Microsoft.Resources/tags/default` body: `{"properties": {"tags": {...}}}`; non-string
    /// values are ignored.
    pub fn from_body(body: &serde_json::Value) -> Tags {
        let mut m = BTreeMap::new();
        if let Some(obj) = body.pointer("/properties/tags").and_then(serde_json::Value::as_object) {
            for (k, v) in obj {
                if let Some(v) = v.as_str() {
                    m.insert(k.to_ascii_lowercase(), v.to_string());
                }
            }
        }
        Tags(m)
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The tags of ours (names compared after trimming whitespace, case-insensitively) and the
    /// near-misses, read strictly: `deny` refuses; a value or a name not understood refuses too.
    fn verdict(&self, target: &ResourceId) -> Option<TagVerdict> {
        let mut not_understood = None;
        for (name, value) in &self.0 {
            let shown = || format!("{} = {}", q(name), q(value));
            match name.trim() {
                DENY_TAG if value.trim().eq_ignore_ascii_case("deny") => return Some(TagVerdict::Deny),
                DENY_TAG => {
                    not_understood.get_or_insert(format!(
                        "target {target} is tagged {}, a value the approver does not understand (it knows \"deny\"); \
                         refused as if denied: fix or remove the tag, then replay",
                        shown()
                    ));
                }
                ALLOW_FROM_TAG => {
                    if let Some(bad) = allow_from_entries(value).find(|s| !subscription_like(s)) {
                        not_understood.get_or_insert(format!(
                            "target {target} is tagged {}, whose entry {} is not a subscription id; refused until \
                             the tag lists subscription ids only (separated by commas)",
                            shown(),
                            q(bad)
                        ));
                    }
                }
                _ if nearly_ours(name) => {
                    not_understood.get_or_insert(format!(
                        "target {target} has a tag named {} (value {}), like the approver's {DENY_TAG} or \
                         {ALLOW_FROM_TAG} but not either; refused as if denied: rename or remove it, then replay",
                        q(name),
                        q(value)
                    ));
                }
                _ => {}
            }
        }
        not_understood.map(TagVerdict::NotUnderstood)
    }

    /// Why the tags refuse any approval to `target` whatever the rules say (`mpe-approver: deny`, or a
    /// tag of ours not understood), if they do.
    pub fn refusal(&self, target: &ResourceId) -> Option<String> {
        match self.verdict(target)? {
            TagVerdict::Deny => Some(format!("target {target} is tagged {DENY_TAG}: deny")),
            TagVerdict::NotUnderstood(why) => Some(why),
        }
    }

    /// The value of one of our tags, its name trimmed (`" mpe-approver-allow-from"` counts).
    fn ours(&self, tag: &str) -> Option<&str> {
        self.get(tag).or_else(|| self.0.iter().find(|(n, _)| n.trim() == tag).map(|(_, v)| v.as_str()))
    }
}

impl Policy {
    /// Parse `MPE_ALLOW`. An empty or absent value is the default (`same-subscription`).
    pub fn parse(value: Option<&str>) -> Result<Policy, String> {
        Policy::parse_setting(SETTING, "MPEs", value)
    }

    /// The default rule (`same-subscription`) of `setting`, whose sources are called `sources`.
    pub fn defaults_for(setting: &'static str, sources: &'static str) -> Policy {
        Policy { rules: vec![Rule::SameSubscription], configured: false, setting, sources }
    }

    /// Parse `setting`'s value in `MPE_ALLOW`'s grammar; refusals call the sources `sources`. An empty or
    /// absent value is the default (`same-subscription`).
    pub fn parse_setting(setting: &'static str, sources: &'static str, value: Option<&str>) -> Result<Policy, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Policy::defaults_for(setting, sources));
        };
        let mut rules = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.eq_ignore_ascii_case("same-subscription") {
                rules.push(Rule::SameSubscription);
                continue;
            }
            let (s, t) = part.split_once("->").ok_or_else(|| {
                format!("rule {part:?} is neither same-subscription nor <source scope>-><target scope>")
            })?;
            rules.push(Rule::Pair { source: Scope::parse_rule(s)?, target: Scope::parse_rule(t)? });
        }
        if rules.is_empty() {
            return Ok(Policy::defaults_for(setting, sources));
        }
        Ok(Policy { rules, configured: true, setting, sources })
    }

    /// Whether a rule allows any source to any target (`*->*`): worth a warning at start.
    pub fn allows_everything(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, Rule::Pair { source: Scope::Any, target: Scope::Any }))
    }

    /// The management groups the rules name (lower-case, each once): what the shell resolves.
    pub fn groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rules
            .iter()
            .filter_map(|r| match r {
                Rule::Pair { source, target } => Some([source.group(), target.group()]),
                Rule::SameSubscription => None,
            })
            .flatten()
            .flatten()
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Subscriptions the rules name (customer subscriptions: a managed private endpoint never lives there).
    pub fn subscriptions(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                Rule::Pair { source, target } => Some([source.subscription(), target.subscription()]),
                Rule::SameSubscription => None,
            })
            .flatten()
            .flatten()
            .map(str::to_string)
            .collect()
    }

    fn rules_text(&self) -> String {
        let rules: Vec<String> = self.rules.iter().map(Rule::to_string).collect();
        if self.configured {
            format!("{}={}", self.setting, rules.join(","))
        } else {
            format!("{} unset (default same-subscription)", self.setting)
        }
    }

    /// What `allowed` says in the audit: the rule named with its setting, or the tag.
    pub fn allowed_text(&self, allowed: &Allowed) -> String {
        match allowed {
            Allowed::Rule(r) => format!("{} rule {r}", self.setting),
            Allowed::Tag(_) => allowed.to_string(),
        }
    }

    /// Decide: the deny tag (and any tag of ours not understood) first, then any rule, then the
    /// target's allow-from tag. A rule naming a management group holds nothing here: see
    /// [`Policy::evaluate_in`].
    pub fn evaluate(&self, source: &ResourceId, target: &ResourceId, tags: &Tags) -> Result<Allowed, String> {
        self.evaluate_in(source, target, tags, &Groups::default()).map_err(|r| r.why)
    }

    /// [`Policy::evaluate`] with the management groups the rules name as `groups` resolved them: a group's
    /// rule allows a source (or target) only in a subscription resolved under it. When no rule allows and
    /// one naming an unresolved group might have, the refusal names the group and why it is unresolved.
    pub fn evaluate_in(
        &self,
        source: &ResourceId,
        target: &ResourceId,
        tags: &Tags,
        groups: &Groups,
    ) -> Result<Allowed, Refusal> {
        if let Some(why) = tags.refusal(target) {
            return Err(Refusal { why, unresolved: None });
        }
        if let Some(r) = self.rules.iter().find(|r| r.allows(source, target, groups)) {
            return Ok(Allowed::Rule(r.to_string()));
        }
        let sub = source.subscription();
        if let Some(list) = tags.ours(ALLOW_FROM_TAG) {
            if allow_from_entries(list).any(|s| s.eq_ignore_ascii_case(sub)) {
                return Ok(Allowed::Tag(sub.to_string()));
            }
        }
        let tag = match tags.ours(ALLOW_FROM_TAG) {
            Some(v) => format!("its {ALLOW_FROM_TAG} tag ({}) does not list {sub}", q(v)),
            None => format!("it has no {ALLOW_FROM_TAG} tag"),
        };
        let mut why = format!(
            "no rule allows {} in {sub} to be approved on target {target}: {}, and {tag}",
            self.sources,
            self.rules_text()
        );
        let mut held: Vec<(String, String, GroupFailureKind)> =
            self.rules.iter().flat_map(|r| r.held_back(source, target, groups)).collect();
        held.sort_by(|a, b| a.0.cmp(&b.0));
        held.dedup_by(|a, b| a.0 == b.0);
        for (group, reason, _) in &held {
            why.push_str(&format!(
                "; management group {GROUP_PREFIX}{group} is not resolved ({reason}), so its rule allows nothing"
            ));
        }
        let unresolved = if held.iter().any(|h| h.2 == GroupFailureKind::Transient) {
            Some(GroupFailureKind::Transient)
        } else if held.iter().any(|h| h.2 == GroupFailureKind::Forbidden) {
            Some(GroupFailureKind::Forbidden)
        } else {
            held.first().map(|h| h.2.clone())
        };
        Err(Refusal { why, unresolved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ResourceId {
        ResourceId::parse(s).unwrap()
    }
    const SRC: &str = "/subscriptions/aaaa/resourceGroups/rg1/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks/default/managedPrivateEndpoints/m";
    const DST_SAME: &str = "/subscriptions/aaaa/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv";
    const DST_OTHER: &str = "/subscriptions/bbbb/resourceGroups/rg10/providers/Microsoft.KeyVault/vaults/kv";

    #[test]
    fn default_is_same_subscription() {
        let p = Policy::parse(None).unwrap();
        assert_eq!(p, Policy::parse(Some("  ")).unwrap());
        assert!(p.evaluate(&id(SRC), &id(DST_SAME), &Tags::default()).is_ok());
        let e = p.evaluate(&id(SRC), &id(DST_OTHER), &Tags::default()).unwrap_err();
        assert!(e.contains("MPE_ALLOW unset") && e.contains("mpe-approver-allow-from"), "{e}");
    }

    /// Another setting in the same grammar names itself and its sources in refusals and in the audit.
    #[test]
    fn a_policy_of_another_setting_says_so() {
        let p = Policy::parse_setting("MPE_PLS_ALLOW", "private endpoints", None).unwrap();
        assert!(!p.configured);
        let e = p.evaluate(&id(SRC), &id(DST_OTHER), &Tags::default()).unwrap_err();
        assert!(e.starts_with("no rule allows private endpoints in aaaa") && e.contains("MPE_PLS_ALLOW unset"), "{e}");
        let p = Policy::parse_setting("MPE_PLS_ALLOW", "private endpoints", Some("/subscriptions/aaaa->*")).unwrap();
        let allowed = p.evaluate(&id(SRC), &id(DST_OTHER), &Tags::default()).unwrap();
        assert_eq!(p.allowed_text(&allowed), "MPE_PLS_ALLOW rule /subscriptions/aaaa->*");
        assert_eq!(Policy::default().allowed_text(&allowed), "MPE_ALLOW rule /subscriptions/aaaa->*");
        let deny = Tags::from_pairs([("mpe-approver", "deny")]);
        assert!(deny.refusal(&id(DST_OTHER)).unwrap().contains("deny"));
        assert_eq!(Tags::from_pairs([("env", "prod")]).refusal(&id(DST_OTHER)), None);
    }

    #[test]
    fn scopes_match_whole_segments() {
        let p = Policy::parse(Some("/subscriptions/AAAA->/subscriptions/bbbb/resourceGroups/rg1")).unwrap();
        assert!(p.configured);
        assert!(p.evaluate(&id(SRC), &id(DST_OTHER), &Tags::default()).is_err(), "rg1 must not match rg10");
        let p = Policy::parse(Some("/subscriptions/aaaa->/subscriptions/BBBB/resourcegroups/RG10")).unwrap();
        assert_eq!(
            p.evaluate(&id(SRC), &id(DST_OTHER), &Tags::default()).unwrap(),
            Allowed::Rule("/subscriptions/aaaa->/subscriptions/bbbb/resourcegroups/rg10".into())
        );
        // set rules replace the default
        let p = Policy::parse(Some("/subscriptions/cccc->*")).unwrap();
        assert!(p.evaluate(&id(SRC), &id(DST_SAME), &Tags::default()).is_err());
        assert!(Policy::parse(Some("*->*")).unwrap().allows_everything());
        // a resource id scope
        let p = Policy::parse(Some(&format!("*->{DST_OTHER}"))).unwrap();
        assert!(p.evaluate(&id(SRC), &id(DST_OTHER), &Tags::default()).is_ok());
        let longer = format!("{DST_OTHER}x");
        assert!(p.evaluate(&id(SRC), &id(&longer), &Tags::default()).is_err());
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for bad in [
            "everything",
            "/subscriptions/a->",
            "subscriptions/a->*",
            "/subscriptions->*",
            "/subscriptions/a/../b->*",
            "/subscriptions/a//b->*",
            "/subscriptions/a?x->*",
            "/subscriptions/a/foo/b->*",
            "/subscriptions/a/resourceGroups->*",
            "/subscriptions/a%2f->*",
        ] {
            assert!(Policy::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_deny_first_then_allow_from() {
        let p = Policy::parse(Some("*->*")).unwrap();
        let deny = Tags::from_pairs([("MPE-Approver", " Deny ")]);
        assert!(p.evaluate(&id(SRC), &id(DST_SAME), &deny).unwrap_err().contains("deny"));
        let p = Policy::default();
        let allow =
            Tags::from_body(&serde_json::json!({"properties": {"tags": {"mpe-approver-allow-from": "cccc, AAAA"}}}));
        assert_eq!(p.evaluate(&id(SRC), &id(DST_OTHER), &allow).unwrap(), Allowed::Tag("aaaa".into()));
        let other = Tags::from_pairs([("mpe-approver-allow-from", "aaaa0")]);
        assert!(p.evaluate(&id(SRC), &id(DST_OTHER), &other).unwrap_err().contains("does not list"));
        assert_eq!(Policy::parse(Some("/subscriptions/x->/subscriptions/y")).unwrap().subscriptions(), ["x", "y"]);
    }

    /// A tag of ours the approver does not understand refuses, even where a rule (`*->*`) allows, and
    /// the reason names the tag and quotes its value; what is understood still works.
    #[test]
    fn tags_not_understood_fail_closed() {
        let p = Policy::parse(Some("*->*")).unwrap();
        let refused = |pairs: &[(&str, &str)]| p.evaluate(&id(SRC), &id(DST_SAME), &Tags::from_pairs(pairs.to_vec()));
        for value in ["deny\u{200b}", "\u{feff}deny", "dney", "deny!", "Deny, please", "", "allow", "no"] {
            let why = refused(&[("mpe-approver", value)]).unwrap_err();
            assert!(why.contains("mpe-approver") && why.contains("does not understand"), "{value:?}: {why}");
            assert!(why.contains(&crate::logsafe::q(value).to_string()), "the value, quoted: {why}");
            assert!(!why.contains(['\u{200b}', '\u{feff}']), "escaped: {why:?}");
        }
        for name in
            ["mpe-approver\u{200b}", "\u{feff}mpe-approver", "mpe_approver", "MPE Approver", "mpeapprover-allowfrom"]
        {
            let why = refused(&[(name, "deny")]).unwrap_err();
            assert!(why.contains("like the approver's mpe-approver"), "{name:?}: {why}");
            assert!(!why.contains(['\u{200b}', '\u{feff}']), "escaped: {why:?}");
        }
        for value in ["aaaa,\u{200b}bbbb", "/subscriptions/aaaa", "aaaa\u{feff}", "aaaa|bbbb"] {
            let why = refused(&[("mpe-approver-allow-from", value)]).unwrap_err();
            assert!(
                why.contains("mpe-approver-allow-from") && why.contains("not a subscription id"),
                "{value:?}: {why}"
            );
        }
        // Understood: deny with whitespace and any case (including under a name with spaces around it),
        // allow-from with commas, semicolons, spaces, and tags that are not ours.
        for deny in [("mpe-approver", "  DENY\t"), (" mpe-approver ", "deny"), ("mpe-approver", "\u{a0}deny")] {
            assert_eq!(refused(&[deny]).unwrap_err(), format!("target {} is tagged mpe-approver: deny", id(DST_SAME)));
        }
        assert!(refused(&[("env", "deny\u{200b}"), ("mpe", "x"), ("approver", "x")]).is_ok());
        let d = Policy::default();
        let from = Tags::from_pairs([(" mpe-approver-allow-from", "cccc; aaaa dddd")]);
        assert_eq!(d.evaluate(&id(SRC), &id(DST_OTHER), &from).unwrap(), Allowed::Tag("aaaa".into()));
        assert!(d.evaluate(&id(SRC), &id(DST_OTHER), &Tags::from_pairs([("mpe-approver-allow-from", "")])).is_err());
    }

    const MG: &str = "/providers/Microsoft.Management/managementGroups/Platform";

    fn resolved(subs: &[&str]) -> Groups {
        let mut g = Groups::default();
        g.insert("PLATFORM", Resolution::Subscriptions(subs.iter().map(|s| s.to_string()).collect()));
        g
    }

    /// A management group is a scope of a rule (either side), read case-insensitively and shown as its id;
    /// a malformed one is refused; the other grammar is unchanged.
    #[test]
    fn a_rule_may_name_a_management_group() {
        let p = Policy::parse(Some(&format!("same-subscription, {MG}->*, /subscriptions/aaaa->{MG}/"))).unwrap();
        assert_eq!(p.groups(), ["platform"]);
        assert_eq!(
            p.rules_text(),
            "MPE_ALLOW=same-subscription,/providers/Microsoft.Management/managementGroups/platform->*,\
             /subscriptions/aaaa->/providers/Microsoft.Management/managementGroups/platform"
        );
        assert_eq!(p.subscriptions(), ["aaaa"], "a group names no subscription");
        for bad in [
            "/providers/Microsoft.Management/managementGroups/->*",
            "/providers/Microsoft.Management/managementGroups/a/b->*",
            "/providers/Microsoft.Management/managementGroups/a b->*",
            "/providers/Microsoft.Management/managementGroups/a%2f->*",
            "/providers/Microsoft.Management/managementGroups/a.->*",
            "/providers/Microsoft.Management/managementGroup/a->*",
            "/providers/Microsoft.Resources/managementGroups/a->*",
        ] {
            assert!(Policy::parse(Some(bad)).is_err(), "{bad}");
        }
        let long = format!("/providers/Microsoft.Management/managementGroups/{}->*", "a".repeat(91));
        assert!(Policy::parse(Some(&long)).is_err());
        assert!(Scope::parse(MG).is_err(), "a scope outside a rule (MPE_PLS_REQUIRE_MESSAGE) names no group");
        assert_eq!(Policy::parse(Some("/subscriptions/aaaa->*")).unwrap().groups(), Vec::<String>::new());
    }

    /// A group's rule allows exactly the subscriptions resolved under it; unresolved, it allows nothing and
    /// the refusal says why and how (the kind that decides between waiting and parking).
    #[test]
    fn a_group_allows_only_the_subscriptions_resolved_under_it() {
        let p = Policy::parse(Some(&format!("{MG}->*"))).unwrap();
        let none = Tags::default();
        let allowed = p.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &resolved(&["AAAA", "cccc"])).unwrap();
        assert_eq!(p.allowed_text(&allowed), format!("MPE_ALLOW rule {GROUP_PREFIX}platform->*"));
        let outside = p.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &resolved(&["cccc", "aaaa0"])).unwrap_err();
        assert_eq!(outside.unresolved, None, "{outside:?}");
        assert!(!outside.why.contains("not resolved"), "{outside:?}");
        assert!(p.evaluate(&id(SRC), &id(DST_OTHER), &none).is_err(), "without groups a group holds nothing");
        // the deny tag still wins
        let deny = Tags::from_pairs([("mpe-approver", "deny")]);
        assert!(p.evaluate_in(&id(SRC), &id(DST_OTHER), &deny, &resolved(&["aaaa"])).is_err());
        // a target-side group
        let t = Policy::parse(Some(&format!("/subscriptions/aaaa->{MG}"))).unwrap();
        assert!(t.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &resolved(&["bbbb"])).is_ok());
        assert!(t.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &resolved(&["aaaa"])).is_err());

        for (kind, why) in [
            (GroupFailureKind::Forbidden, "ARM GET x: HTTP 403 \"AuthorizationFailed\""),
            (GroupFailureKind::Transient, "ARM GET x: transient failure"),
            (GroupFailureKind::Refused, "ARM GET x: not found"),
        ] {
            let mut g = Groups::default();
            g.insert("platform", Resolution::Failed { why: why.into(), kind: kind.clone() });
            let r = p.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &g).unwrap_err();
            assert_eq!(r.unresolved, Some(kind), "{r:?}");
            assert!(r.why.contains("managementGroups/platform is not resolved") && r.why.contains(why), "{r:?}");
        }
        let unread = p.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &Groups::default()).unwrap_err();
        assert_eq!(unread.unresolved, Some(GroupFailureKind::Transient));
        assert!(unread.why.contains("it was not read"), "{unread:?}");
        // An unresolved group does not matter where the rule's other side refuses, or another rule allows.
        let mut failed = Groups::default();
        failed.insert("platform", Resolution::Failed { why: "403".into(), kind: GroupFailureKind::Forbidden });
        let other = Policy::parse(Some(&format!("{MG}->/subscriptions/zzzz"))).unwrap();
        assert_eq!(other.evaluate_in(&id(SRC), &id(DST_OTHER), &none, &failed).unwrap_err().unresolved, None);
        let both = Policy::parse(Some(&format!("{MG}->*,same-subscription"))).unwrap();
        assert!(both.evaluate_in(&id(SRC), &id(DST_SAME), &none, &failed).is_ok());
    }
}

#[cfg(test)]
mod allow_list_groups {
    use super::*;

    #[test]
    fn a_filter_naming_a_group_takes_its_resolved_subscriptions_only() {
        let a = "0b5e55ed-0000-4000-8000-0000000000a1";
        let b = "0b5e55ed-0000-4000-8000-0000000000b1";
        let list = AllowList::parse("MPE_SOURCE_SUBSCRIPTIONS", &format!("{a}, {GROUP_PREFIX}Platform")).unwrap();
        assert_eq!((list.ids(), list.groups()), (&[a.to_string()][..], &["platform".to_string()][..]));
        let mut groups = Groups::default();
        assert!(list.permits_in(a, &groups), "listed by id");
        assert!(!list.permits_in(b, &groups), "the group not resolved holds nothing");
        assert!(list.refusal_in(b, &groups).unwrap().contains("not resolved"));
        groups.insert("platform", Resolution::Subscriptions([b.to_string()].into()));
        assert!(list.permits_in(&b.to_ascii_uppercase(), &groups));
        assert!(!list.permits(b), "without the resolution, refused");
        groups.insert("platform", Resolution::Failed { why: "HTTP 403".into(), kind: GroupFailureKind::Forbidden });
        assert!(list.refusal_in(b, &groups).unwrap().contains("HTTP 403"));
        let empty = AllowList::parse("MPE_SOURCE_SUBSCRIPTIONS", "").unwrap();
        assert!(empty.permits(b), "empty allows all");
        for bad in ["/providers/Microsoft.Management/managementGroups/", "/subscriptions/x", "not-a-guid"] {
            assert!(AllowList::parse("MPE_SOURCE_SUBSCRIPTIONS", bad).is_err(), "{bad}");
        }
    }
}
