//! Compiled components are cached on disk: compiled once, loaded after, and a damaged entry
//! is compiled again rather than trusted.

use crate::harness::{fixture, locust_with_env};

#[tokio::test(flavor = "multi_thread")]
async fn a_component_is_compiled_once_and_a_damaged_entry_is_replaced() {
    let cache = tempfile::tempdir().expect("cache dir");
    let home = cache.path().to_str().expect("utf-8 path");
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let args = ["-f", fixture.as_str(), "--list"];
    let env = [("XDG_CACHE_HOME", home)];
    let list = || locust_with_env(&args, &env);
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(cache.path().join("locust/compiled"))
            .map(|dir| dir.filter_map(|entry| Some(entry.ok()?.path())).collect())
            .unwrap_or_default()
    };

    let first = list().await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let stored = entries();
    assert_eq!(stored.len(), 1, "one compiled entry: {stored:?}");
    let size = std::fs::metadata(&stored[0]).expect("entry").len();
    assert!(size > 10_000, "machine code, {size} bytes");

    let again = list().await;
    assert_eq!(again.stdout, first.stdout, "the cached code runs the same");
    assert_eq!(entries(), stored, "nothing compiled anew");

    std::fs::write(&stored[0], b"not machine code").expect("damage the entry");
    let repaired = list().await;
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);
    assert_eq!(repaired.stdout, first.stdout);
    assert_eq!(
        std::fs::metadata(&stored[0]).expect("entry").len(),
        size,
        "the damaged entry was compiled again"
    );
}
