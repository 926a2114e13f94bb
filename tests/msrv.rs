//! The declared minimum Rust version is the one the locked dependencies really need.
//!
//! Another toolchain cannot be installed here to try the build with the declared version, so this test
//! reads what `cargo metadata` reports: every locked package's `rust_version`, the highest of which is
//! the least toolchain that builds the lockfile. `rust-version` in Cargo.toml (each workspace member's)
//! must be at least that, and the README states the same version.

use serde_json::Value;
use std::cmp::Ordering;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `1.89`, `1.89.0`: numeric parts, compared as numbers with missing parts as 0 (`1.89` == `1.89.0` < `1.100`).
fn parse_version(s: &str) -> Vec<u64> {
    s.trim().split('.').map(|p| p.parse().unwrap_or_else(|_| panic!("not a Rust version: {s:?}"))).collect()
}

fn cmp_versions(a: &[u64], b: &[u64]) -> Ordering {
    (0..a.len().max(b.len()))
        .map(|i| a.get(i).copied().unwrap_or(0).cmp(&b.get(i).copied().unwrap_or(0)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(ROOT).args(["metadata", "--locked", "--format-version", "1", "--offline"]);
    c
}

fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8(out.stdout).ok()?.lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string))
}

/// The metadata of every locked package. Offline, cargo may lack the sources of packages that only other
/// platforms use; then the packages for this host are what it can report.
fn metadata() -> &'static Value {
    static META: OnceLock<Value> = OnceLock::new();
    META.get_or_init(read_metadata)
}

fn read_metadata() -> Value {
    let all = cargo().output().expect("run cargo metadata");
    let out = if all.status.success() {
        all
    } else {
        let host = host_triple().unwrap_or_else(|| {
            panic!("cargo metadata failed: {}", String::from_utf8_lossy(&all.stderr));
        });
        eprintln!(
            "cargo metadata for every platform failed offline ({}); using the packages for {host}",
            String::from_utf8_lossy(&all.stderr).trim()
        );
        let out = cargo().args(["--filter-platform", &host]).output().expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn version_comparison_is_numeric() {
    assert_eq!(cmp_versions(&parse_version("1.89"), &parse_version("1.89.0")), Ordering::Equal);
    assert_eq!(cmp_versions(&parse_version("1.9"), &parse_version("1.10")), Ordering::Less);
    assert_eq!(cmp_versions(&parse_version("1.100"), &parse_version("1.99.9")), Ordering::Greater);
    assert_eq!(cmp_versions(&parse_version("1.88.1"), &parse_version("1.89")), Ordering::Less);
}

#[test]
fn rust_version_covers_every_locked_dependency() {
    let meta = metadata();
    let members: Vec<&str> =
        meta["workspace_members"].as_array().expect("workspace_members").iter().filter_map(Value::as_str).collect();
    let packages = meta["packages"].as_array().expect("packages");
    assert!(!packages.is_empty());

    let (needed, by) = packages
        .iter()
        .filter(|p| !members.contains(&p["id"].as_str().unwrap_or_default()))
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            let (name, version) = (p["name"].as_str().unwrap_or_default(), p["version"].as_str().unwrap_or_default());
            Some((parse_version(v), format!("{name} {version} (rust_version {v})")))
        })
        .max_by(|a, b| cmp_versions(&a.0, &b.0))
        .expect("some locked package declares a rust_version");
    let needed_text = needed.iter().map(u64::to_string).collect::<Vec<_>>().join(".");

    let mut checked = 0;
    for p in packages.iter().filter(|p| members.contains(&p["id"].as_str().unwrap_or_default())) {
        let name = p["name"].as_str().unwrap_or_default();
        let declared = p["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Cargo.toml has no rust-version; the dependencies need {needed_text}"));
        assert_ne!(
            cmp_versions(&parse_version(declared), &needed),
            Ordering::Less,
            "{name}: Cargo.toml says rust-version = \"{declared}\", but {by} needs a newer toolchain: set \
             rust-version = \"{needed_text}\" (and the README's \"Rust ... or newer\")"
        );
        checked += 1;
    }
    assert!(checked > 0, "no workspace member in cargo metadata");
}

#[test]
fn readme_states_the_declared_rust_version() {
    let meta = metadata();
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let members = meta["workspace_members"].as_array().expect("workspace_members");
    for p in meta["packages"].as_array().expect("packages").iter().filter(|p| members.contains(&p["id"])) {
        if let Some(declared) = p["rust_version"].as_str() {
            let want = format!("Rust {declared} or newer");
            assert!(readme.contains(&want), "README.md should say \"{want}\" ({}'s rust-version)", p["name"]);
        }
    }
}
