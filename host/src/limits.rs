//! Process limits a load test needs: enough open files for every user's connections. At start
//! the soft limit is raised toward the hard limit; if it stays too low, the user is told how
//! to raise it.

/// File descriptors needed for `users` simulated users: a connection or two each, plus room
/// for the runtime, the log and the CSV files.
pub fn open_files_needed(users: u64) -> u64 {
    users.saturating_mul(2).saturating_add(1024)
}

/// Raise the open-files soft limit to what `users` need if the hard limit allows; warn if it
/// stays below. Returns the soft limit now in force.
pub fn raise_open_files_limit(users: u64) -> u64 {
    let needed = open_files_needed(users);
    let current = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => soft,
        Err(error) => {
            tracing::warn!(target: "locust.main", "could not read the open files limit: {error}");
            return 0;
        }
    };
    if current >= needed {
        return current;
    }
    let raised = rlimit::increase_nofile_limit(needed).unwrap_or(current);
    if raised < needed {
        tracing::warn!(
            target: "locust.main",
            "the open files limit is {raised}, below the {needed} that {users} users need, and the system did not allow raising it: run `ulimit -n {needed}` (or raise the hard limit) before locust"
        );
    } else {
        tracing::debug!(target: "locust.main", "raised the open files limit from {current} to {raised}");
    }
    raised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_within_the_hard_limit() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limits");
        let users = 1000;
        let now = raise_open_files_limit(users);
        assert!(now >= open_files_needed(users).min(hard), "{now} of {hard}");
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limits");
        assert_eq!(soft, now);
    }
}
