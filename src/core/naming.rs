//! Operator-set private endpoint naming rules (`MPE_ENDPOINT_NAMES`): where a service names its private
//! endpoints otherwise than its provider says (Azure may rename; no public recording shows the target side
//! of every service), an operator replaces that provider's rule with a pattern. Pure.
//!
//! `<MPE resource type>=<pattern>`, several separated by `;`. A pattern is literal characters
//! (`A-Z a-z 0-9 . - _`) and the placeholders `{mpe}` (the MPE's name; required) and `{parent}` (the name
//! of the MPE's top-level resource: the factory, cluster, workspace, search service or profile). It gives
//! one exact name, compared whole and case-insensitively with the last segment of a PEC's
//! `privateEndpoint.id`, as the providers' own rules are: never a wildcard, never "any pending PEC".
//! Example: `Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints={parent}.{mpe}`.

use crate::providers;
use crate::resource_id::ResourceId;

/// Longest pattern accepted (Azure private endpoint names are at most 80 characters).
const MAX_PATTERN: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Mpe,
    Parent,
}

/// One provider's naming rule, as set by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    raw: String,
    parts: Vec<Part>,
}

impl Pattern {
    /// Parse `pattern`; why not, when it is not one.
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        let raw = pattern.trim();
        if raw.is_empty() || raw.len() > MAX_PATTERN {
            return Err(format!("a pattern is 1-{MAX_PATTERN} characters"));
        }
        let mut parts = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let (name, tail) = after.split_once('}').ok_or("an unclosed '{'")?;
                parts.push(match name {
                    "mpe" => Part::Mpe,
                    "parent" => Part::Parent,
                    other => return Err(format!("unknown placeholder {{{other}}} (known: {{mpe}}, {{parent}})")),
                });
                rest = tail;
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let literal = &rest[..end];
                if let Some(c) = literal.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
                {
                    return Err(format!("{c:?} is not allowed (letters, digits, '.', '-', '_' and placeholders only)"));
                }
                parts.push(Part::Literal(literal.to_string()));
                rest = &rest[end..];
            }
        }
        if !parts.contains(&Part::Mpe) {
            return Err("a pattern must contain {mpe}: the name must single out the MPE".into());
        }
        Ok(Pattern { raw: raw.to_string(), parts })
    }

    /// The private endpoint name this pattern gives the MPE `id`; `None` when it names `{parent}` and the
    /// id has none.
    pub fn name_for(&self, id: &ResourceId) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Mpe => out.push_str(id.name()),
                Part::Parent => out.push_str(id.name_at(0).filter(|_| id.parent().is_some())?),
            }
        }
        Some(out)
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// The operator's naming rules, per MPE type (`MPE_ENDPOINT_NAMES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointNames(Vec<(&'static str, Pattern)>);

impl EndpointNames {
    /// Parse the setting's value: `type=pattern;type=pattern`. Each type must be a supported MPE type,
    /// named once.
    pub fn parse(raw: &str) -> Result<EndpointNames, String> {
        let mut rules: Vec<(&'static str, Pattern)> = Vec::new();
        for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (ty, pattern) =
                entry.split_once('=').ok_or_else(|| format!("{entry:?} is not <MPE type>=<pattern>"))?;
            let ty = ty.trim();
            let provider = providers::registry()
                .iter()
                .find(|p| p.resource_type().eq_ignore_ascii_case(ty))
                .ok_or_else(|| format!("{ty:?} is not a supported MPE type"))?;
            if rules.iter().any(|(t, _)| *t == provider.resource_type()) {
                return Err(format!("{} is named twice", provider.resource_type()));
            }
            let pattern = Pattern::parse(pattern).map_err(|e| format!("{}: {e}", provider.resource_type()))?;
            rules.push((provider.resource_type(), pattern));
        }
        Ok(EndpointNames(rules))
    }

    /// The operator's name for the MPE `id`'s private endpoint, where a rule covers its type.
    pub fn name_for(&self, id: &ResourceId) -> Option<String> {
        self.0.iter().find(|(t, _)| id.is_type(t)).and_then(|(_, p)| p.name_for(id))
    }

    /// The operator's pattern for MPEs of `resource_type`, if any.
    pub fn pattern_for(&self, resource_type: &str) -> Option<&Pattern> {
        self.0.iter().find(|(t, _)| t.eq_ignore_ascii_case(resource_type)).map(|(_, p)| p)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(s: &str) -> ResourceId {
        ResourceId::parse(s).unwrap()
    }

    #[test]
    fn patterns_give_one_exact_name() {
        let adf = rid("/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/fac/managedVirtualNetworks/default/managedPrivateEndpoints/m1");
        let names = EndpointNames::parse(
            " microsoft.datafactory/factories/managedvirtualnetworks/managedprivateendpoints = adf-{parent}-{mpe} ;",
        )
        .unwrap();
        assert_eq!(names.name_for(&adf).as_deref(), Some("adf-fac-m1"));
        let kusto =
            rid("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m");
        assert_eq!(names.name_for(&kusto), None, "no rule for Data Explorer: its provider's applies");
        assert_eq!(
            names
                .pattern_for("Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints")
                .map(Pattern::as_str),
            Some("adf-{parent}-{mpe}")
        );
        assert!(EndpointNames::parse("").unwrap().is_empty());
    }

    #[test]
    fn anything_wider_or_unknown_is_refused() {
        let k = "Microsoft.Kusto/clusters/managedPrivateEndpoints";
        for (bad, why) in [
            (format!("{k}=*"), "not allowed"),
            (format!("{k}={{parent}}"), "must contain {mpe}"),
            (format!("{k}={{mpe}}.*"), "not allowed"),
            (format!("{k}={{mpe}}?"), "not allowed"),
            (format!("{k}={{name}}"), "unknown placeholder"),
            (format!("{k}={{mpe"), "unclosed"),
            (format!("{k}="), "1-80"),
            (format!("{k}={}", "a".repeat(81)), "1-80"),
            (format!("{k}={{mpe}} x"), "not allowed"),
            (format!("{k}={{mpe}};{k}=x-{{mpe}}"), "named twice"),
            ("Microsoft.Storage/storageAccounts={mpe}".to_string(), "not a supported MPE type"),
            ("{mpe}".to_string(), "not <MPE type>=<pattern>"),
        ] {
            let e = EndpointNames::parse(&bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
