//! Compiled components kept on disk, so that a component is compiled to machine code once per
//! engine configuration rather than at every start (a big component, such as a Python guest
//! with its interpreter, takes many seconds to compile and milliseconds to load).
//!
//! An entry is named by the component's SHA-256 and the engine's
//! [`precompile_compatibility_hash`](Engine::precompile_compatibility_hash), which covers
//! every setting compiled code depends on (memory reservation, guards, fuel, the CPU's
//! features, wasmtime's version): an engine only ever loads code compiled for its exact kind.
//! Entries live in the cache folder `compiled`; a damaged or incompatible one is compiled
//! again and replaced.

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the compiled form of the component with SHA-256 `hash` lies for `engine`, if there
/// is a cache folder.
fn entry_for(engine: &Engine, hash: &str) -> Option<PathBuf> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let folder = crate::files::cache_folder("compiled")?;
    Some(folder.join(format!("{hash}-{:016x}.cwasm", hasher.finish())))
}

/// The component `bytes` (SHA-256 `hash`) compiled for `engine`: loaded from the cache when it
/// is there, else compiled and stored for next time.
pub fn compile(engine: &Engine, bytes: &[u8], hash: &str) -> wasmtime::Result<Component> {
    let entry = entry_for(engine, hash);
    if let Some(entry) = &entry
        && entry.is_file()
    {
        match load(engine, entry) {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::debug!(target: "locust.main", "recompiling {}: {error:#}", entry.display());
            }
        }
    }
    let component = Component::from_binary(engine, bytes)?;
    if let Some(entry) = &entry {
        let stored = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|code| {
                if let Some(folder) = entry.parent() {
                    std::fs::create_dir_all(folder)?;
                }
                crate::files::replace(entry, &code)
            });
        if let Err(error) = stored {
            tracing::debug!(target: "locust.main", "not caching compiled code in {}: {error}", entry.display());
        }
    }
    Ok(component)
}

/// Load compiled code from `entry`.
#[expect(
    unsafe_code,
    reason = "deserializing compiled code is unsafe in wasmtime: the one place we do it"
)]
fn load(engine: &Engine, entry: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that the file hold code it produced itself. Entries are
    // written only by `compile` above, whole (renamed into place), into the user's own cache
    // folder, under a name that binds them to the component's hash and the engine's
    // compatibility hash; wasmtime checks its header (version, settings) again on load. A
    // process able to replace them runs as this user already.
    unsafe { Component::deserialize_file(engine, entry) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_bound_to_the_component_and_the_engine() {
        let engine = Engine::default();
        let mut other_config = wasmtime::Config::new();
        other_config.memory_reservation(1 << 20);
        let other = Engine::new(&other_config).expect("engine");
        if let (Some(one), Some(two), Some(three)) = (
            entry_for(&engine, "ab"),
            entry_for(&other, "ab"),
            entry_for(&engine, "cd"),
        ) {
            assert_ne!(one, two, "another engine configuration, another entry");
            assert_ne!(one, three, "another component, another entry");
            assert_eq!(Some(one), entry_for(&engine, "ab"), "stable");
        }
    }
}
