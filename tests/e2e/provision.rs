//! What the suite needs from outside Cargo, provisioned the first time a test asks for it, so
//! that `cargo test` passes on a new machine with nothing installed by hand.
//!
//! Debian packages are installed with apt-get when the tests run as root (or where `sudo`
//! needs no password); otherwise the test fails with the exact command to run. A test never
//! skips: a tool that cannot be had is a failure naming what is missing and how to get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

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
    let found = || {
        Some(Chromium {
            browser: on_path("chromium")?,
            driver: on_path("chromedriver")?,
        })
    };
    CHROMIUM
        .get_or_init(|| match found() {
            Some(chromium) => Ok(chromium),
            None => {
                debian_packages(&["chromium", "chromium-driver"], "the browser tests")?;
                found().ok_or_else(|| {
                    "chromium-driver was installed but chromium or chromedriver is still not on \
                     PATH; check PATH includes /usr/bin"
                        .to_owned()
                })
            }
        })
        .as_ref()
        .unwrap_or_else(|missing| panic!("{missing}"))
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
