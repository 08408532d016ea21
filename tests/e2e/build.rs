//! The suite's build reuses what `cargo build` compiled: no test-only dependency may turn on a
//! feature of a crate the host also uses, or Cargo compiles that crate, and everything built on
//! it, a second time for `cargo test` (docs/design.md, "Build time").

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::harness::root;

/// `name version` → features, for the host's dependencies with the given edge kinds.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "locust", "--offline", "--prefix", "none"])
        .args(["-e", edges, "-f", "{p}|{f}"])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // `name v1.2.3 (path)` or `name v1.2.3 (proc-macro)`: the name and version identify it.
        let key: Vec<&str> = package.split_whitespace().take(2).collect();
        let features = features.trim_end_matches(" (*)");
        packages.entry(key.join(" ")).or_default().extend(
            features
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        );
    }
    packages
}

#[test]
fn test_only_dependencies_change_no_feature_of_the_hosts_dependencies() {
    let built = features("normal,build");
    let tested = features("normal,build,dev");
    let changed: Vec<String> = built
        .iter()
        .filter_map(|(package, features)| {
            let with_tests = tested.get(package)?;
            let added: Vec<&String> = with_tests.difference(features).collect();
            (!added.is_empty()).then(|| format!("{package} gains {added:?}"))
        })
        .collect();
    assert!(
        changed.is_empty(),
        "the test build would recompile these (and all built on them): {changed:#?}; \
         drop the dev-dependency that turns them on, or turn them on for the host too"
    );
}
