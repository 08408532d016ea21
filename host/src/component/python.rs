//! Builds a Python locustfile (`-f locustfile.py`, or a directory holding one) into a user
//! component with componentize-py, and caches the result by content hash.
//!
//! The Python SDK (`guest-sdk/python`) and the WIT contract are embedded in this binary, so
//! SDK, contract and host always match; componentize-py is the only tool to install. The
//! component is named by a SHA-256 of everything that goes into it: the tool's version, the
//! SDK, the contract, every file under the locustfile's folder (and under each `PYTHONPATH`
//! folder), and the distributions installed in the tool's site-packages. A hit costs a walk of
//! those folders, one `python3 -c` and no build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::LoadError;
use super::source_cache::{
    Workspace, cached_build, hash_entry, hash_folder, marked_error, run_tool,
};

/// The componentize-py release the SDK is built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// Releases whose version starts with this are accepted.
const COMPATIBLE_SERIES: &str = "0.25.";

macro_rules! sdk_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../guest-sdk/python/",
                $path
            )),
        )
    };
}

/// The files of `guest-sdk/python`, by path below it.
const SDK: &[(&str, &str)] = &[
    sdk_file!("locust/__init__.py"),
    sdk_file!("locust/_runtime.py"),
    sdk_file!("locust/clients.py"),
    sdk_file!("locust/env.py"),
    sdk_file!("locust/event.py"),
    sdk_file!("locust/exception.py"),
    sdk_file!("locust/debug.py"),
    sdk_file!("locust/log.py"),
    sdk_file!("locust/runners.py"),
    sdk_file!("locust/shape.py"),
    sdk_file!("locust/task.py"),
    sdk_file!("locust/user/__init__.py"),
    sdk_file!("locust/user/markov_taskset.py"),
    sdk_file!("locust/user/sequential_taskset.py"),
    sdk_file!("locust/user/task.py"),
    sdk_file!("locust/user/users.py"),
    sdk_file!("locust/user/wait_time.py"),
    sdk_file!("locust/wait_time.py"),
    sdk_file!("locust/contrib/__init__.py"),
    sdk_file!("locust/contrib/fasthttp.py"),
    sdk_file!("gevent/__init__.py"),
    sdk_file!("gevent/pool.py"),
];

/// The contract every component implements.
const WIT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/locust.wit"));

/// The module componentize-py builds from: it imports the locustfile (at build time) and
/// names the classes that implement the exported interfaces.
const ENTRY_MODULE: &str = "locust_entry";

/// Whether `path` names a Python locustfile: a `.py` file, or a directory with a
/// `locustfile.py` and no `Cargo.toml`.
pub fn is_python(path: &Path) -> bool {
    if path.is_dir() {
        path.join("locustfile.py").is_file() && !path.join("Cargo.toml").exists()
    } else {
        path.extension().is_some_and(|ext| ext == "py")
    }
}

/// A plugin interface a Python locustfile imports: the WIT files of its package, and the
/// interface's name (`locust:redis/client@0.1.0`).
#[derive(Clone, Debug)]
pub struct PluginImport {
    /// The `.wit` files of the plugin's package, by file name.
    pub wit: Vec<(String, String)>,
    /// The interfaces it exports for users.
    pub interfaces: Vec<String>,
}

/// The world a locustfile with plugins is built against: the user component's, plus an import
/// of every plugin interface.
fn world_with(imports: &[PluginImport]) -> String {
    let mut world = String::from(
        "package locust:locustfile;\n\nworld locustfile {\n    include locust:runtime/shaped-user-component@0.4.0;\n",
    );
    for interface in imports.iter().flat_map(|import| &import.interfaces) {
        world.push_str(&format!("    import {interface};\n"));
    }
    world.push_str("}\n");
    world
}

/// Build the locustfile at `path` (a file, or a directory holding `locustfile.py`) and return
/// the component's path in the cache, building only when nothing matching is cached.
pub fn build_locustfile(path: &Path) -> Result<PathBuf, LoadError> {
    build_locustfile_with(path, &[])
}

