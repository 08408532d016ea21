//! The tenants file of `locust serve`: who may submit tests, with which token, within which
//! quotas and grants.
//!
//! ```toml
//! [[tenant]]
//! name = "checkout"
//! # SHA-256 of the API token, hex: `printf %s "$TOKEN" | sha256sum`
//! token-sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
//! allow-hosts = ["127.0.0.1:8080", "*.staging.example.com"]
//! max-users = 200
//! max-concurrent-runs = 2
//! max-queued-runs = 10
//! max-run-time = "30m"
//! max-user-memory-mib = 64
//! max-stored-runs = 100
//! max-fuel-per-second = 1_000_000_000
//! ```
//!
//! Tokens are never stored: a request's token is hashed and compared with every tenant's hash
//! in constant time.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::grants::HostRule;
use crate::timespan::parse_timespan;

/// A tenants file that cannot be used, with what is wrong in it.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// The file could not be read.
    #[error("could not read the tenants file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("the tenants file {path} is not valid: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (line and column included).
        message: String,
    },
    /// A tenant's entry is wrong.
    #[error("the tenants file {path}: tenant {tenant:?}: {message}")]
    Tenant {
        /// The file.
        path: String,
        /// The tenant's name.
        tenant: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// What a tenant may use. Every limit is enforced when a run is submitted (a run over a limit
/// is refused, never half-started) and, where it applies, while the run goes on.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Quota {
    /// Users of one run.
    pub max_users: u64,
    /// Runs executing at once; more wait in the tenant's queue.
    pub max_concurrent_runs: usize,
    /// Runs waiting in the queue; more are refused.
    pub max_queued_runs: usize,
    /// Longest run; also the run time of a run that names none.
    #[serde(serialize_with = "as_seconds")]
    pub max_run_time: Duration,
    /// Linear memory of one user, MiB.
    pub max_user_memory_mib: u32,
    /// Finished runs kept; the oldest are deleted beyond this.
    pub max_stored_runs: usize,
    /// Components kept; uploading one more is refused until one is deleted.
    pub max_components: usize,
    /// Size of one uploaded component, MiB.
    pub max_component_mib: u32,
    /// The CPU share of each run: WebAssembly instructions per second all its users execute
    /// together; a run past it is slowed down, not stopped.
    pub max_fuel_per_second: u64,
}

fn as_seconds<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_secs())
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            max_users: 100,
            max_concurrent_runs: 1,
            max_queued_runs: 10,
            max_run_time: Duration::from_secs(3600),
            max_user_memory_mib: 64,
            max_stored_runs: 100,
            max_components: 20,
            max_component_mib: 64,
            max_fuel_per_second: 1_000_000_000,
        }
    }
}

/// One tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Its name: lower-case letters, digits and dashes.
    pub name: String,
    token_sha256: [u8; 32],
    /// The hosts its runs may reach (its `--allow-host` grants).
    pub allow_hosts: Vec<HostRule>,
    /// Its limits.
    pub quota: Quota,
}

impl Tenant {
    /// Whether `rules` grant `url`'s authority to this tenant.
    pub fn may_reach(&self, url: &str) -> bool {
        crate::grants::covers(&self.allow_hosts, url)
    }
}

/// Every tenant of the service.
#[derive(Clone, Debug)]
pub struct Tenants {
    tenants: Vec<Tenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tenant: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    name: String,
    token_sha256: String,
    #[serde(default)]
    allow_hosts: Vec<String>,
    max_users: Option<u64>,
    max_concurrent_runs: Option<usize>,
    max_queued_runs: Option<usize>,
    max_run_time: Option<String>,
    max_user_memory_mib: Option<u32>,
    max_stored_runs: Option<usize>,
    max_components: Option<usize>,
    max_component_mib: Option<u32>,
    max_fuel_per_second: Option<u64>,
}

/// The SHA-256 of `token`.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (index, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(hash)
}

/// Equality that takes the same time wherever the inputs differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

