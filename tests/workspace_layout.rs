//! The workspace has two crates and one direction of dependency: the approver (this package) may use
//! the simulator (`crates/azure-sim`) for its demo and tests; the simulator never uses the approver, so
//! what it answers is written from Azure's wire format, not from the code it is meant to check.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn metadata() -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(ROOT)
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked", "--offline"])
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn the_simulator_does_not_depend_on_the_approver() {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"mpe-approver") && names.contains(&"azure-sim"), "workspace members: {names:?}");
    let sim = packages.iter().find(|p| p["name"] == "azure-sim").unwrap();
    let deps: Vec<&str> = sim["dependencies"].as_array().unwrap().iter().filter_map(|d| d["name"].as_str()).collect();
    assert!(!deps.is_empty());
    // No member of the workspace (and so nothing that could reach the approver) among its dependencies.
    let path_deps: Vec<&Value> =
        sim["dependencies"].as_array().unwrap().iter().filter(|d| d["path"].is_string()).collect();
    assert!(!deps.contains(&"mpe-approver"), "azure-sim depends on mpe-approver: {deps:?}");
    assert!(path_deps.is_empty(), "azure-sim has path dependencies: {path_deps:?}");
}

#[test]
fn the_approver_uses_the_simulator_only_optionally_and_in_tests() {
    let meta = metadata();
    let approver = meta["packages"].as_array().unwrap().iter().find(|p| p["name"] == "mpe-approver").unwrap();
    let uses: Vec<(&str, bool)> = approver["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == "azure-sim")
        .map(|d| (d["kind"].as_str().unwrap_or("normal"), d["optional"].as_bool().unwrap_or(false)))
        .collect();
    assert!(uses.contains(&("dev", false)), "{uses:?}");
    assert!(uses.contains(&("normal", true)), "the normal dependency must be optional (feature `simulator`): {uses:?}");
    assert!(!uses.contains(&("normal", false)), "{uses:?}");
    let default = approver["features"]["default"].as_array().unwrap();
    assert!(default.iter().any(|f| f == "simulator"), "`simulator` must be a default feature: {default:?}");
}

/// Production code names the simulator only where the `simulator` feature wires it in: the demo and
/// the `demo`/`simulate` commands. No hook from an adapter or the handler into the simulator.
#[test]
fn only_the_demo_and_the_cli_name_the_simulator() {
    let mut offenders = Vec::new();
    let mut todo = vec![Path::new(ROOT).join("src")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let rel = path.strip_prefix(ROOT).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if matches!(rel.as_str(), "src/demo.rs" | "src/main.rs") {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                if line.contains("azure_sim") || line.contains("sim_body") || line.contains("SimPhase") {
                    offenders.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "production code reaching into the simulator:\n{}", offenders.join("\n"));
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("#[cfg(feature = \"simulator\")]\npub mod demo;"),
        "src/lib.rs must gate `demo` on the feature"
    );
}

/// The crate paths (`crate::name`) a source file names outside comments.
fn crate_paths(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let name: String =
                line[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            names.push(name);
        }
    }
    names
}

/// The Azure clients point one way: `http` (timeouts, capped bodies, the authorised call) is under ARM,
/// Service Bus and identity and imports none of them; ARM and Service Bus do not import each other;
/// the throttling turns and the message types import no client; `replay`, pure, imports no client.
#[test]
fn the_http_plumbing_points_one_way() {
    let forbidden: &[(&str, &[&str])] = &[
        ("src/http.rs", &["arm", "servicebus", "auth", "throttle", "handler"]),
        ("src/auth.rs", &["arm", "servicebus", "handler"]),
        ("src/arm.rs", &["servicebus", "auth", "handler"]),
        ("src/servicebus.rs", &["arm", "auth", "throttle", "handler"]),
        ("src/throttle.rs", &["arm", "servicebus", "http", "auth", "handler"]),
        ("src/queue_message.rs", &["arm", "servicebus", "http", "auth", "handler"]),
        ("src/replay.rs", &["arm", "servicebus", "http", "auth", "handler"]),
    ];
    let mut offenders = Vec::new();
    for (file, never) in forbidden {
        for name in crate_paths(file) {
            if never.contains(&name.as_str()) {
                offenders.push(format!("{file} names crate::{name}"));
            }
        }
    }
    assert!(offenders.is_empty(), "imports against the layering:\n{}", offenders.join("\n"));
}

/// The functional core decides from values: it names no Azure client, no handler, no configuration
/// loader and no clock (the shell hands it `now` and the rules).
#[test]
fn the_core_imports_no_client() {
    let shell = ["arm", "servicebus", "http", "auth", "throttle", "handler", "config", "clock", "functions"];
    let mut core: Vec<String> = [
        "src/decision.rs",
        "src/evidence.rs",
        "src/schedule.rs",
        "src/policy.rs",
        "src/pec.rs",
        "src/targets.rs",
        "src/workitem.rs",
        "src/resource_id.rs",
        "src/providers/mod.rs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for entry in std::fs::read_dir(Path::new(ROOT).join("src/providers")).expect("src/providers") {
        let path = entry.expect("a directory entry").path();
        core.push(format!("src/providers/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
    }
    let offenders: Vec<String> = core
        .iter()
        .flat_map(|file| {
            crate_paths(file)
                .into_iter()
                .filter(|n| shell.contains(&n.as_str()))
                .map(move |n| format!("{file} names crate::{n}"))
        })
        .collect();
    assert!(core.len() > 10, "{core:?}");
    assert!(offenders.is_empty(), "the core imports the shell:\n{}", offenders.join("\n"));
}

/// The environment is read in one place, `config.rs` (its tables document every variable).
#[test]
fn only_config_reads_the_environment() {
    let mut offenders = Vec::new();
    let mut dirs = vec![Path::new(ROOT).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("src/config.rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                if text.contains("env::var") || text.contains("var_os(") {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "read the environment outside config.rs: {offenders:?}");
}
