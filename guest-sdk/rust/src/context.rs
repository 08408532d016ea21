//! Facts about the running user, from the host.

use crate::bindings::locust::runtime::context;

/// The host this user targets (`--host`, else the class's `host`), if any.
pub fn host() -> Option<String> {
    context::host()
}

/// A number unique to this simulated user in its process, from 1.
pub fn user_id() -> u64 {
    context::user_id()
}

/// The seed the host chose for this user; [`crate::random`] is already seeded with it.
pub fn random_seed() -> u64 {
    context::random_seed()
}

/// The value of an option declared with [`Scenario::option`](crate::Scenario::option), or its
/// default; `None` if unset.
pub fn option(name: &str) -> Option<String> {
    context::get_option(name)
}
