//! Files this program writes: each replaced whole (readers in other processes see the old file
//! or the new one, never half of one), and the user's cache folder for what can be rebuilt.

use std::io;
use std::path::{Path, PathBuf};

/// Replace `path` with `content` atomically (several processes may write the same file).
pub fn replace(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, content)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// The cache folder `name` (not created): under `$XDG_CACHE_HOME/locust`, else
/// `~/.cache/locust`; `None` when there is no home to put it in.
pub fn cache_folder(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("locust").join(name))
}