/// [`build_locustfile`], the locustfile importing the interfaces of `imports` (its plugins).
pub fn build_locustfile_with(path: &Path, imports: &[PluginImport]) -> Result<PathBuf, LoadError> {
    let file = if path.is_dir() {
        path.join("locustfile.py")
    } else {
        path.to_owned()
    };
    let file = file.canonicalize().unwrap_or(file);
    let module = module_name(&file)?;
    let project = file.parent().unwrap_or(Path::new("/")).to_owned();
    let tool = Tool::find(&file)?;
    let search_path = python_path();
    let mut key = Sha256::new();
    key.update(b"locust python component 1\0");
    key.update(tool.version.as_bytes());
    key.update(WIT.as_bytes());
    for (name, text) in SDK {
        hash_entry(&mut key, name, text.as_bytes());
    }
    key.update(module.as_bytes());
    for import in imports {
        for (name, text) in &import.wit {
            hash_entry(&mut key, name, text.as_bytes());
        }
        for interface in &import.interfaces {
            hash_entry(&mut key, "import", interface.as_bytes());
        }
    }
    for folder in std::iter::once(&project).chain(&search_path) {
        hash_folder(&mut key, folder, "locustfile", &[".pyc"])?;
    }
    for package in tool.installed_packages() {
        hash_entry(&mut key, "installed", package.as_bytes());
    }
    cached_build("python", key, &file, |component| {
        build(
            &tool,
            &file,
            &module,
            &project,
            &search_path,
            imports,
            component,
        )
    })
}

/// The locustfile's module name: its file name without `.py` where that is a Python
/// identifier, else the name with every other character made `_` (Locust imports a file such
/// as `x-forwarded-for.py` by its path; the runtime does the same). It must not hide one of the
/// SDK's modules.
fn module_name(file: &Path) -> Result<String, LoadError> {
    let stem = file
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    let mut module: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !module.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        module.insert(0, '_');
    }
    let reserved = ["locust", "gevent", ENTRY_MODULE].contains(&module.as_str());
    if reserved {
        return Err(LoadError::NotAComponent {
            path: file.to_owned(),
            reason: format!(
                "a locustfile named like one of the SDK's modules (locust, gevent or \
                 {ENTRY_MODULE}) would hide it; rename it (e.g. locustfile.py)"
            ),
        });
    }
    Ok(module)
}

/// Folders named by `PYTHONPATH`, bundled with the locustfile's own.
fn python_path() -> Vec<PathBuf> {
    std::env::var_os("PYTHONPATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .filter(|dir| dir.is_dir())
                .map(|dir| dir.canonicalize().unwrap_or(dir))
                .collect()
        })
        .unwrap_or_default()
}

/// How to run componentize-py, and its version.
struct Tool {
    program: PathBuf,
    prefix: Vec<String>,
    version: String,
}

impl Tool {
    /// `componentize-py` on PATH, else the module in `python3`; an error saying how to
    /// install it when neither works or the version is not one the SDK supports.
    fn find(locustfile: &Path) -> Result<Self, LoadError> {
        let candidates = [
            (PathBuf::from("componentize-py"), vec![]),
            (
                PathBuf::from("python3"),
                vec![
                    "-c".to_owned(),
                    "import sys, componentize_py; sys.argv[0] = 'componentize-py'; componentize_py.script()"
                        .to_owned(),
                ],
            ),
        ];
        for (program, prefix) in candidates {
            let Ok(output) = Command::new(&program)
                .args(&prefix)
                .arg("--version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
            else {
                continue;
            };
            if !output.status.success() {
                continue;
            }
            let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            let number = version.rsplit(' ').next().unwrap_or_default();
            if !number.starts_with(COMPATIBLE_SERIES) {
                return Err(LoadError::Toolchain(format!(
                    "{} needs componentize-py {COMPATIBLE_SERIES}x to become a WebAssembly \
                     component, and {} is {version}: install the supported release with \
                     `python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}`",
                    locustfile.display(),
                    program.display()
                )));
            }
            return Ok(Self {
                program,
                prefix,
                version,
            });
        }
        Err(LoadError::Toolchain(format!(
            "{} needs componentize-py {COMPATIBLE_SERIES}x to become a WebAssembly component. \
             Install it with `pipx install componentize-py=={COMPONENTIZE_PY_VERSION}` or \
             `python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (any Python \
             >= 3.10; it is only needed to build), or pass a component built elsewhere: -f \
             locustfile.wasm",
            locustfile.display()
        )))
    }
}

impl Tool {
    /// The Python interpreter that runs the tool: `python3` for the module form, else the one
    /// on the `#!` line of the `componentize-py` script found on PATH.
    fn interpreter(&self) -> PathBuf {
        if !self.prefix.is_empty() {
            return self.program.clone();
        }
        let script = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&self.program))
                .find(|path| path.is_file())
        });
        let shebang = script
            .and_then(|script| std::fs::read(script).ok())
            .and_then(|bytes| shebang_program(&bytes));
        PathBuf::from(shebang.unwrap_or_else(|| "python3".to_owned()))
    }

    /// The distributions installed where the tool's Python finds packages (each
    /// `*.dist-info`/`*.egg-info` folder name, which holds the name and version, in every
    /// site-packages folder of its `sys.path`), sorted. componentize-py bundles from those
    /// folders, so installing, upgrading or removing a package there changes the cache key.
    fn installed_packages(&self) -> Vec<String> {
        let Ok(output) = Command::new(self.interpreter())
            .args(["-c", "import sys; print('\\n'.join(sys.path))"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            return Vec::new();
        };
        let mut packages = Vec::new();
        for folder in String::from_utf8_lossy(&output.stdout).lines() {
            if !(folder.ends_with("site-packages") || folder.ends_with("dist-packages")) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(folder) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".dist-info") || name.ends_with(".egg-info") {
                    packages.push(format!("{folder}/{name}"));
                }
            }
        }
        packages.sort();
        packages
    }
}

