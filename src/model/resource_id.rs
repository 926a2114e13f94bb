//! `ResourceId`: an Azure Resource Manager id, parsed once at the edge.
//!
//! Parse, don't validate: untrusted strings (event subjects, queue messages, ARM bodies) become a
//! `ResourceId` here or are rejected with a reason. Comparisons are case-insensitive, as ARM's are;
//! the original casing is kept for the URLs we build.

use std::fmt;

/// Longest id we accept. ARM ids are far shorter in practice; this bounds hostile input.
const MAX_LEN: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid resource id {input:?}: {reason}")]
pub struct ResourceIdError {
    pub input: String,
    pub reason: &'static str,
}

/// A parsed ARM resource id of the form
/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{type}/{name}]*`.
#[derive(Clone)]
pub struct ResourceId {
    raw: String,
    subscription: String,
    resource_group: String,
    namespace: String,
    /// (type, name) pairs after the namespace, outermost first.
    types: Vec<(String, String)>,
}

fn err(input: &str, reason: &'static str) -> ResourceIdError {
    let mut shown: String = input.chars().take(200).collect();
    if input.chars().count() > 200 {
        shown.push('…');
    }
    ResourceIdError { input: shown, reason }
}

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

impl ResourceId {
    pub fn parse(input: &str) -> Result<Self, ResourceIdError> {
        if input.len() > MAX_LEN {
            return Err(err(input, "longer than 1024 characters"));
        }
        let rest = input.strip_prefix('/').ok_or_else(|| err(input, "must start with '/'"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<&str> = rest.split('/').collect();
        for s in &segs {
            if s.is_empty() {
                return Err(err(input, "empty path segment"));
            }
            if *s == "." || *s == ".." {
                return Err(err(input, "'.' or '..' segment"));
            }
            if !segment_ok(s) {
                return Err(err(
                    input,
                    "segment with a character outside [A-Za-z0-9-_.()] (query strings, encodings and spaces are refused)",
                ));
            }
        }
        if segs.len() < 8 {
            return Err(err(input, "too short for a provider resource id"));
        }
        if !segs[0].eq_ignore_ascii_case("subscriptions") {
            return Err(err(input, "must start with /subscriptions/"));
        }
        if !segs[2].eq_ignore_ascii_case("resourceGroups") {
            return Err(err(input, "expected resourceGroups after the subscription"));
        }
        if !segs[4].eq_ignore_ascii_case("providers") {
            return Err(err(input, "expected providers after the resource group"));
        }
        let namespace = segs[5];
        if !namespace.contains('.') {
            return Err(err(input, "provider namespace must look like Microsoft.Something"));
        }
        let tail = &segs[6..];
        if !tail.len().is_multiple_of(2) {
            return Err(err(input, "resource types and names must come in pairs"));
        }
        if tail.iter().any(|s| s.eq_ignore_ascii_case("providers")) {
            return Err(err(input, "nested provider ids (extension resources) are not supported"));
        }
        let types = tail.chunks(2).map(|c| (c[0].to_string(), c[1].to_string())).collect();
        Ok(ResourceId {
            raw: format!("/{rest}"),
            subscription: segs[1].to_string(),
            resource_group: segs[3].to_string(),
            namespace: namespace.to_string(),
            types,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn subscription(&self) -> &str {
        &self.subscription
    }
    pub fn resource_group(&self) -> &str {
        &self.resource_group
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// The leaf resource's name.
    pub fn name(&self) -> &str {
        &self.types.last().expect("at least one type/name pair").1
    }
    /// Name of the resource `depth` levels up, 0 = the outermost resource (e.g. the cluster).
    pub fn name_at(&self, depth: usize) -> Option<&str> {
        self.types.get(depth).map(|(_, n)| n.as_str())
    }
    /// `Namespace/type[/type]*` in the id's own casing, e.g. `Microsoft.Kusto/Clusters/ManagedPrivateEndpoints`.
    pub fn resource_type(&self) -> String {
        let mut t = self.namespace.clone();
        for (ty, _) in &self.types {
            t.push('/');
            t.push_str(ty);
        }
        t
    }
    /// Case-insensitive comparison of the resource type with `Namespace/type/...`.
    pub fn is_type(&self, resource_type: &str) -> bool {
        self.resource_type().eq_ignore_ascii_case(resource_type)
    }
    /// The parent resource, or `None` for a top-level resource.
    pub fn parent(&self) -> Option<ResourceId> {
        if self.types.len() < 2 {
            return None;
        }
        let mut p = self.clone();
        p.types.pop();
        p.raw = p.rebuild();
        Some(p)
    }
    /// True when `other` is this resource or lies beneath it (case-insensitive).
    pub fn contains(&self, other: &ResourceId) -> bool {
        let mine = self.raw.to_ascii_lowercase();
        let theirs = other.raw.to_ascii_lowercase();
        theirs == mine || theirs.starts_with(&format!("{mine}/"))
    }
    /// Lower-cased id, for keys and hashing.
    pub fn key(&self) -> String {
        self.raw.to_ascii_lowercase()
    }
    fn rebuild(&self) -> String {
        let mut s = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}",
            self.subscription, self.resource_group, self.namespace
        );
        for (t, n) in &self.types {
            s.push('/');
            s.push_str(t);
            s.push('/');
            s.push_str(n);
        }
        s
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.raw.eq_ignore_ascii_case(&other.raw)
    }
}
impl Eq for ResourceId {}

impl std::hash::Hash for ResourceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

/// The id as written, so an id can be handed to APIs that take `impl AsRef<str>` (the simulator's).
impl AsRef<str> for ResourceId {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}
impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceId({})", self.raw)
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}
impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ResourceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What `replay --scope` and the sweep enumerate: a subscription (`/subscriptions/<guid>`) or a resource
/// group (`/subscriptions/<guid>/resourceGroups/<name>`), nothing narrower or wider. Casing is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScope {
    subscription: String,
    resource_group: Option<String>,
}

impl ListScope {
    pub fn parse(input: &str) -> Result<ListScope, String> {
        let shown: String = input.chars().take(200).collect();
        let rest = input.trim().trim_end_matches('/');
        let segs: Vec<&str> = rest.strip_prefix('/').unwrap_or("").split('/').collect();
        let guid = |s: &str| s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        match segs.as_slice() {
            [s, sub] if s.eq_ignore_ascii_case("subscriptions") && guid(sub) => {
                Ok(ListScope { subscription: sub.to_string(), resource_group: None })
            }
            [s, sub, r, rg]
                if s.eq_ignore_ascii_case("subscriptions")
                    && guid(sub)
                    && r.eq_ignore_ascii_case("resourceGroups")
                    && segment_ok(rg)
                    && rg.len() <= 90 =>
            {
                Ok(ListScope { subscription: sub.to_string(), resource_group: Some(rg.to_string()) })
            }
            _ => Err(format!(
                "{shown:?} is not a scope: give /subscriptions/<subscription id> or \
                 /subscriptions/<subscription id>/resourceGroups/<name>"
            )),
        }
    }
    pub fn subscription(&self) -> &str {
        &self.subscription
    }
    pub fn resource_group(&self) -> Option<&str> {
        self.resource_group.as_deref()
    }
    /// Whether `id` lies in this scope (case-insensitive).
    pub fn contains(&self, id: &ResourceId) -> bool {
        id.subscription().eq_ignore_ascii_case(&self.subscription)
            && self.resource_group.as_deref().is_none_or(|rg| id.resource_group().eq_ignore_ascii_case(rg))
    }
}

impl fmt::Display for ListScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/subscriptions/{}", self.subscription)?;
        if let Some(rg) = &self.resource_group {
            write!(f, "/resourceGroups/{rg}")?;
        }
        Ok(())
    }
}

/// Last segment of an id-like path without requiring it to be a full ARM id (private endpoint ids live
/// in Microsoft-owned subscriptions and are only compared by their leaf name).
pub fn last_segment(path: &str) -> Option<&str> {
    path.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUSTO: &str = "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups/kustorptest/providers/Microsoft.Kusto/Clusters/kustoCluster/ManagedPrivateEndpoints/managedPrivateEndpointTest";

    #[test]
    fn list_scopes_are_a_subscription_or_a_resource_group() {
        let sub = "/subscriptions/12345678-1234-1234-1234-123456789098";
        assert_eq!(ListScope::parse(sub).unwrap().to_string(), sub);
        let rg = ListScope::parse(&format!("{sub}/resourceGroups/My-RG/")).unwrap();
        assert_eq!(rg.to_string(), format!("{sub}/resourceGroups/My-RG"));
        assert!(rg.contains(&ResourceId::parse(KUSTO.replace("kustorptest", "my-rg").as_str()).unwrap()));
        assert!(!rg.contains(&ResourceId::parse(KUSTO).unwrap()));
        for bad in [
            "",
            "/",
            "/subscriptions/not-a-guid",
            "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups",
            "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups/..",
            "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c",
            "/providers/Microsoft.Management/managementGroups/mg",
            "subscriptions/12345678-1234-1234-1234-123456789098",
        ] {
            assert!(ListScope::parse(bad).unwrap_err().contains("is not a scope"), "{bad:?}");
        }
    }

    #[test]
    fn parses_and_keeps_casing() {
        let id = ResourceId::parse(KUSTO).unwrap();
        assert_eq!(id.subscription(), "12345678-1234-1234-1234-123456789098");
        assert_eq!(id.resource_type(), "Microsoft.Kusto/Clusters/ManagedPrivateEndpoints");
        assert!(id.is_type("microsoft.kusto/clusters/managedprivateendpoints"));
        assert_eq!(id.name(), "managedPrivateEndpointTest");
        assert_eq!(id.name_at(0), Some("kustoCluster"));
        assert_eq!(id.parent().unwrap().as_str(), "/subscriptions/12345678-1234-1234-1234-123456789098/resourceGroups/kustorptest/providers/Microsoft.Kusto/Clusters/kustoCluster");
        let lower = ResourceId::parse(&KUSTO.to_lowercase()).unwrap();
        assert_eq!(id, lower);
    }

    #[test]
    fn rejects_hostile_ids() {
        for bad in [
            "",
            "subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/../b",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a?api-version=1",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a%2Fb",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a b",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts//a",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts",
            "/subscriptions/x/resourceGroups/rg/providers/Storage/storageAccounts/a",
            "/subscriptions/x/foo/rg/providers/Microsoft.Storage/storageAccounts/a",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Authorization/locks/l",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a#frag",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/\u{202e}a",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "accepted {bad:?}");
        }
        assert!(ResourceId::parse(&format!("/subscriptions/{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn contains_is_case_insensitive_and_segment_aware() {
        let a =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct")
                .unwrap();
        let pec = ResourceId::parse("/subscriptions/S/resourcegroups/RG/providers/microsoft.storage/storageaccounts/ACCT/privateEndpointConnections/p1").unwrap();
        let other = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct2/privateEndpointConnections/p1").unwrap();
        assert!(a.contains(&pec));
        assert!(!a.contains(&other));
    }

    #[test]
    fn last_segment_works() {
        assert_eq!(last_segment("/a/b/c"), Some("c"));
        assert_eq!(last_segment("/a/b/c/"), Some("c"));
        assert_eq!(last_segment(""), None);
    }
}
