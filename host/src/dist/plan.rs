//! How a master splits a test across workers: users per class for each worker, and each
//! worker's share of the spawn rate, as plain functions.

use std::time::Duration;

use crate::run::runner::apportion;

/// Users of each class for each worker (`result[worker][class]`). Per-class totals match the
/// class weights as closely as integers allow; every worker gets an equal share of each class
/// up to one user, and the leftovers rotate so that worker totals differ by at most one.
pub fn split_users(total: u64, weights: &[u32], workers: usize) -> Vec<Vec<u64>> {
    let mut split = vec![vec![0; weights.len()]; workers];
    if workers == 0 {
        return split;
    }
    let mut next = 0;
    for (class, count) in apportion(total, weights).into_iter().enumerate() {
        let base = count / workers as u64;
        let extra = (count % workers as u64) as usize;
        for worker in &mut split {
            worker[class] = base;
        }
        for offset in 0..extra {
            split[(next + offset) % workers][class] += 1;
        }
        next = (next + extra) % workers;
    }
    split
}

/// Each worker's spawn rate, in proportion to the users it spawns, so that all workers finish
/// ramping together and the swarm as a whole ramps at `rate`.
pub fn split_rate(rate: f64, users_per_worker: &[u64]) -> Vec<f64> {
    let total: u64 = users_per_worker.iter().sum();
    users_per_worker
        .iter()
        .map(|users| {
            if total == 0 {
                0.0
            } else {
                rate * *users as f64 / total as f64
            }
        })
        .collect()
}

/// When each of `workers` workers starts spawning, so that their schedules interleave: with
/// the swarm ramping at `rate` users per second, worker `i` starts `i / rate` seconds in
/// (each then spawns every `workers / rate` seconds), so a rate below the number of workers
/// does not start one user on every worker at once.
pub fn spawn_offsets(rate: f64, workers: usize) -> Vec<Duration> {
    (0..workers)
        .map(|index| {
            if rate > 0.0 && rate.is_finite() {
                Duration::try_from_secs_f64(index as f64 / rate).unwrap_or(Duration::MAX)
            } else {
                Duration::ZERO
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_totals_follow_weights_and_workers_stay_even() {
        for total in 0..60u64 {
            for workers in 1..6usize {
                let weights = [3, 1, 2];
                let split = split_users(total, &weights, workers);
                for (class, expected) in apportion(total, &weights).into_iter().enumerate() {
                    let sum: u64 = split.iter().map(|worker| worker[class]).sum();
                    assert_eq!(
                        sum, expected,
                        "class {class}, {total} users, {workers} workers"
                    );
                }
                let per_worker: Vec<u64> = split.iter().map(|worker| worker.iter().sum()).collect();
                let (min, max) = (per_worker.iter().min(), per_worker.iter().max());
                assert!(
                    max.zip(min).is_some_and(|(max, min)| max - min <= 1),
                    "{per_worker:?}"
                );
            }
        }
    }

    #[test]
    fn slow_rates_interleave_the_workers_instead_of_bursting() {
        // 1 user/s over 4 workers with 2 users each: one user per second overall.
        let offsets = spawn_offsets(1.0, 4);
        let rates = split_rate(1.0, &[2, 2, 2, 2]);
        let mut starts: Vec<f64> = offsets
            .iter()
            .zip(&rates)
            .flat_map(|(offset, rate)| {
                (0..2).map(move |k| offset.as_secs_f64() + f64::from(k) / rate)
            })
            .collect();
        starts.sort_by(f64::total_cmp);
        assert_eq!(starts, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(spawn_offsets(0.0, 2), [Duration::ZERO, Duration::ZERO]);
    }

    #[test]
    fn rates_add_up_to_the_requested_rate() {
        let rates = split_rate(1.0, &[3, 3, 2]);
        assert!((rates.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(rates[0], 0.375);
        assert_eq!(split_rate(5.0, &[0, 0]), [0.0, 0.0]);
    }
}
