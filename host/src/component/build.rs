//! Builds a guest crate directory (`-f dir`) into a component with cargo, making sure the
//! `wasm32-wasip2` target is installed first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::LoadError;

/// The target guests are compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Install the guest target with rustup if it is missing. A `rust-toolchain.toml` listing the
/// target is not enough: plain cargo does not add targets to an installed toolchain.
pub fn ensure_guest_target(dir: &Path) -> Result<(), LoadError> {
    // Run rustup where the guest is, so that its toolchain file (if any) picks the toolchain.
    let installed = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "list", "--installed"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| LoadError::Toolchain(format!("could not run rustup ({error})")))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == GUEST_TARGET)
    {
        return Ok(());
    }
    tracing::info!(target: "locust.main", "installing the {GUEST_TARGET} target with rustup");
    let status = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "add", GUEST_TARGET])
        .status()
        .map_err(|error| LoadError::Toolchain(format!("could not run rustup ({error})")))?;
    if status.success() {
        Ok(())
    } else {
        Err(LoadError::Toolchain(format!(
            "`rustup target add {GUEST_TARGET}` failed"
        )))
    }
}

/// Build the crate in `dir` for the guest target in release mode and return the component's
/// path. Cargo's diagnostics go to our stderr so compile errors stay readable.
pub fn build_guest_crate(dir: &Path) -> Result<PathBuf, LoadError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(LoadError::NotAComponent {
            path: dir.to_owned(),
            reason: "it is a directory without a Cargo.toml; pass a .wasm file or a guest crate"
                .to_owned(),
        });
    }
    ensure_guest_target(dir)?;
    tracing::info!(target: "locust.main", "building {} for {GUEST_TARGET}", dir.display());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", GUEST_TARGET])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest)
        // Guests need no debug info; stripping keeps components small and compiles fast.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| LoadError::Toolchain(format!("could not run cargo ({error})")))?;
    if !output.status.success() {
        return Err(LoadError::Build(dir.to_owned()));
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    find_component(&String::from_utf8_lossy(&output.stdout), &manifest).ok_or_else(|| {
        LoadError::NotAComponent {
            path: dir.to_owned(),
            reason: "building it produced no .wasm file; is it a `cdylib` crate?".to_owned(),
        }
    })
}

/// Find the `.wasm` artifact of the package at `manifest` in cargo's JSON messages.
fn find_component(messages: &str, manifest: &Path) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path) == manifest)
        })
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| path.extension().is_some_and(|ext| ext == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cdylib_of_the_right_package() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","manifest_path":"/x/dep/Cargo.toml","filenames":["/t/libdep.rlib"]}"#,
            "\n",
            r#"{"reason":"compiler-artifact","manifest_path":"/x/me/Cargo.toml","filenames":["/t/me.wasm"]}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#
        );
        assert_eq!(
            find_component(messages, Path::new("/x/me/Cargo.toml")),
            Some(PathBuf::from("/t/me.wasm"))
        );
        assert_eq!(
            find_component(messages, Path::new("/x/other/Cargo.toml")),
            None
        );
    }
}
