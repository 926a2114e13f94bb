//! The simulator's modules point one way: the shared state and the models at the bottom, the routes on
//! top, `lib.rs` (the public API) above all. Read from the sources' `crate::` and `super::` paths (each
//! file's code before its unit tests, comment lines skipped): no module imports an item of `lib.rs`, no
//! module imports a route module but another route, and no import circle. A folder module's `mod.rs`
//! naming its own children by their bare names (`queues::X`) is not read: a folder is one unit.
//!
//! A route module is one that reads the shared state (imports `app_state`), and the Functions-host
//! emulator (`host`), which drives a handler from above.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Route modules that do not read the shared state.
const DRIVERS: &[&str] = &["host"];

/// The library's source files (not the binary's `main.rs`), by module path (`lib.rs`: "").
fn modules() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut todo = vec![PathBuf::from(SRC)];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(SRC).expect("under src/").with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            match parts.as_slice() {
                [only] if only == "main" => continue,
                [only] if only == "lib" => parts.clear(),
                [.., last] if last == "mod" => {
                    parts.pop();
                }
                _ => {}
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// A file's code before its unit tests (`#[cfg(test)]`), comment lines left out.
fn code(text: &str) -> String {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The paths named after `prefix` (the text just after `crate::` or `super::`), one per item of a
/// `{...}` group, each as its segments.
fn paths_after(mut rest: &str, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut segs = prefix;
    loop {
        rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut items = Vec::new();
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return items.into_iter().flat_map(|item| paths_after(item, segs.clone())).collect();
        }
        let name = ident(rest);
        if name.is_empty() {
            return vec![segs];
        }
        segs.push(name.to_string());
        rest = &rest[name.len()..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => return vec![segs],
        }
    }
}

/// The module a path lands in: the longest prefix of its segments that is a module ("": `lib.rs`).
fn module_of(segs: &[String], modules: &BTreeMap<String, PathBuf>) -> String {
    (0..=segs.len()).rev().map(|n| segs[..n].join("::")).find(|m| modules.contains_key(m)).unwrap_or_default()
}

/// Module → the modules its code names through `crate::` and `super::`, itself left out; an item of
/// `lib.rs` (`crate::Item`, or `super::Item` in a top-level module) is an edge to "".
fn graph(modules: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (module, path) in modules {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = code(&text);
        let mut parent: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        parent.pop();
        let mut uses = BTreeSet::new();
        for (keyword, base) in [("crate::", Vec::new()), ("super::", parent)] {
            for (at, _) in text.match_indices(keyword) {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue; // part of a longer name (`$crate::` counts: `$` is not a name's character)
                }
                for segs in paths_after(&text[at + keyword.len()..], base.clone()) {
                    uses.insert(module_of(&segs, modules));
                }
            }
        }
        uses.remove(module);
        out.insert(module.clone(), uses);
    }
    out
}

/// A circle through the graph, if there is one (as the modules along it).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut c = path[i..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

fn routes(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    graph
        .iter()
        .filter(|(m, uses)| uses.contains("app_state") || DRIVERS.contains(&m.as_str()))
        .map(|(m, _)| m.clone())
        .collect()
}

#[test]
fn the_reader_sees_the_imports() {
    let modules = modules();
    let g = graph(&modules);
    for (from, to) in [
        ("arm", "arm_wire"),
        ("arm", "arm_lists"),
        ("arm_lists", "arm_wire"),
        ("app_state", "servicebus"),
        ("app_state", "tokens"),
        ("servicebus::rest", "app_state"),
        ("servicebus::rest", "servicebus"),
        ("host", "servicebus"),
    ] {
        assert!(g.get(from).is_some_and(|u| u.contains(to)), "{from} imports {to}; read: {:?}", g.get(from));
    }
    let r = routes(&g);
    for route in ["arm", "arm_lists", "identity", "servicebus::rest", "host"] {
        assert!(r.contains(route), "{route} is a route module; found {r:?}");
    }
    assert_eq!(
        paths_after("a::{b::{c, d}, e}, f", vec![]),
        [vec!["a", "b", "c"], vec!["a", "b", "d"], vec!["a", "e"]],
        "a group's items each give a path"
    );
    assert_eq!(code("use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n    use crate::c;\n}\n"), "use crate::a;");
}

#[test]
fn no_module_imports_lib_rs() {
    let g = graph(&modules());
    let offenders: Vec<&String> =
        g.iter().filter(|(m, uses)| !m.is_empty() && uses.contains("")).map(|(m, _)| m).collect();
    assert!(
        offenders.is_empty(),
        "these modules name an item of lib.rs (`crate::Item`, or `super::` from the top level); import it from \
         the module that defines it: {offenders:?}"
    );
}

#[test]
fn only_routes_import_routes() {
    let g = graph(&modules());
    let routes = routes(&g);
    let mut offenders = Vec::new();
    for (m, uses) in &g {
        if m.is_empty() || routes.contains(m) {
            continue;
        }
        for u in uses.intersection(&routes) {
            offenders.push(format!("{m} imports the route module {u}"));
        }
    }
    assert!(offenders.is_empty(), "the bottom modules import routes:\n{}", offenders.join("\n"));
}

#[test]
fn no_import_circle() {
    let mut g = graph(&modules());
    g.remove("");
    for uses in g.values_mut() {
        uses.remove("");
    }
    assert_eq!(circle(&g), None, "an import circle among azure-sim's modules");
}