/// The program a script's `#!` line runs: `#!/venv/bin/python3 -E` gives `/venv/bin/python3`,
/// `#!/usr/bin/env python3` gives `python3`.
fn shebang_program(script: &[u8]) -> Option<String> {
    let line = script.split(|&b| b == b'\n').next()?.strip_prefix(b"#!")?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let program = if first.ends_with("/env") {
        words.next()?
    } else {
        first
    };
    Some(program.to_owned())
}

/// Run componentize-py on the locustfile, writing the component to `component`.
fn build(
    tool: &Tool,
    file: &Path,
    module: &str,
    project: &Path,
    search_path: &[PathBuf],
    imports: &[PluginImport],
    component: &Path,
) -> Result<(), LoadError> {
    let setup = |error: std::io::Error| {
        LoadError::Setup(format!(
            "could not prepare the build of {}: {error}",
            file.display()
        ))
    };
    // Under the build lock: no other process uses this folder.
    let work = Workspace::beside(component);
    let sdk = work.write_all("sdk", SDK).map_err(setup)?;
    let file_name = file
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    let entry = work.path().join("entry");
    std::fs::create_dir_all(&entry).map_err(setup)?;
    std::fs::write(
        entry.join(format!("{ENTRY_MODULE}.py")),
        format!(
            "import locust._runtime as _runtime\n\
             _runtime.load({module:?}, {file_name:?})\n\
             User = _runtime.UserExports\n\
             Hooks = _runtime.HookExports\n\
             LoadShape = _runtime.ShapeExports\n"
        ),
    )
    .map_err(setup)?;
    let wit = work.path().join("wit");
    std::fs::create_dir_all(&wit).map_err(setup)?;
    // Without plugins the contract is the root package; with them, a world of our own is, and
    // the contract and each plugin's package are its dependencies.
    let world = if imports.is_empty() {
        std::fs::write(wit.join("locust.wit"), WIT).map_err(setup)?;
        "shaped-user-component"
    } else {
        let runtime = wit.join("deps").join("locust-runtime");
        std::fs::create_dir_all(&runtime).map_err(setup)?;
        std::fs::write(runtime.join("locust.wit"), WIT).map_err(setup)?;
        for (index, import) in imports.iter().enumerate() {
            let folder = wit.join("deps").join(format!("plugin-{index}"));
            std::fs::create_dir_all(&folder).map_err(setup)?;
            for (name, text) in &import.wit {
                std::fs::write(folder.join(name), text).map_err(setup)?;
            }
        }
        std::fs::write(wit.join("locustfile.wit"), world_with(imports)).map_err(setup)?;
        "locustfile"
    };
    let output = work.path().join("component.wasm");
    tracing::info!(target: "locust.main", "building {} into a component with {}", file.display(), tool.version);
    let mut command = Command::new(&tool.program);
    command
        .args(&tool.prefix)
        .arg("--wit-path")
        .arg(&wit)
        .args(["--world", world, "componentize", ENTRY_MODULE])
        .arg("--python-path")
        .arg(&entry)
        .arg("--python-path")
        .arg(&sdk)
        .arg("--python-path")
        .arg(project);
    for folder in search_path {
        command.arg("--python-path").arg(folder);
    }
    command.arg("--output").arg(&output);
    if let Err(stderr) = run_tool(&mut command, "componentize-py")? {
        return Err(LoadError::Python {
            path: file.to_owned(),
            error: python_error(&stderr),
        });
    }
    std::fs::rename(&output, component).map_err(setup)
}

