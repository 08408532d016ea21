//! Cranelift's incremental compilation cache on disk: compiled code per function, so a
//! component whose functions were compiled before (the same CPython inside every Python
//! locustfile, a locustfile edited and built again) compiles only what is new.
//!
//! Entries are files under the cache folder `functions`, named by the SHA-256 of the key
//! Cranelift gives (which covers the function's body and the compiler's settings), written
//! whole (renamed into place) so concurrent processes never read half an entry. Any entry may
//! be deleted at any time; it is compiled again when next needed.

use std::borrow::Cow;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::files;

/// A folder of compiled functions.
#[derive(Debug)]
pub struct FunctionCache {
    folder: PathBuf,
}

impl FunctionCache {
    /// The user's cache of compiled functions; `None` without a cache folder.
    pub fn open() -> Option<Self> {
        Some(Self {
            folder: files::cache_folder("functions")?,
        })
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        let name = format!("{:x}", Sha256::digest(key));
        self.folder.join(&name[..2]).join(&name[2..])
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        let stored = path
            .parent()
            .is_some_and(|folder| std::fs::create_dir_all(folder).is_ok())
            && files::replace(&path, &value).is_ok();
        if !stored {
            tracing::debug!(target: "locust.main", "could not cache a compiled function in {}", path.display());
        }
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::CacheStore as _;

    #[test]
    fn stores_and_finds_entries_by_key() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let cache = FunctionCache {
            folder: folder.path().to_owned(),
        };
        assert!(cache.get(b"key").is_none());
        assert!(cache.insert(b"key", b"code".to_vec()));
        assert_eq!(cache.get(b"key").as_deref(), Some(&b"code"[..]));
        assert!(cache.get(b"other").is_none());
    }
}
