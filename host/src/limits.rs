//! Process limits a load test needs: enough open files for every user's connections, and
//! enough memory mappings for every user's sandbox. At start the limits are raised where the
//! system allows it; if they stay too low, the user is told how to raise them.

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

/// Memory mappings one instance slot takes once used: its fiber stack and guard, its linear
/// memory (stack, data image, heap, reserved rest). Measured: 48,078 mappings for 8,000 live
/// users; an unused slot takes 2.
pub const MAPPINGS_PER_INSTANCE: u64 = 6;
/// Mappings for the rest of the process.
const MAPPINGS_BESIDES: u64 = 4_096;

/// Mappings needed for `instances` pooled instances, plus room for the rest of the process.
pub fn map_count_needed(instances: u64) -> u64 {
    instances
        .saturating_mul(MAPPINGS_PER_INSTANCE)
        .saturating_add(MAPPINGS_BESIDES)
}

const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";

/// Make sure the kernel lets this process map `instances` instances (Linux's
/// `vm.max_map_count`, 65,530 by default, allows about 10,000): raise it if permitted (as root),
/// else warn with the command to run. Returns the limit now in force, if it could be read.
pub fn raise_map_count_limit(instances: u64) -> Option<u64> {
    let needed = map_count_needed(instances);
    let current: u64 = std::fs::read_to_string(MAX_MAP_COUNT)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if current >= needed {
        return Some(current);
    }
    match std::fs::write(MAX_MAP_COUNT, needed.to_string()) {
        Ok(()) => {
            tracing::info!(
                target: "locust.main",
                "raised vm.max_map_count from {current} to {needed} for {instances} user instances"
            );
            Some(needed)
        }
        Err(_) => {
            tracing::warn!(
                target: "locust.main",
                "vm.max_map_count is {current}, below the {needed} that {instances} users need (each user's sandbox takes a few memory mappings): run `sudo sysctl -w vm.max_map_count={needed}` before locust, or users beyond about {} will fail to start",
                current.saturating_sub(MAPPINGS_BESIDES) / MAPPINGS_PER_INSTANCE
            );
            Some(current)
        }
    }
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

    #[test]
    fn the_map_count_suffices_for_small_runs_without_touching_the_system() {
        // The default limit (65,530) covers the web UI's default capacity: nothing to raise.
        assert!(map_count_needed(10_004) < 65_530);
        assert!(map_count_needed(100_000) > 65_530);
        if let Some(limit) = raise_map_count_limit(1_000) {
            assert!(limit >= map_count_needed(1_000));
        }
    }
}