/// Marks the SDK writes around the traceback of a locustfile that failed to import.
const ERROR_START: &str = "--- locustfile error ---";
const ERROR_END: &str = "--- end of locustfile error ---";

/// What to show of componentize-py's error output: the locustfile's own traceback as the SDK
/// marked it, else the last lines (a failure of the tool itself).
fn python_error(stderr: &str) -> String {
    marked_error(stderr, ERROR_START, ERROR_END)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_sdk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python");
        let mut found = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).expect("the SDK folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    // The SDK's own unit tests are not part of it.
                    if path.file_name().is_some_and(|name| name != "tests") {
                        pending.push(path);
                    }
                } else if path.extension().is_some_and(|ext| ext == "py") {
                    found.push(
                        path.strip_prefix(&root)
                            .expect("below the SDK folder")
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        found.sort();
        let mut embedded: Vec<String> = SDK.iter().map(|(name, _)| (*name).to_owned()).collect();
        embedded.sort();
        assert_eq!(found, embedded, "list every SDK file in python::SDK");
    }

    #[test]
    fn module_names_are_python_identifiers_and_never_hide_the_sdk() {
        assert_eq!(
            module_name(Path::new("/x/locustfile.py")).expect("a module"),
            "locustfile"
        );
        assert_eq!(
            module_name(Path::new("/x/api_test.py")).expect("a module"),
            "api_test"
        );
        assert_eq!(
            module_name(Path::new("/x/x-forwarded-for.py")).expect("a module"),
            "x_forwarded_for"
        );
        assert_eq!(
            module_name(Path::new("/x/1st.py")).expect("a module"),
            "_1st"
        );
        for bad in ["/x/locust.py", "/x/gevent.py"] {
            let error = module_name(Path::new(bad))
                .expect_err("refused")
                .to_string();
            assert!(error.contains("rename it"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_marked_traceback_is_what_is_shown() {
        let stderr = format!(
            "noise\n{ERROR_START}\n  File \"locustfile.py\", line 2\nSyntaxError: bad\n{ERROR_END}\nCaused by: x"
        );
        assert_eq!(
            python_error(&stderr),
            "  File \"locustfile.py\", line 2\nSyntaxError: bad"
        );
        assert_eq!(python_error("a\n\nb\n"), "a\nb");
    }

    #[test]
    fn the_interpreter_of_a_script_is_read_from_its_first_line() {
        assert_eq!(
            shebang_program(b"#!/venv/bin/python3 -E\nimport sys\n").as_deref(),
            Some("/venv/bin/python3")
        );
        assert_eq!(
            shebang_program(b"#!/usr/bin/env python3\n").as_deref(),
            Some("python3")
        );
        assert_eq!(shebang_program(b"\x7fELF"), None);
        assert_eq!(shebang_program(b"#!\n"), None);
    }

    #[test]
    fn installing_a_package_changes_what_the_key_sees() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let site = dir.path().join("lib/site-packages");
        std::fs::create_dir_all(site.join("requests_toolbelt-1.0.0.dist-info")).expect("dist");
        std::fs::create_dir_all(site.join("requests_toolbelt")).expect("package");
        // A stand-in interpreter that answers `-c ...` with its sys.path.
        let python = dir.path().join("python3");
        std::fs::write(
            &python,
            format!("#!/bin/sh\necho /nowhere\necho {}\n", site.display()),
        )
        .expect("script");
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let tool = Tool {
            program: python,
            prefix: vec!["-c".to_owned()],
            version: String::new(),
        };
        let before = tool.installed_packages();
        assert_eq!(
            before,
            [format!(
                "{}/requests_toolbelt-1.0.0.dist-info",
                site.display()
            )]
        );
        std::fs::rename(
            site.join("requests_toolbelt-1.0.0.dist-info"),
            site.join("requests_toolbelt-1.0.1.dist-info"),
        )
        .expect("upgrade");
        assert_ne!(tool.installed_packages(), before);
    }

    #[test]
    fn python_paths_are_recognised() {
        assert!(is_python(Path::new("tests/locustfile.py")));
        assert!(!is_python(Path::new("tests/app.wasm")));
    }
}
