//! The crate's source files form a line (lib.rs, "Module order"): every `crate::` and `super::`
//! path in a file's code names a file listed before it. Read from the sources, so a new `use`
//! that closes a circle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as a path relative to `root` with `/` separators.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The module path of a file: `write/mod.rs` is `write`, `error/tests.rs` is `error::tests`.
fn module_of(file: &str) -> String {
    let stem = file.strip_suffix(".rs").unwrap();
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    stem.replace('/', "::")
}

/// The identifiers that follow `prefix` in `code` (`crate::types::X` gives `types`).
fn idents_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + prefix.len()..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        // `crate::` inside a longer path (`my_crate::`) is not this crate.
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && end > 0 {
            out.push(&after[..end]);
        }
        // `super::{a, b}` and `crate::{a, b}` name several at once.
        if after.starts_with('{') {
            let group = &after[1..after.find('}').unwrap_or(after.len())];
            out.extend(
                group
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                    .filter(|p| !p.is_empty()),
            );
        }
        rest = after;
    }
    out
}

/// The code of a file: its lines without `//` comments (doc links are not dependencies).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| match l.find("//") {
        Some(i) => &l[..i],
        None => l,
    })
}

/// Which module each name re-exported by lib.rs (`pub use m::{A, B}`) comes from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let code: String = code_lines(lib).collect::<Vec<_>>().join("\n");
    for stmt in code.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = path.split_once("::") else {
            continue;
        };
        let names = names.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace());
        for name in names.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    out
}

/// The graph: for each file's module, the modules its code uses.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexported = reexports(&lib);
    let mut graph = BTreeMap::new();
    for file in files.iter().filter(|f| *f != "lib.rs") {
        let module = module_of(file);
        let text = fs::read_to_string(src.join(file)).unwrap();
        let mut uses = BTreeSet::new();
        for line in code_lines(&text) {
            for name in idents_after(line, "crate::") {
                let target = if modules.contains(name) {
                    name.to_owned()
                } else {
                    reexported
                        .get(name)
                        .unwrap_or_else(|| panic!("{file}: crate::{name} is neither a module nor re-exported by lib.rs"))
                        .clone()
                };
                uses.insert(target);
            }
            // `use super::*` names no identifier but still uses the parent.
            if line.contains("super::") {
                let parent = module
                    .rsplit_once("::")
                    .map(|(p, _)| p)
                    .unwrap_or_else(|| panic!("{file}: super:: at the crate root"));
                uses.insert(parent.to_owned());
            }
        }
        uses.remove(&module);
        graph.insert(module, uses);
    }
    graph
}

/// A circle in `graph`, as the modules along it, or `None` when it has none.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // 0: not visited, 1: on the current path, 2: done.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node).copied().unwrap_or(0) {
            1 => {
                let start = path.iter().position(|n| n == node).unwrap();
                let mut circle = path[start..].to_vec();
                circle.push(node.to_owned());
                return Some(circle);
            }
            2 => return None,
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_source_files_have_no_import_circle() {
    let graph = graph(&src_dir());
    assert!(graph.contains_key("error") && graph.contains_key("write::builder"));
    assert_eq!(find_circle(&graph), None, "graph: {graph:#?}");
}

/// The order lib.rs documents: the backquoted file names of its "Module order" list.
fn documented_order() -> Vec<String> {
    let lib = fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let section = lib
        .split("//! ## Module order")
        .nth(1)
        .expect("lib.rs has a Module order section");
    let mut order = Vec::new();
    for line in section.lines().skip(1) {
        let Some(item) = line.strip_prefix("//!") else {
            break;
        };
        let item = item.trim_start();
        if !item.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let head = item.split_once(": ").map_or(item, |(h, _)| h);
        for part in head.split('`').skip(1).step_by(2) {
            order.push(module_of(part));
        }
    }
    order
}

#[test]
fn lib_rs_lists_every_file_after_the_files_it_uses() {
    let graph = graph(&src_dir());
    let order = documented_order();
    let listed: BTreeSet<&String> = order.iter().collect();
    let files: BTreeSet<&String> = graph.keys().collect();
    assert_eq!(
        listed, files,
        "lib.rs's Module order must list every file but lib.rs"
    );
    for (i, module) in order.iter().enumerate() {
        for used in &graph[module] {
            let at = order.iter().position(|m| m == used).unwrap();
            assert!(
                at < i,
                "{module} (#{}) uses {used} (#{}), listed after it",
                i + 1,
                at + 1
            );
        }
    }
}

#[test]
fn the_check_finds_the_circle_error_and_finding_had() {
    // The graph before Location moved out of finding.rs.
    let mut old = BTreeMap::new();
    old.insert("error".to_owned(), BTreeSet::from(["finding".to_owned()]));
    old.insert("finding".to_owned(), BTreeSet::from(["error".to_owned()]));
    old.insert("reader".to_owned(), BTreeSet::from(["error".to_owned()]));
    let circle = find_circle(&old).expect("a circle");
    assert_eq!(circle.first(), circle.last());
    assert!(circle.contains(&"error".to_owned()) && circle.contains(&"finding".to_owned()));
}

#[test]
fn paths_are_read_from_code_not_comments() {
    assert_eq!(idents_after("use crate::error::X;", "crate::"), ["error"]);
    assert_eq!(
        idents_after("use super::{header, pad_to};", "super::"),
        ["header", "pad_to"]
    );
    assert_eq!(
        idents_after("use my_crate::x;", "crate::"),
        Vec::<&str>::new()
    );
    let code: Vec<&str> = code_lines("a // crate::finding\n/// [`crate::Gguf`]").collect();
    assert!(code.iter().all(|l| !l.contains("crate::")));
    let r = reexports("pub use layout::{pad, MAGIC};\npub use cursor::MAX_LEN;");
    assert_eq!(r["MAGIC"], "layout");
    assert_eq!(r["MAX_LEN"], "cursor");
}