impl Tenants {
    /// Read and check the tenants file at `path`.
    pub fn load(path: &Path) -> Result<Self, TenantsError> {
        let text = std::fs::read_to_string(path).map_err(|error| TenantsError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Check the tenants file `text`, named `path` in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, TenantsError> {
        let file: File = toml::from_str(text).map_err(|error| TenantsError::Syntax {
            path: path.to_owned(),
            message: error.message().to_owned()
                + &error
                    .span()
                    .map(|span| {
                        let line = text[..span.start].matches('\n').count() + 1;
                        format!(" (line {line})")
                    })
                    .unwrap_or_default(),
        })?;
        let mut names = HashSet::new();
        let mut hashes = Vec::new();
        let mut tenants = Vec::new();
        for entry in file.tenant {
            let wrong = |message: String| TenantsError::Tenant {
                path: path.to_owned(),
                tenant: entry.name.clone(),
                message,
            };
            if !crate::component::is_kebab_case(&entry.name) || entry.name.len() > 64 {
                return Err(wrong(
                    "a tenant's name is 1 to 64 lower-case letters, digits and dashes".to_owned(),
                ));
            }
            if !names.insert(entry.name.clone()) {
                return Err(wrong("the name is used twice".to_owned()));
            }
            let token_sha256 = parse_hash(&entry.token_sha256).ok_or_else(|| {
                wrong(
                    "token-sha256 must be 64 hex digits, the SHA-256 of the token \
                     (`printf %s \"$TOKEN\" | sha256sum`)"
                        .to_owned(),
                )
            })?;
            if hashes.iter().any(|other| same(other, &token_sha256)) {
                return Err(wrong(
                    "another tenant has the same token; give each tenant its own".to_owned(),
                ));
            }
            hashes.push(token_sha256);
            let allow_hosts = entry
                .allow_hosts
                .iter()
                .map(|spec| HostRule::parse(spec))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| wrong(format!("allow-hosts: {message}")))?;
            let defaults = Quota::default();
            let max_run_time = match &entry.max_run_time {
                None => defaults.max_run_time,
                Some(text) => match parse_timespan(text) {
                    Ok(span) if !span.is_zero() => span,
                    Ok(_) => return Err(wrong("max-run-time must be longer than 0s".to_owned())),
                    Err(message) => return Err(wrong(format!("max-run-time: {message}"))),
                },
            };
            let quota = Quota {
                max_users: entry.max_users.unwrap_or(defaults.max_users),
                max_concurrent_runs: entry
                    .max_concurrent_runs
                    .unwrap_or(defaults.max_concurrent_runs),
                max_queued_runs: entry.max_queued_runs.unwrap_or(defaults.max_queued_runs),
                max_run_time,
                max_user_memory_mib: entry
                    .max_user_memory_mib
                    .unwrap_or(defaults.max_user_memory_mib),
                max_stored_runs: entry.max_stored_runs.unwrap_or(defaults.max_stored_runs),
                max_components: entry.max_components.unwrap_or(defaults.max_components),
                max_component_mib: entry
                    .max_component_mib
                    .unwrap_or(defaults.max_component_mib),
                max_fuel_per_second: entry
                    .max_fuel_per_second
                    .unwrap_or(defaults.max_fuel_per_second),
            };
            for (key, value) in [
                ("max-users", quota.max_users),
                ("max-concurrent-runs", quota.max_concurrent_runs as u64),
                ("max-user-memory-mib", u64::from(quota.max_user_memory_mib)),
                ("max-stored-runs", quota.max_stored_runs as u64),
                ("max-components", quota.max_components as u64),
                ("max-component-mib", u64::from(quota.max_component_mib)),
                ("max-fuel-per-second", quota.max_fuel_per_second),
            ] {
                if value == 0 {
                    return Err(wrong(format!("{key} must be at least 1")));
                }
            }
            if quota.max_user_memory_mib > 4096 {
                return Err(wrong(
                    "max-user-memory-mib is at most 4096 (a 32-bit guest's whole memory)"
                        .to_owned(),
                ));
            }
            tenants.push(Tenant {
                name: entry.name,
                token_sha256,
                allow_hosts,
                quota,
            });
        }
        Ok(Self { tenants })
    }

    /// The tenant whose token is `token`, if any.
    pub fn authenticate(&self, token: &str) -> Option<&Tenant> {
        let hash = hash_token(token);
        // Compare with every tenant, so the time taken says nothing about which matched.
        let mut found = None;
        for tenant in &self.tenants {
            if same(&tenant.token_sha256, &hash) {
                found = Some(tenant);
            }
        }
        found
    }

    /// The tenant named `name`.
    pub fn get(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|tenant| tenant.name == name)
    }

    /// How many tenants there are.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(hash: [u8; 32]) -> String {
        hash.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn tenants_are_found_by_their_token_with_their_quotas() {
        let text = format!(
            "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{}\"\nmax-users = 5\nmax-run-time = \"10m\"\nallow-hosts = [\"127.0.0.1:8080\"]\n\n\
             [[tenant]]\nname = \"b-2\"\ntoken-sha256 = \"{}\"\n",
            hex(hash_token("secret-a")),
            hex(hash_token("secret-b")).to_uppercase(),
        );
        let tenants = Tenants::parse(&text, "tenants.toml").expect("valid");
        let a = tenants.authenticate("secret-a").expect("a");
        assert_eq!(a.name, "a");
        assert_eq!(a.quota.max_users, 5);
        assert_eq!(a.quota.max_run_time, Duration::from_secs(600));
        assert!(a.may_reach("http://127.0.0.1:8080/x"));
        assert!(!a.may_reach("http://127.0.0.1:8081"));
        let b = tenants.authenticate("secret-b").expect("b");
        assert_eq!(b.quota, Quota::default());
        assert!(!b.may_reach("http://127.0.0.1:8080"), "no grants, no hosts");
        assert!(tenants.authenticate("secret-c").is_none());
        assert!(tenants.authenticate("").is_none());
    }

    #[test]
    fn mistakes_name_the_tenant_and_the_fix() {
        let hash = hex(hash_token("t"));
        let cases = [
            ("[[tenant]]\nname = \"a\"\n", "missing field `token-sha256`"),
            (
                "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"abc\"\n",
                "64 hex digits",
            ),
            (
                &format!("[[tenant]]\nname = \"A B\"\ntoken-sha256 = \"{hash}\"\n"),
                "lower-case",
            ),
            (
                &format!(
                    "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{hash}\"\n[[tenant]]\nname = \"b\"\ntoken-sha256 = \"{hash}\"\n"
                ),
                "same token",
            ),
            (
                &format!("[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{hash}\"\nmax-users = 0\n"),
                "max-users must be at least 1",
            ),
            (
                &format!("[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{hash}\"\nmax-userz = 3\n"),
                "unknown field `max-userz`",
            ),
            (
                &format!(
                    "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{hash}\"\nallow-hosts = [\"http://\"]\n"
                ),
                "allow-hosts",
            ),
            (
                &format!(
                    "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{hash}\"\nmax-run-time = \"soon\"\n"
                ),
                "max-run-time",
            ),
        ];
        for (text, expected) in cases {
            let error = Tenants::parse(text, "t.toml").expect_err(text).to_string();
            assert!(
                error.contains(expected),
                "{error:?} should say {expected:?}"
            );
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
    }
}
