//! The deployment must not drift from the code: the checked-in `infra/generated/*.json` are exactly what
//! `mpe-approver print ...` prints, the Bicep loads them instead of copying them, and `infra/main.bicep`
//! wires every setting of the configuration contract (`config::SETTINGS`).
//!
//! Regenerate after changing a provider or the target table:
//! `cargo run -- print operations > infra/generated/operations.json` and
//! `cargo run -- print role > infra/generated/role.json`.

use mpe_approver::{config, deploy, providers};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p: PathBuf = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn print(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mpe-approver")).arg("print").args(args).output().expect("run binary");
    assert!(out.status.success(), "print {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn assert_same(generated: &str, checked_in_path: &str, regenerate: &str) {
    let checked_in = read(checked_in_path);
    assert!(
        generated.trim_end() == checked_in.trim_end(),
        "{checked_in_path} drifted from the code; regenerate it with `{regenerate}`\n--- printed ---\n{generated}\n--- checked in ---\n{checked_in}"
    );
}

#[test]
fn generated_operations_match_the_code() {
    assert_same(
        &print(&["operations"]),
        "infra/generated/operations.json",
        "cargo run -- print operations > infra/generated/operations.json",
    );
    let ops: Vec<String> = serde_json::from_str(&read("infra/generated/operations.json")).expect("JSON array");
    assert_eq!(ops, deploy::watched_operations());
}

#[test]
fn generated_role_matches_the_code() {
    assert_same(&print(&["role"]), "infra/generated/role.json", "cargo run -- print role > infra/generated/role.json");
    let role: serde_json::Value = serde_json::from_str(&read("infra/generated/role.json")).expect("JSON object");
    let actions: Vec<String> = serde_json::from_value(role["Actions"].clone()).expect("Actions");
    assert_eq!(actions, deploy::role_actions());
}

/// The documented actions (`infra/reference/actions.tsv`, see `infra/reference/PROVENANCE.md`), lower-cased:
/// ARM treats actions case-insensitively.
fn documented_actions() -> std::collections::BTreeSet<String> {
    let tsv = read("infra/reference/actions.tsv");
    let mut lines = tsv.lines();
    assert_eq!(lines.next().map(|h| h.split('\t').nth(1)), Some(Some("action")), "actions.tsv lost its header");
    lines.filter_map(|l| l.split('\t').nth(1)).map(|a| a.trim().to_lowercase()).collect()
}

#[test]
fn role_actions_are_documented() {
    let documented = documented_actions();
    assert!(documented.len() > 1000, "actions.tsv looks truncated");
    let role: serde_json::Value = serde_json::from_str(&read("infra/generated/role.json")).expect("JSON object");
    let actions: Vec<String> = serde_json::from_value(role["Actions"].clone()).expect("Actions");
    let undocumented: Vec<&String> = actions.iter().filter(|a| !documented.contains(&a.to_lowercase())).collect();
    assert!(
        undocumented.is_empty(),
        "infra/generated/role.json names actions the Azure permissions reference does not list (ARM rejects the whole \
         role): {undocumented:?}; move their target type to deploy::OPT_IN_TARGETS or fix the name"
    );
    assert!(documented.contains(&deploy::TAGS_READ.to_lowercase()));
}

#[test]
fn opt_in_list_matches_the_code() {
    let printed = serde_json::to_string_pretty(&deploy::opt_in_list()).unwrap();
    assert_same(&printed, "infra/generated/role-opt-in.json", "copy the printed JSON below into the file");
    let role = deploy::role_actions();
    for a in deploy::opt_in_actions() {
        assert!(!role.contains(&a), "{a} is both opt-in and in the default role");
    }
}

#[test]
fn target_side_file_matches_the_code() {
    let printed = serde_json::to_string_pretty(&deploy::target_side_actions()).unwrap();
    assert_same(&printed, "infra/generated/role-target-side.json", "copy the printed JSON below into the file");
    // The role is exactly the two sides, so the target side is a subset of role.json.
    let mut both: Vec<String> = deploy::mpe_side_actions().into_iter().chain(deploy::target_side_actions()).collect();
    both.sort();
    both.dedup();
    assert_eq!(both, deploy::role_actions());
}

#[test]
fn version_flag_prints_the_crate_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_mpe-approver")).arg("--version").output().expect("run binary");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("mpe-approver {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn print_role_takes_scopes() {
    let role: serde_json::Value =
        serde_json::from_str(&print(&["role", "--scope", "/subscriptions/a", "--scope", "/subscriptions/b"])).unwrap();
    assert_eq!(role["AssignableScopes"], serde_json::json!(["/subscriptions/a", "/subscriptions/b"]));
    let bad =
        Command::new(env!("CARGO_BIN_EXE_mpe-approver")).args(["print", "role", "--scope", "x y"]).output().unwrap();
    assert!(!bad.status.success());
}

/// All Bicep source under infra/, as (path, text).
fn bicep_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "bicep" || e == "bicepparam") {
                out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("infra"), &mut out);
    assert!(out.iter().any(|(p, _)| p.ends_with("main.bicep")), "infra/main.bicep is missing");
    assert!(out.iter().any(|(p, _)| p.ends_with("subscription.bicep")), "infra/subscription.bicep is missing");
    out
}

