//! A management group's descendants as ARM lists them, as data.
//!
//! `Management Groups - Get Descendants`: `GET {arm}/providers/Microsoft.Management/managementGroups/{groupId}/descendants`
//! (api-version 2023-04-01; `$skiptoken` pages) answers pages of `{"value": [...], "nextLink": ...}`, each
//! entry a management group (`"id": "/providers/Microsoft.Management/managementGroups/{id}"`) or a
//! subscription (`"id": "/subscriptions/{id}"`) at any depth under the group, with `type`, `name` and
//! `properties.displayName`/`properties.parent.id` (azure-rest-api-specs,
//! `specification/managementgroups/.../stable/2023-04-01/examples/GetDescendants.json`, copied to
//! `tests/fixtures/arm-examples/Microsoft.Management/2023-04-01/GetDescendants.json`). The example spells a
//! subscription's `type` `Microsoft.Management/managementGroups/subscriptions`, the API's description
//! `/subscriptions`: a subscription is recognised by its id, never by its type.

use serde_json::Value;

/// The api-version the descendants are read with.
pub const API_VERSION: &str = "2023-04-01";

/// The path (under the ARM endpoint) of `group`'s descendants list.
pub fn descendants_path(group: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{group}/descendants")
}

/// One page of the descendants list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The subscriptions on the page (lower-case ids, as they appear).
    pub subscriptions: Vec<String>,
    /// The management groups on the page (their ids' last segment, lower-case).
    pub groups: Vec<String>,
    /// The next page, if any.
    pub next_link: Option<String>,
}

/// Whether `s` reads as a subscription id (a GUID).
fn guid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Read one page. An answer without a `value` list, or an entry without a string `id`, is unreadable
/// (an error saying what is wrong); an entry that is neither a subscription nor a management group is
/// skipped (it cannot be a subscription under the group).
pub fn read_page(body: &Value) -> Result<Page, String> {
    let values = body.get("value").and_then(Value::as_array).ok_or("the answer has no \"value\" list")?;
    let mut page = Page::default();
    for (i, entry) in values.iter().enumerate() {
        let id = entry.get("id").and_then(Value::as_str).ok_or_else(|| format!("entry {i} has no string \"id\""))?;
        let segs: Vec<&str> = id.split('/').collect();
        match segs.as_slice() {
            ["", s, sub] if s.eq_ignore_ascii_case("subscriptions") && guid(sub) => {
                page.subscriptions.push(sub.to_ascii_lowercase())
            }
            ["", p, ns, t, name]
                if p.eq_ignore_ascii_case("providers")
                    && ns.eq_ignore_ascii_case("Microsoft.Management")
                    && t.eq_ignore_ascii_case("managementGroups")
                    && !name.is_empty() =>
            {
                page.groups.push(name.to_ascii_lowercase())
            }
            _ => {}
        }
    }
    page.next_link = match body.get("nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"nextLink\" is neither a string nor null".into()),
    };
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subscriptions_by_id_groups_skipped_and_garbage_refused() {
        let body = json!({
            "value": [
                {"id": "/providers/Microsoft.Management/managementGroups/Child", "type": "Microsoft.Management/managementGroups"},
                {"id": "/subscriptions/AAAAAAAA-0000-0000-0000-000000000001", "type": "/subscriptions"},
                {"id": "/subscriptions/not-a-guid"},
                {"id": "/subscriptions/aaaaaaaa-0000-0000-0000-000000000002/resourceGroups/rg"},
            ],
            "nextLink": "https://management.azure.com/next"
        });
        let page = read_page(&body).unwrap();
        assert_eq!(page.subscriptions, ["aaaaaaaa-0000-0000-0000-000000000001"]);
        assert_eq!(page.groups, ["child"]);
        assert_eq!(page.next_link.as_deref(), Some("https://management.azure.com/next"));
        assert_eq!(read_page(&json!({"value": [], "nextLink": null})).unwrap(), Page::default());
        assert!(read_page(&json!({"values": []})).is_err());
        assert!(read_page(&json!({"value": [{"name": "x"}]})).unwrap_err().contains("entry 0"));
        assert!(read_page(&json!({"value": [], "nextLink": 3})).is_err());
    }
}
