//! The tests stand on their own: everything they read is inside the repository.
//!
//! The fixtures once lived in a directory beside the repository, and a clone without it failed 30 tests.
//! They are now copied verbatim into `tests/fixtures/`, each with its source in `tests/fixtures/PROVENANCE.md`.
//! These tests keep it so: no code under `src/`, `tests/` or `crates/` (the benchmark included) names the
//! old place again, and every fixture file has a provenance row (and every row a file).

mod common;

use common::FIXTURES_ROOT as FIXTURES;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn nothing_reads_fixtures_from_beside_the_repository() {
    // Spelled in pieces so that this file does not match itself.
    let needles = [["..", "shared"].join("/"), ["..", "shared"].join("\\")];
    let mut offenders = Vec::new();
    let mut scanned = 0;
    for top in ["src", "tests", "crates"] {
        for path in files(&Path::new(ROOT).join(top)) {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            scanned += 1;
            for (n, line) in text.lines().enumerate() {
                if needles.iter().any(|needle| line.contains(needle.as_str())) {
                    let rel = path.strip_prefix(ROOT).unwrap_or(&path).display().to_string();
                    offenders.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(scanned > 10, "scanned only {scanned} files under src/, tests/ and crates/");
    assert!(
        offenders.is_empty(),
        "these lines refer to a directory beside the repository; copy the fixture verbatim into \
         tests/fixtures/, add it to tests/fixtures/PROVENANCE.md and read it from there:\n{}",
        offenders.join("\n")
    );
}

/// The files the provenance tables name, relative to `tests/fixtures/`: a `## \`dir/\`` heading sets the
/// folder, and the first cell of each table row under it is a file name in backticks.
fn provenance_rows(text: &str) -> Vec<String> {
    let mut dir: Option<String> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            dir = heading.strip_prefix('`').and_then(|h| h.split_once('`')).map(|(d, _)| d.to_string());
        } else if let (Some(dir), Some(row)) = (&dir, line.strip_prefix("| `")) {
            let (file, _) = row.split_once('`').expect("a closing backtick in the first cell");
            rows.push(format!("{dir}{file}"));
        }
    }
    rows
}

#[test]
fn every_fixture_has_its_provenance_and_every_provenance_row_its_file() {
    let doc = std::fs::read_to_string(Path::new(FIXTURES).join("PROVENANCE.md")).expect("tests/fixtures/PROVENANCE.md");
    let rows = provenance_rows(&doc);
    let named: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(named.len(), rows.len(), "a file is listed twice in PROVENANCE.md");
    let present: BTreeSet<String> = files(Path::new(FIXTURES))
        .iter()
        .map(|p| p.strip_prefix(FIXTURES).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|p| p != "PROVENANCE.md")
        .collect();
    assert!(present.len() > 40, "only {} fixture files", present.len());
    let undocumented: Vec<_> = present.difference(&named).collect();
    let missing: Vec<_> = named.difference(&present).collect();
    assert!(undocumented.is_empty(), "fixtures without a row in PROVENANCE.md: {undocumented:?}");
    assert!(missing.is_empty(), "PROVENANCE.md rows without a file: {missing:?}");
}

#[test]
fn arm_example_rows_name_a_full_commit_and_the_copy_has_the_recorded_length() {
    let doc = std::fs::read_to_string(Path::new(FIXTURES).join("PROVENANCE.md")).unwrap();
    let arm: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `Microsoft.")).collect();
    assert!(!arm.is_empty());
    for line in arm {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // ["", file, source path, commit, chars, ""]
        let commit = cells[3].trim_matches('`');
        assert!(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()), "no 40-hex commit in: {line}");
        assert!(cells[2].starts_with("`specification/"), "no source path in: {line}");
        // The length the source index recorded for the stored copy: a changed fixture shows here.
        let file = Path::new(FIXTURES).join("arm-examples").join(cells[1].trim_matches('`'));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let chars: usize = cells[4].parse().unwrap_or_else(|_| panic!("no length in: {line}"));
        assert_eq!(text.chars().count(), chars, "{} is not the recorded copy", file.display());
    }
}