#[test]
fn bicep_loads_the_generated_files_and_copies_nothing() {
    let files = bicep_files();
    let all: String = files.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("generated/operations.json'"), "the event filter must loadJsonContent the operations");
    assert!(all.contains("generated/role.json'"), "the role must loadJsonContent generated/role.json");
    assert!(all.contains("generated/role-target-side.json'"), "targets-only roles must load the target side");
    for (path, text) in &files {
        for op in deploy::watched_operations() {
            assert!(!text.to_lowercase().contains(&op.to_lowercase()), "{path} hand-copies the operation {op}");
        }
        for p in providers::registry() {
            let read = format!("{}/read", p.resource_type()).to_lowercase();
            assert!(!text.to_lowercase().contains(&read), "{path} hand-copies the role action {read}");
        }
        assert!(!text.contains("/*'") && !text.contains("*/write"), "{path} has a wildcard action");
    }
}

#[test]
fn main_bicep_wires_every_setting() {
    let main = read("infra/main.bicep");
    for setting in config::SETTINGS {
        assert!(main.contains(&format!("'{setting}'")), "infra/main.bicep does not set {setting}");
    }
    // The Functions host's identity-based connections, named as function.json and host.json use them.
    for setting in ["ServiceBusConnection__credential", "ServiceBusConnection__clientId", "AzureWebJobsStorage__"] {
        assert!(main.contains(setting), "infra/main.bicep does not set {setting}");
    }
    let check = read("function-definitions/MpeCheck/function.json");
    assert!(check.contains("\"connection\": \"ServiceBusConnection\""), "MpeCheck's connection name changed");
}

#[test]
fn event_subscription_targets_the_event_function() {
    let files = bicep_files();
    let all: String = files.iter().map(|(_, t)| t.as_str()).collect();
    assert!(repo().join("function-definitions/MpeEvent/function.json").is_file());
    assert!(all.contains("/functions/MpeEvent"), "the event subscription must deliver to the MpeEvent function");
    assert!(all.contains("Microsoft.Resources.ResourceWriteSuccess"));
    assert!(all.contains("maxEventsPerBatch: 1"));
}

/// `print services` lists every supported MPE type as the README's services table does.
#[test]
fn print_services_lists_every_provider() {
    let printed: serde_json::Value = serde_json::from_str(&print(&["services"])).expect("JSON");
    let rows = printed.as_array().expect("an array");
    let registry = mpe_approver::providers::registry();
    assert_eq!(rows.len(), registry.len());
    for (row, p) in rows.iter().zip(registry) {
        assert_eq!(row["resourceType"], p.resource_type());
        assert_eq!(row["writeOperation"], p.write_operation());
        assert_eq!(row["confidence"], p.confidence().as_str());
    }
}
