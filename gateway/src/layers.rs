//! The layer rule of docs/architecture.md, checked: `lib.rs` declares the modules in groups separated
//! by blank lines, lowest first, and a module may use (`crate::…`) only modules of the groups before
//! its own. A new import that points up or sideways, hence any import cycle between modules, fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Crate-root macros (`#[macro_export]`), which every layer may use.
const ROOT_MACROS: &[&str] = &["sql"];

/// The layer of each module, from `lib.rs`'s groups of `pub mod …;`.
fn layers(lib_rs: &str) -> BTreeMap<String, usize> {
    let mut layers = BTreeMap::new();
    let mut layer = 0;
    let mut in_group = false;
    for line in lib_rs.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")) {
            if let Some(name) = name.strip_suffix(';') {
                layers.insert(name.to_owned(), layer);
                in_group = true;
            }
        } else if line.is_empty() && in_group {
            layer += 1;
            in_group = false;
        }
    }
    layers
}

/// Every `crate::<name>` a source text mentions, with its line number.
fn crate_paths(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            // `$crate::` in a macro is the crate root seen from outside: not an import.
            if code[..at].ends_with('$') {
                continue;
            }
            let name: String =
                code[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.push((number + 1, name));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let layers = layers(&lib_rs);
    assert!(layers.len() > 10 && layers.values().max() > Some(&4), "lib.rs lists the modules in layers: {layers:?}");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut breaches = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = relative.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default();
        let module = module.trim_end_matches(".rs");
        // lib.rs and main.rs are the crate's roots; this file quotes paths in its own tests.
        let Some(&own) = layers.get(module).filter(|_| module != "layers") else { continue };
        let source = std::fs::read_to_string(&file).expect("source");
        for (line, used) in crate_paths(&source) {
            if used == module || ROOT_MACROS.contains(&used.as_str()) {
                continue;
            }
            match layers.get(&used) {
                Some(&layer) if layer < own => {}
                Some(_) => breaches.push(format!("{}:{line}: {module} uses {used}, not below it", relative.display())),
                None => breaches.push(format!("{}:{line}: crate::{used} is no module of lib.rs", relative.display())),
            }
        }
    }
    assert!(breaches.is_empty(), "imports against the layers of lib.rs:\n{}", breaches.join("\n"));
}

#[test]
fn the_check_sees_grouped_and_macro_paths() {
    let layers = layers("pub mod a;\npub mod b;\n\npub mod c;\n");
    assert_eq!(layers.get("b"), Some(&0));
    assert_eq!(layers.get("c"), Some(&1));
    let found = crate_paths("use crate::c::X; // crate::ignored\nlet y = $crate::d::f();\ncrate::b::g();");
    assert_eq!(found, vec![(1, "c".to_owned()), (3, "b".to_owned())]);
}
