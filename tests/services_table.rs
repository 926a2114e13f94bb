//! The README's services table is the provider registry's: one row per provider, in registry order,
//! with how its "ready" state is read, how its PEC is matched and how sure that rule is
//! (`providers::services_table`). A provider added to the registry is a README row; a row no provider
//! backs fails here.

use mpe_approver::providers::{registry, services_table};

#[test]
fn the_readme_services_table_is_the_registry() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let table = services_table();
    assert!(readme.contains(&table), "README.md's services table is not the registry's; it should read:\n\n{table}");
    assert_eq!(table.lines().count(), registry().len() + 2, "a header, a rule and a row per provider");
    // Every row is a provider's, and no other table row names an MPE resource type.
    let rows = readme
        .lines()
        .filter(|l| l.starts_with("| ") && (l.contains("`Microsoft.") || l.contains("`MpeApprover.")))
        .count();
    assert_eq!(rows, registry().len(), "README rows naming an MPE type");
}
