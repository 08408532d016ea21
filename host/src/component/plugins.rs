//! Protocol plugins: components that export a client interface of their own (such as
//! `locust:redis/client`) for user components to import.
//!
//! `--plugin` plugs each one into the user component when it is loaded, with the Bytecode
//! Alliance's wac-graph (as Spin's component dependencies do): the user's import of the
//! interface becomes an argument of the user's instantiation, served by the plugin's instance
//! inside the same composite component. wasmtime then compiles the composite as one component:
//! a call from user to plugin is a compiled adapter between the two memories, with no host
//! transition and no second fiber, and the plugin shares the user's store, so the user's memory
//! limit, fuel and stop apply to it. What the user and the plugin both import from the host
//! (`locust:runtime/*`, `wasi:*`) is merged into one import of the composite, served by the
//! host's linker as for any user component. The composite's bytes are deterministic, so a master
//! ships them and a worker that composes its own gets the same hash.

use std::path::{Path, PathBuf};

use wac_graph::types::{Package, are_semver_compatible};
use wac_graph::{CompositionGraph, EncodeOptions, PackageId};

use super::LoadError;

/// The interface every plugin exports to describe itself (not plugged into users).
pub const DESCRIBE_INTERFACE: &str = "locust:runtime/plugin@0.4.0";

/// The interface a listener plugin exports.
pub const LISTENER_INTERFACE: &str = "locust:runtime/listener@0.4.0";

/// Whether the export `name` is the listener interface (of any compatible version).
pub fn is_listener_interface(name: &str) -> bool {
    are_semver_compatible(name, LISTENER_INTERFACE)
}

/// Whether the host's linker serves the import `name`.
pub fn provided_by_host(name: &str) -> bool {
    name.starts_with("wasi:") || name.starts_with("locust:runtime/")
}

/// The advice for an import `name` that no plugin serves.
pub fn unprovided(name: &str) -> String {
    let package = name.split('/').next().unwrap_or(name);
    let suggestion = match package.strip_prefix("locust:") {
        Some(plugin) => format!(" (plugins/{plugin} for {package})"),
        None => String::new(),
    };
    format!(
        "it imports {name}, which no plugin provides: pass --plugin with a plugin that exports \
         it{suggestion}"
    )
}

/// A plugin to plug in: where it came from and its component's bytes.
pub struct PluginBytes {
    /// The `--plugin` path, for messages.
    pub path: PathBuf,
    /// The plugin component.
    pub bytes: Vec<u8>,
}

fn plugin_error(path: &Path, reason: impl std::fmt::Display) -> LoadError {
    LoadError::Plugin(format!("{}: {reason}", path.display()))
}

/// The user component `user` (from `user_path`) with `plugins` plugged into it. Without a
/// plugin the bytes are returned as they are.
pub fn compose(
    user: Vec<u8>,
    user_path: &Path,
    plugins: &[PluginBytes],
) -> Result<Vec<u8>, LoadError> {
    if plugins.is_empty() {
        return Ok(user);
    }
    let mut graph = CompositionGraph::new();
    let user_package =
        Package::from_bytes("locust:user", None, user, graph.types_mut()).map_err(|error| {
            LoadError::NotAComponent {
                path: user_path.to_owned(),
                reason: format!("{error:#}"),
            }
        })?;
    let user_id = register(&mut graph, user_package, user_path)?;
    let mut plugin_ids = Vec::new();
    for (index, plugin) in plugins.iter().enumerate() {
        let package = Package::from_bytes(
            &format!("locust:plugin{index}"),
            None,
            plugin.bytes.clone(),
            graph.types_mut(),
        )
        .map_err(|_| {
            plugin_error(
                &plugin.path,
                "not a plugin: it is not a WebAssembly component (build a plugin crate for \
                 wasm32-wasip2, or pass its directory)",
            )
        })?;
        plugin_ids.push(register(&mut graph, package, &plugin.path)?);
    }
    let world = |id: PackageId| &graph.types()[graph[id].ty()];
    for (plugin, id) in plugins.iter().zip(&plugin_ids) {
        if let Some(name) = world(*id)
            .imports
            .keys()
            .find(|name| !provided_by_host(name))
        {
            return Err(plugin_error(
                &plugin.path,
                format!(
                    "the plugin imports {name}, which the host does not provide (a plugin may \
                     import locust:runtime and wasi interfaces only)"
                ),
            ));
        }
    }
    let mut used = vec![false; plugins.len()];
    for name in world(user_id).imports.keys() {
        if provided_by_host(name) {
            continue;
        }
        let providers: Vec<usize> = plugin_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                world(**id)
                    .exports
                    .keys()
                    .any(|export| are_semver_compatible(export, name))
            })
            .map(|(index, _)| index)
            .collect();
        match providers.as_slice() {
            [] => {
                return Err(LoadError::NotAComponent {
                    path: user_path.to_owned(),
                    reason: unprovided(name),
                });
            }
            [one] => used[*one] = true,
            [first, second, ..] => {
                return Err(LoadError::Plugin(format!(
                    "{name} is exported by two plugins, {} and {}: pass only one of them",
                    plugins[*first].path.display(),
                    plugins[*second].path.display()
                )));
            }
        }
    }
    let mut plugs = Vec::new();
    for ((plugin, id), used) in plugins.iter().zip(plugin_ids).zip(used) {
        if used {
            plugs.push(id);
        } else {
            tracing::warn!(target: "locust.main", "plugin {} is not used: {} imports nothing it exports", plugin.path.display(), user_path.display());
        }
    }
    if plugs.is_empty() {
        // Nothing to plug: the user component as it is (same bytes, same hash).
        let user = &graph[user_id];
        return Ok(user.bytes().to_vec());
    }
    wac_graph::plug(&mut graph, plugs, user_id)
        .map_err(|error| LoadError::Plugin(format!("plugging failed: {error:#}")))?;
    graph
        .encode(EncodeOptions::default())
        .map_err(|error| LoadError::Plugin(format!("the composed component is invalid: {error:#}")))
}

fn register(
    graph: &mut CompositionGraph,
    package: Package,
    path: &Path,
) -> Result<PackageId, LoadError> {
    graph
        .register_package(package)
        .map_err(|error| plugin_error(path, format!("{error:#}")))
}
