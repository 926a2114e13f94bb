//! The workspace has three crates and one direction of dependency. The approver (this package, what
//! is deployed) uses the simulator (`crates/azure-sim`) in its tests only; the simulator never uses the
//! approver, so what it answers is written from Azure's wire format, not from the code it is meant to
//! check; the demo (`crates/demo`, package `mpe-demo`) is the one crate that depends on both, and
//! nothing depends on it.

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

fn package<'a>(meta: &'a Value, name: &str) -> &'a Value {
    meta["packages"].as_array().expect("packages").iter().find(|p| p["name"] == name).unwrap_or_else(|| {
        panic!("no package {name} in the workspace");
    })
}

/// (name, kind) of each dependency of a package; kind is `normal`, `dev` or `build`.
fn dependencies(package: &Value) -> Vec<(&str, &str)> {
    package["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| (d["name"].as_str().unwrap_or_default(), d["kind"].as_str().unwrap_or("normal")))
        .collect()
}

#[test]
fn the_simulator_does_not_depend_on_the_approver() {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for member in ["mpe-approver", "azure-sim", "mpe-demo"] {
        assert!(names.contains(&member), "workspace members: {names:?}");
    }
    let sim = package(&meta, "azure-sim");
    let deps: Vec<&str> = dependencies(sim).into_iter().map(|(name, _)| name).collect();
    assert!(!deps.is_empty());
    // No member of the workspace (and so nothing that could reach the approver) among its dependencies.
    let path_deps: Vec<&Value> =
        sim["dependencies"].as_array().unwrap().iter().filter(|d| d["path"].is_string()).collect();
    for approver in ["mpe-approver", "mpe-demo"] {
        assert!(!deps.contains(&approver), "azure-sim depends on {approver}: {deps:?}");
    }
    assert!(path_deps.is_empty(), "azure-sim has path dependencies: {path_deps:?}");
}

/// The deployed package holds only the approver: azure-sim is a dev-dependency (the tests), never a
/// normal one, the demo no dependency at all, and no feature brings either in.
#[test]
fn the_approver_uses_the_simulator_only_in_tests() {
    let meta = metadata();
    let approver = package(&meta, "mpe-approver");
    let deps = dependencies(approver);
    let sim: Vec<&str> = deps.iter().filter(|(name, _)| *name == "azure-sim").map(|(_, kind)| *kind).collect();
    assert_eq!(sim, ["dev"], "azure-sim must be a dev-dependency of mpe-approver only");
    assert!(!deps.iter().any(|(name, _)| *name == "mpe-demo"), "mpe-approver depends on mpe-demo: {deps:?}");
    let features = approver["features"].as_object().expect("features");
    for (name, enables) in features {
        let enables = enables.as_array().expect("a feature's list");
        assert!(enables.is_empty(), "feature `{name}` enables {enables:?}: the approver has no optional parts");
    }
}

/// The demo is where the two meet: it depends on both, and nothing in the workspace depends on it.
#[test]
fn the_demo_is_the_one_crate_that_depends_on_both() {
    let meta = metadata();
    let demo = dependencies(package(&meta, "mpe-demo"));
    for needed in ["mpe-approver", "azure-sim"] {
        assert!(demo.contains(&(needed, "normal")), "mpe-demo must depend on {needed}: {demo:?}");
    }
    for p in meta["packages"].as_array().unwrap() {
        let uses: Vec<_> = dependencies(p).into_iter().filter(|(name, _)| *name == "mpe-demo").collect();
        assert!(uses.is_empty(), "{} depends on mpe-demo: {uses:?}", p["name"]);
    }
}

/// Production code in `src/` never names the simulator or the demo, and nothing in it is compiled only
/// with a feature: no hook from an adapter, the handler or the CLI into the simulator.
#[test]
fn production_code_never_names_the_simulator() {
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
            for (n, line) in text.lines().enumerate() {
                let named =
                    ["azure_sim", "mpe_demo", "sim_body", "SimPhase", "cfg(feature"].iter().find(|w| line.contains(*w));
                if let Some(word) = named {
                    offenders.push(format!("{rel}:{}: {word}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "production code reaching into the simulator or the demo:\n{}", offenders.join("\n"));
    assert!(!Path::new(ROOT).join("src/demo.rs").exists(), "the demo is the mpe-demo crate (crates/demo)");
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
        ("src/azure/http.rs", &["arm", "servicebus", "auth", "throttle", "handler"]),
        ("src/azure/auth.rs", &["arm", "servicebus", "handler"]),
        ("src/azure/arm.rs", &["servicebus", "auth", "handler"]),
        ("src/azure/servicebus.rs", &["arm", "auth", "throttle", "handler"]),
        ("src/azure/throttle.rs", &["arm", "servicebus", "http", "auth", "handler"]),
        ("src/model/queue_message.rs", &["arm", "servicebus", "http", "auth", "handler"]),
        ("src/core/replay.rs", &["arm", "servicebus", "http", "auth", "handler"]),
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

/// Every `.rs` file under `dir` (relative to the repository), recursively, as repository paths.
fn rust_files(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(ROOT).join(dir)];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(ROOT).expect("under the repository");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// The folders of `src/` are the layers, and a file's folder says what it may name: `model/` (Azure's
/// data) only `model/`; `core/` (the pure decisions) `model/` and `core/`; `azure/` (the clients) those
/// and the clock and the settings; `handler/` anything but the CLI. Every module of the crate belongs to
/// one folder (or is `config`/`clock` at the root), so a new file is placed, not forgotten.
#[test]
fn each_folder_names_only_the_layers_below_it() {
    let folder_of = |module: &str| -> Option<&'static str> {
        for folder in ["model", "core", "azure", "handler"] {
            let dir = Path::new(ROOT).join("src").join(folder);
            if module == folder || dir.join(format!("{module}.rs")).exists() || dir.join(module).join("mod.rs").exists()
            {
                return Some(folder);
            }
        }
        match module {
            "config" | "clock" => Some("root"),
            _ => None,
        }
    };
    let allowed: &[(&str, &[&str])] = &[
        ("model", &["model"]),
        ("core", &["model", "core"]),
        ("azure", &["model", "core", "azure", "root"]),
        ("handler", &["model", "core", "azure", "handler", "root"]),
    ];
    let mut offenders = Vec::new();
    let mut files = 0;
    for (folder, may) in allowed {
        for file in rust_files(&format!("src/{folder}")) {
            files += 1;
            for name in crate_paths(&file) {
                match folder_of(&name) {
                    Some(f) if may.contains(&f) => {}
                    Some(f) => offenders.push(format!("{file} names crate::{name} ({f}/)")),
                    None => offenders.push(format!("{file} names crate::{name}, a module of no layer")),
                }
            }
        }
    }
    assert!(files > 30, "{files} files under src/'s folders");
    let root: Vec<String> = rust_files("src").into_iter().filter(|f| f.matches('/').count() == 1).collect();
    assert_eq!(root, ["src/clock.rs", "src/config.rs", "src/lib.rs"], "files at src/'s top level");
    assert!(offenders.is_empty(), "imports against the layering:\n{}", offenders.join("\n"));
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
