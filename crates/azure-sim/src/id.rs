//! ARM resource ids as the simulated Resource Manager reads them from request paths and test setups:
//! `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{type}/{name}]*`.
//!
//! ARM compares ids case-insensitively and answers with the casing it was given; so does this type.
//! It refuses what ARM would not route (empty or dot segments, odd type/name pairs, characters outside
//! ARM's name alphabet), so a hostile request path is a 400, never a panic.

use std::fmt;

const MAX_LEN: usize = 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not an ARM resource id ({reason}): {shown}")]
pub struct IdError {
    shown: String,
    reason: &'static str,
}

/// A parsed ARM resource id.
#[derive(Clone)]
pub struct ResourceId {
    raw: String,
    subscription: String,
    namespace: String,
    /// (type, name) pairs after the namespace, outermost first.
    types: Vec<(String, String)>,
}

fn err(input: &str, reason: &'static str) -> IdError {
    IdError { shown: input.chars().take(200).collect(), reason }
}

impl ResourceId {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        if input.len() > MAX_LEN {
            return Err(err(input, "too long"));
        }
        let rest = input.strip_prefix('/').ok_or_else(|| err(input, "must start with '/'"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<&str> = rest.split('/').collect();
        let name_ok = |s: &&str| {
            !s.is_empty()
                && *s != "."
                && *s != ".."
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        };
        if !segs.iter().all(name_ok) {
            return Err(err(input, "empty, dot or non-ARM segment"));
        }
        if segs.len() < 8
            || !segs[0].eq_ignore_ascii_case("subscriptions")
            || !segs[2].eq_ignore_ascii_case("resourceGroups")
            || !segs[4].eq_ignore_ascii_case("providers")
            || !segs[5].contains('.')
        {
            return Err(err(input, "expected /subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/..."));
        }
        let tail = &segs[6..];
        if !tail.len().is_multiple_of(2) || tail.iter().any(|s| s.eq_ignore_ascii_case("providers")) {
            return Err(err(input, "types and names must come in pairs"));
        }
        Ok(ResourceId {
            raw: format!("/{rest}"),
            subscription: segs[1].to_string(),
            namespace: segs[5].to_string(),
            types: tail.chunks(2).map(|c| (c[0].to_string(), c[1].to_string())).collect(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn subscription(&self) -> &str {
        &self.subscription
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// The leaf resource's name.
    pub fn name(&self) -> &str {
        self.types.last().map(|(_, n)| n.as_str()).unwrap_or_default()
    }
    /// Name of the resource `depth` levels down from the top, 0 = the outermost (e.g. the cluster).
    pub fn name_at(&self, depth: usize) -> Option<&str> {
        self.types.get(depth).map(|(_, n)| n.as_str())
    }
    /// `Namespace/type[/type]*` in the id's own casing.
    pub fn resource_type(&self) -> String {
        let mut t = self.namespace.clone();
        for (ty, _) in &self.types {
            t.push('/');
            t.push_str(ty);
        }
        t
    }
    pub fn is_type(&self, resource_type: &str) -> bool {
        self.resource_type().eq_ignore_ascii_case(resource_type)
    }
    /// The parent resource, `None` for a top-level one.
    pub fn parent(&self) -> Option<ResourceId> {
        if self.types.len() < 2 {
            return None;
        }
        let (last_type, last_name) = self.types.last()?;
        let cut = self.raw.len() - last_type.len() - last_name.len() - 2;
        let mut p = self.clone();
        p.types.pop();
        p.raw.truncate(cut);
        Some(p)
    }
    /// Lower-cased id, for keys.
    pub fn key(&self) -> String {
        self.raw.to_ascii_lowercase()
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.raw.eq_ignore_ascii_case(&other.raw)
    }
}
impl Eq for ResourceId {}

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
impl AsRef<str> for ResourceId {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keeps_casing_and_compares_case_insensitively() {
        let s = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/Clusters/c/ManagedPrivateEndpoints/m/";
        let id = ResourceId::parse(s).unwrap();
        assert_eq!(id.as_str(), s.trim_end_matches('/'));
        assert_eq!(id.resource_type(), "Microsoft.Kusto/Clusters/ManagedPrivateEndpoints");
        assert_eq!((id.name(), id.name_at(0), id.subscription()), ("m", Some("c"), "s"));
        let parent = id.parent().unwrap();
        assert_eq!(parent.as_str(), "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/Clusters/c");
        assert!(parent.parent().is_none());
        assert_eq!(id, ResourceId::parse(&s.to_lowercase()).unwrap());
    }

    #[test]
    fn refuses_what_arm_would_not_route() {
        for bad in [
            "",
            "/",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/../x",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a%2Fb",
            "/subscriptions/s/resourceGroups/rg/providers/Storage/storageAccounts/a",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Resources/tags/default",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "{bad}");
        }
    }
}
