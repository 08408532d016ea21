//! What the builds from source (Python locustfiles, JavaScript scripts) share: a content key
//! over every file that goes into a component, the cache folder named by it, one build per
//! key at a time, and a scratch folder removed when the build ends.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::LoadError;
use crate::files;

/// Folders never part of a project.
const SKIPPED_FOLDERS: &[&str] = &[
    "__pycache__",
    "node_modules",
    "target",
    "venv",
    "site-packages",
];
/// Most bytes of project files to hash and bundle.
const MAX_PROJECT_BYTES: u64 = 64 << 20;
/// Most project files.
const MAX_PROJECT_FILES: usize = 5_000;

/// Add one named entry to `key`, lengths first, so entries cannot run into each other.
pub fn hash_entry(key: &mut Sha256, name: &str, content: &[u8]) {
    key.update((name.len() as u64).to_le_bytes());
    key.update(name.as_bytes());
    key.update((content.len() as u64).to_le_bytes());
    key.update(content);
}

/// Hash every file under `folder` (sorted; hidden, tool and dependency folders skipped, and
/// files ending in one of `skipped_suffixes`) into `key`. `what` names the file the folder is
/// bundled with, in the error for a folder too big to bundle.
pub fn hash_folder(
    key: &mut Sha256,
    folder: &Path,
    what: &str,
    skipped_suffixes: &[&str],
) -> Result<(), LoadError> {
    let mut pending = vec![folder.to_owned()];
    let (mut count, mut bytes) = (0usize, 0u64);
    let too_big = || LoadError::NotAComponent {
        path: folder.to_owned(),
        reason: format!(
            "the {what}'s folder is bundled into the component, and this one holds more than \
             {MAX_PROJECT_FILES} files or {} MiB; put the {what} and its modules in a folder \
             of their own",
            MAX_PROJECT_BYTES >> 20
        ),
    };
    key.update(folder.as_os_str().as_encoded_bytes());
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|error| {
                LoadError::Setup(format!("could not read {}: {error}", dir.display()))
            })?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIPPED_FOLDERS.contains(&name.as_ref()) {
                    pending.push(path);
                }
            } else if kind.is_file()
                && !skipped_suffixes.iter().any(|suffix| name.ends_with(suffix))
            {
                count += 1;
                bytes += entry.metadata().map(|meta| meta.len()).unwrap_or(0);
                if count > MAX_PROJECT_FILES || bytes > MAX_PROJECT_BYTES {
                    return Err(too_big());
                }
                let content = std::fs::read(&path).map_err(|error| {
                    LoadError::Setup(format!("could not read {}: {error}", path.display()))
                })?;
                let relative = path.strip_prefix(folder).unwrap_or(&path);
                hash_entry(key, &relative.to_string_lossy(), &content);
            }
        }
    }
    Ok(())
}

/// The component cached under `key` in the cache folder `kind`, built by `build` (into the
/// path it is given) when it is not there yet. Builds of one key wait for each other, so a
/// second process finds the first one's result.
pub fn cached_build(
    kind: &str,
    key: Sha256,
    source: &Path,
    build: impl FnOnce(&Path) -> Result<(), LoadError>,
) -> Result<PathBuf, LoadError> {
    let key = format!("{:x}", key.finalize());
    let cache = files::cache_folder(kind).ok_or_else(|| {
        LoadError::Setup(
            "no cache folder for the built component: set HOME or XDG_CACHE_HOME".to_owned(),
        )
    })?;
    std::fs::create_dir_all(&cache).map_err(|error| {
        LoadError::Setup(format!("could not create {}: {error}", cache.display()))
    })?;
    let component = cache.join(format!("{key}.wasm"));
    if component.is_file() {
        return Ok(component);
    }
    let lock_path = cache.join(format!("{key}.lock"));
    let lock = File::create(&lock_path)
        .and_then(|lock| lock.lock().map(|()| lock))
        .map_err(|error| {
            LoadError::Setup(format!(
                "could not lock the build of {}: {error}",
                source.display()
            ))
        })?;
    if !component.is_file() {
        build(&component)?;
    }
    drop(lock);
    let _ = std::fs::remove_file(lock_path);
    Ok(component)
}

/// Run a build tool with no input and its output discarded: `Ok(Err(stderr))` when it ran
/// and failed, `Err` when it could not be started. `tool` names it in that error.
pub fn run_tool(command: &mut Command, tool: &str) -> Result<Result<(), String>, LoadError> {
    let result = command
        // The tool's own Rust backtraces say nothing about the user's code.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|error| LoadError::Toolchain(format!("could not run {tool} ({error})")))?;
    if result.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(String::from_utf8_lossy(&result.stderr).into_owned()))
    }
}

/// What to show of a failed build's error output: what the SDK wrote between `start` and
/// `end` (the user's own error), else the last 20 lines (a failure of the tool itself).
pub fn marked_error(stderr: &str, start: &str, end: &str) -> String {
    if let Some((_, rest)) = stderr.rsplit_once(start)
        && let Some((message, _)) = rest.split_once(end)
    {
        return message.trim_matches('\n').to_owned();
    }
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A build's scratch folder, removed when the build ends.
pub struct Workspace(PathBuf);

impl Workspace {
    /// A fresh scratch folder beside the component being built (the caller holds its lock).
    pub fn beside(component: &Path) -> Self {
        let path = component.with_extension("build");
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `files` (path below the folder, text) under `below`.
    pub fn write_all(&self, below: &str, files: &[(&str, &str)]) -> std::io::Result<PathBuf> {
        let root = self.0.join(below);
        for (name, text) in files {
            let path = root.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
        }
        Ok(root)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
