//! The configuration contract is written down once, in `config::SETTINGS` (and `config::ENVIRONMENT`
//! for what the platform sets): the docs/configuration.md's table must say exactly the same, row for row.

use mpe_approver::config::{ENVIRONMENT, SETTINGS};
use std::collections::BTreeMap;

/// The rows of the docs/configuration.md's "Configuration" table: name → (default cell, meaning cell).
fn readme_rows() -> BTreeMap<String, (String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    let start = readme.find("| setting | default | meaning |").expect("docs/configuration.md has the settings table");
    let mut rows = BTreeMap::new();
    for line in readme[start..].lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 3, "docs/configuration.md settings row with {} cells: {line}", cells.len());
        let name = cells[0].trim_matches('`').to_string();
        assert!(
            rows.insert(name.clone(), (cells[1].to_string(), cells[2].to_string())).is_none(),
            "docs/configuration.md lists {name} twice"
        );
    }
    rows
}

#[test]
fn the_readme_table_is_the_settings_table() {
    let rows = readme_rows();
    let mut missing = Vec::new();
    for s in SETTINGS.iter().chain(ENVIRONMENT) {
        match rows.get(s.name) {
            None => missing.push(format!("| `{}` | {} | {} |", s.name, s.default_cell(), s.meaning)),
            Some((default, meaning)) => {
                assert_eq!(*default, s.default_cell(), "docs/configuration.md's default of {}", s.name);
                assert_eq!(meaning, s.meaning, "docs/configuration.md's meaning of {}", s.name);
            }
        }
    }
    assert!(missing.is_empty(), "docs/configuration.md's settings table lacks these rows:\n{}", missing.join("\n"));
    for name in rows.keys() {
        assert!(
            SETTINGS.iter().chain(ENVIRONMENT).any(|s| s.name == name),
            "docs/configuration.md lists {name}, which config::SETTINGS / ENVIRONMENT do not"
        );
    }
}
