//! Private endpoint connections (PECs) at the target, normalised; and the approval body.
//!
//! Shapes accepted: `{ "value": [...] }`, a bare array (IoT Hub, Data Factory examples), and a parent
//! resource carrying `properties.privateEndpointConnections` (Key Vault, Web, SignalR, Cosmos DB ...).

use crate::resource_id::{last_segment, ResourceId};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PecStatus {
    Pending,
    Approved,
    Rejected,
    Disconnected,
    Other(String),
}

impl PecStatus {
    pub fn parse(s: &str) -> PecStatus {
        match s.to_ascii_lowercase().as_str() {
            "pending" => PecStatus::Pending,
            "approved" => PecStatus::Approved,
            "rejected" => PecStatus::Rejected,
            "disconnected" => PecStatus::Disconnected,
            _ => PecStatus::Other(s.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pec {
    /// The PEC's ARM id as the target reported it.
    pub id: String,
    /// `properties.privateEndpoint.id`: the private endpoint in the service's managed network.
    pub endpoint_id: Option<String>,
    pub status: PecStatus,
    pub description: Option<String>,
    /// `groupId` / `groupIds` where the target reports them (Cosmos DB, Kusto, SignalR).
    pub group_ids: Vec<String>,
    pub provisioning_state: Option<String>,
    /// The PEC's `etag` where the target returns a non-empty one (Key Vault): the approval PUT carries
    /// it as `If-Match`, so a change since our read (a human's rejection) fails with 412.
    pub etag: Option<String>,
}

impl Pec {
    /// Whether the PEC is from the private endpoint `endpoint_id` (case-insensitive; never when either
    /// is unknown).
    pub fn from_endpoint(&self, endpoint_id: Option<&str>) -> bool {
        matches!((self.endpoint_id.as_deref(), endpoint_id), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
    }

    /// Last segment of the private endpoint id, the name the managed service gave it.
    pub fn endpoint_name(&self) -> Option<&str> {
        self.endpoint_id.as_deref().and_then(last_segment)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PecError {
    #[error("private endpoint connection list is neither an array, a {{value: [...]}} page, nor a resource with properties.privateEndpointConnections")]
    UnknownListShape,
    #[error("private endpoint connection has no id")]
    NoId,
    #[error("private endpoint connection {0} has no privateLinkServiceConnectionState.status")]
    NoStatus(String),
}

/// Parse one PEC.
pub fn parse_pec(v: &Value) -> Result<Pec, PecError> {
    let id = v.get("id").and_then(Value::as_str).ok_or(PecError::NoId)?.to_string();
    let props = v.get("properties").unwrap_or(&Value::Null);
    let state = props.get("privateLinkServiceConnectionState").unwrap_or(&Value::Null);
    let status = state.get("status").and_then(Value::as_str).ok_or_else(|| PecError::NoStatus(id.clone()))?;
    let mut group_ids = Vec::new();
    if let Some(g) = props.get("groupId").and_then(Value::as_str) {
        group_ids.push(g.to_string());
    }
    if let Some(gs) = props.get("groupIds").and_then(Value::as_array) {
        group_ids.extend(gs.iter().filter_map(Value::as_str).map(str::to_string));
    }
    Ok(Pec {
        endpoint_id: props.pointer("/privateEndpoint/id").and_then(Value::as_str).map(str::to_string),
        status: PecStatus::parse(status),
        description: state.get("description").and_then(Value::as_str).map(str::to_string),
        group_ids,
        provisioning_state: props.get("provisioningState").and_then(Value::as_str).map(str::to_string),
        etag: v.get("etag").and_then(Value::as_str).map(str::trim).filter(|e| !e.is_empty()).map(str::to_string),
        id,
    })
}

/// The items of a PEC list in any of the shapes ARM uses, plus the `nextLink` of a page.
pub fn list_items(body: &Value) -> Result<(&[Value], Option<&str>), PecError> {
    if let Some(a) = body.as_array() {
        return Ok((a, None));
    }
    if let Some(a) = body.get("value").and_then(Value::as_array) {
        return Ok((a, body.get("nextLink").and_then(Value::as_str).filter(|s| !s.is_empty())));
    }
    if let Some(a) = body.pointer("/properties/privateEndpointConnections").and_then(Value::as_array) {
        return Ok((a, None));
    }
    Err(PecError::UnknownListShape)
}

/// One page of a PEC list, parsed.
#[derive(Debug)]
pub struct PecPage {
    pub pecs: Vec<Pec>,
    /// Entries that cannot be read, beside the good ones: one odd entry neither hides the others nor gets
    /// approved.
    pub unreadable: Vec<PecError>,
    /// The next page's link (`{value, nextLink}` pages only).
    pub next_link: Option<String>,
}

/// Parse one page of a PEC list in any of the shapes ARM uses.
pub fn parse_page(body: &Value) -> Result<PecPage, PecError> {
    let (items, next) = list_items(body)?;
    let mut page = PecPage { pecs: Vec::new(), unreadable: Vec::new(), next_link: next.map(str::to_string) };
    for it in items {
        match parse_pec(it) {
            Ok(p) => page.pecs.push(p),
            Err(e) => page.unreadable.push(e),
        }
    }
    Ok(page)
}

/// [`parse_page`] without the next link: the PECs and the unreadable entries.
pub fn parse_list(body: &Value) -> Result<(Vec<Pec>, Vec<PecError>), PecError> {
    parse_page(body).map(|p| (p.pecs, p.unreadable))
}

/// Descriptions are capped near 140 characters by some services: the marker is trimmed, never the message.
pub const MAX_DESCRIPTION: usize = 140;

/// The 8 hex digits that name an MPE in our marker: the start of a UUIDv5 of its case-folded id.
pub fn marker_hash(mpe_id: &ResourceId) -> String {
    let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("mpe-approver:{}", mpe_id.key()).as_bytes());
    u.simple().to_string()[..8].to_string()
}

/// The marker we append to a PEC's description when we approve it for `mpe_id`: `[mpe-approver #<hash>]`,
/// or `[mpe-approver #<hash>.<incarnation>]` when the MPE reports when it was created
/// ([`crate::providers::MpeView::incarnation`]), so a PEC approved for an earlier MPE of the same name is
/// told apart from one approved for this one.
pub fn marker(mpe_id: &ResourceId, incarnation: Option<&str>) -> String {
    format!("[mpe-approver #{}]", tagged_hash(mpe_id, incarnation))
}

fn tagged_hash(mpe_id: &ResourceId, incarnation: Option<&str>) -> String {
    match incarnation {
        Some(i) => format!("{}.{i}", marker_hash(mpe_id)),
        None => marker_hash(mpe_id),
    }
}

/// Whether the PEC's description says we approved it for `mpe_id` (any incarnation): our marker (full
/// or short form), or the long form `Approved by mpe-approver for <mpe id> (...)`.
pub fn carries_marker(pec: &Pec, mpe_id: &ResourceId) -> bool {
    !marker_tags(pec, mpe_id).is_empty()
}

/// Every marker for `mpe_id` on the PEC, in order: `None` for one that names no incarnation, `Some(tag)`
/// for one that does. Empty when the PEC carries none.
pub fn marker_tags(pec: &Pec, mpe_id: &ResourceId) -> Vec<Option<String>> {
    let Some(d) = pec.description.as_deref().map(str::to_ascii_lowercase) else { return Vec::new() };
    let mut tags = Vec::new();
    if d.contains(&format!("approved by mpe-approver for {} ", mpe_id.key())) {
        tags.push(None);
    }
    let needle = format!("#{}", marker_hash(mpe_id));
    let mut rest = d.as_str();
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        if after.starts_with(']') {
            tags.push(None);
        } else if let Some((tag, _)) = after.strip_prefix('.').and_then(|t| t.split_once(']')) {
            if !tag.is_empty() && tag.len() <= 16 && tag.chars().all(|c| c.is_ascii_hexdigit()) {
                tags.push(Some(tag.to_string()));
            }
        }
        rest = after;
    }
    tags
}

/// Whom our marker on a PEC names, seen from an MPE's incarnation (`None`: the MPE does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// No marker for this MPE.
    No,
    /// Approved by us for this MPE as it is now, or for an incarnation that cannot be told apart (a
    /// marker without a tag, or an MPE that does not report its creation).
    ThisIncarnation,
    /// Approved by us for an earlier MPE of the same name, deleted since: a leftover, not this MPE's.
    EarlierIncarnation,
}

pub fn marked(pec: &Pec, mpe_id: &ResourceId, incarnation: Option<&str>) -> Marked {
    let tags = marker_tags(pec, mpe_id);
    if tags.is_empty() {
        return Marked::No;
    }
    match incarnation {
        Some(now) if tags.iter().all(|t| t.as_deref().is_some_and(|t| t != now)) => Marked::EarlierIncarnation,
        _ => Marked::ThisIncarnation,
    }
}

/// The description of the approved PEC: the current one (the request message) kept whole, our marker
/// appended; the marker shortens, then goes, when the whole would pass [`MAX_DESCRIPTION`].
pub fn approved_description(current: Option<&str>, mpe_id: &ResourceId, incarnation: Option<&str>) -> String {
    let base = current.unwrap_or("").trim_end();
    let hash = tagged_hash(mpe_id, incarnation);
    if base.to_ascii_lowercase().contains(&format!("#{hash}]")) {
        return base.to_string();
    }
    let sep = if base.is_empty() { "" } else { " " };
    for m in [marker(mpe_id, incarnation), format!("[#{hash}]")] {
        let whole = format!("{base}{sep}{m}");
        if whole.chars().count() <= MAX_DESCRIPTION {
            return whole;
        }
    }
    base.to_string()
}

/// The PUT body that approves a PEC: the whole GET body back, with the state set to Approved, as the
/// Azure CLI and PowerShell do. Keeps the target's own spelling of `actionRequired`/`actionsRequired`.
/// Read-only envelope fields that some providers refuse on PUT are left as they were.
pub fn approval_body(get_body: &Value, description: &str) -> Value {
    state_body(get_body, "Approved", description)
}

/// The PUT body that sets a PEC's state to `status` (`Approved`, `Rejected`) with `description`: the
/// whole GET body back, as [`approval_body`] writes it.
pub fn state_body(get_body: &Value, status: &str, description: &str) -> Value {
    let mut body = get_body.clone();
    if !body.is_object() {
        body = serde_json::json!({});
    }
    let obj = body.as_object_mut().expect("object");
    let props = obj.entry("properties").or_insert_with(|| serde_json::json!({}));
    if !props.is_object() {
        *props = serde_json::json!({});
    }
    let props = props.as_object_mut().expect("object");
    let state = props.entry("privateLinkServiceConnectionState").or_insert_with(|| serde_json::json!({}));
    if !state.is_object() {
        *state = serde_json::json!({});
    }
    let state = state.as_object_mut().expect("object");
    state.insert("status".into(), Value::String(status.to_string()));
    state.insert("description".into(), Value::String(description.to_string()));
    let key = if state.contains_key("actionRequired") { "actionRequired" } else { "actionsRequired" };
    state.insert(key.into(), Value::String("None".into()));
    body
}

/// Has the target finished applying an approval? SQL reports `Ready`, most others `Succeeded`;
/// a missing provisioningState (IoT Hub, Cognitive Services) counts as done.
pub fn approval_settled(pec: &Pec) -> bool {
    settled_as(pec, &PecStatus::Approved)
}

/// Has the target finished applying a change to `status`? As [`approval_settled`], for any status.
pub fn settled_as(pec: &Pec, status: &PecStatus) -> bool {
    pec.status == *status
        && match pec.provisioning_state.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("succeeded") | Some("ready") => true,
            Some(_) => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn approval_keeps_action_required_spelling() {
        let storage = json!({"id": "x", "properties": {"privateLinkServiceConnectionState": {"status": "Pending", "description": "d", "actionRequired": "None"}}});
        let b = approval_body(&storage, "ok");
        let st = &b["properties"]["privateLinkServiceConnectionState"];
        assert_eq!(st["status"], "Approved");
        assert_eq!(st["actionRequired"], "None");
        assert!(st.get("actionsRequired").is_none());
        let other = json!({"id": "x", "properties": {"privateLinkServiceConnectionState": {"status": "Pending"}}});
        let b = approval_body(&other, "ok");
        assert_eq!(b["properties"]["privateLinkServiceConnectionState"]["actionsRequired"], "None");
        // hostile shapes do not panic
        let _ = approval_body(&json!([1, 2]), "ok");
        let _ = approval_body(&json!({"properties": 3}), "ok");
        let _ = approval_body(&json!({"properties": {"privateLinkServiceConnectionState": "x"}}), "ok");
    }

    fn id(s: &str) -> ResourceId {
        ResourceId::parse(s).unwrap()
    }

    #[test]
    fn the_marker_is_appended_bounded_and_recognised() {
        let mpe =
            id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m");
        let other =
            id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m2");
        assert_eq!(marker_hash(&mpe).len(), 8);
        assert_ne!(marker_hash(&mpe), marker_hash(&other));
        let upper = id(&mpe.as_str().replace("managedPrivateEndpoints/m", "MANAGEDPRIVATEENDPOINTS/M"));
        assert_eq!(marker_hash(&mpe), marker_hash(&upper), "ids compare case-insensitively");
        let d = approved_description(Some("Please approve "), &mpe, None);
        assert_eq!(d, format!("Please approve {}", marker(&mpe, None)));
        assert_eq!(approved_description(Some(&d), &mpe, None), d, "never appended twice");
        assert_eq!(approved_description(None, &mpe, None), marker(&mpe, None));
        // near the cap the marker shortens, then goes; the message is never cut
        let long = "x".repeat(120);
        let d = approved_description(Some(&long), &mpe, None);
        assert!(d.starts_with(&long) && d.ends_with(&format!("[#{}]", marker_hash(&mpe))) && d.len() <= 140, "{d}");
        let longer = "y".repeat(139);
        assert_eq!(approved_description(Some(&longer), &mpe, None), longer);
        let p = |desc: &str| Pec {
            id: "x".into(),
            endpoint_id: None,
            status: PecStatus::Approved,
            description: Some(desc.into()),
            group_ids: vec![],
            provisioning_state: None,
            etag: None,
        };
        assert!(carries_marker(&p(&approved_description(Some(&long), &mpe, None)), &mpe));
        assert!(carries_marker(&p(&approved_description(Some("m"), &mpe, None)), &mpe));
        assert!(!carries_marker(&p(&approved_description(Some("m"), &other, None)), &mpe));
        let legacy = format!("Approved by mpe-approver for {} (correlation c1)", mpe.as_str());
        assert!(carries_marker(&p(&legacy), &mpe));
        assert!(!carries_marker(&p(&legacy), &other), "m is a prefix of m2, never a match");
        assert!(!carries_marker(&p("Please approve"), &mpe));
        // an incarnation tag names the MPE's creation; each form is told apart, the short one too
        let tagged = approved_description(Some("m"), &mpe, Some("a1b2"));
        assert_eq!(tagged, format!("m {}", marker(&mpe, Some("a1b2"))));
        assert_eq!(marker_tags(&p(&tagged), &mpe), vec![Some("a1b2".to_string())]);
        let short = approved_description(Some(&long), &mpe, Some("a1b2"));
        assert_eq!(marker_tags(&p(&short), &mpe), vec![Some("a1b2".to_string())], "{short}");
        assert_eq!(marker_tags(&p(&approved_description(Some("m"), &mpe, None)), &mpe), vec![None]);
        assert_eq!(marker_tags(&p(&legacy), &mpe), vec![None]);
        assert!(marker_tags(&p(&tagged), &other).is_empty());
        assert_eq!(approved_description(Some(&tagged), &mpe, Some("a1b2")), tagged, "never appended twice");
        let both = approved_description(Some(&tagged), &mpe, Some("c3d4"));
        assert!(both.ends_with(&marker(&mpe, Some("c3d4"))), "another incarnation gets its own marker: {both}");
        assert!(marker_tags(&p(&format!("#{}.zz] x", marker_hash(&mpe))), &mpe).is_empty(), "not hex: not ours");
        // seen from an incarnation
        assert_eq!(marked(&p("m"), &mpe, Some("a1b2")), Marked::No);
        assert_eq!(marked(&p(&tagged), &mpe, Some("a1b2")), Marked::ThisIncarnation);
        assert_eq!(marked(&p(&tagged), &mpe, Some("c3d4")), Marked::EarlierIncarnation);
        assert_eq!(marked(&p(&both), &mpe, Some("c3d4")), Marked::ThisIncarnation);
        assert_eq!(marked(&p(&tagged), &mpe, None), Marked::ThisIncarnation, "an MPE that does not say: fail closed");
        assert_eq!(marked(&p(&legacy), &mpe, Some("c3d4")), Marked::ThisIncarnation, "an untagged marker: fail closed");
    }
}
