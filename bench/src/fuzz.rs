//! `bench/run fuzz [N]`: feed N generated inputs (default 1,000,000) to each decoder of input a
//! stranger controls (`locust::decoders`), and report, per decoder, what was accepted, the
//! slowest and mean input, and how much the process grew. Fails on a panic, an input taking
//! over a second, or growth past 256 MiB.
//!
//! Inputs: a quarter arbitrary bytes, the rest a valid seed mutated (bytes flipped or set to
//! boundary values, runs inserted or deleted, cut short, spliced with another seed, msgpack
//! and JSON markers of huge lengths inserted), each from a fixed random seed so a run repeats.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// Largest process growth accepted over a decoder's whole run.
const MAX_GROWTH_KIB: u64 = 256 << 10;
/// Longest time one input may take.
const MAX_INPUT: Duration = Duration::from_secs(1);

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Fuzz every decoder with `count` inputs each; prints one row per decoder.
pub fn run(count: u64) -> anyhow::Result<()> {
    // Panics are counted and the first shown, not printed for every input.
    let first_panic = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    {
        let first_panic = first_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            let mut slot = first_panic
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(info.to_string());
            }
        }));
    }
    println!("| decoder | inputs | accepted | panics | slowest | mean | growth |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut failed = Vec::new();
    for (index, decoder) in locust::decoders::DECODERS.iter().enumerate() {
        let seeds = (decoder.seeds)();
        let mut rng = SmallRng::seed_from_u64(0x10c0_5700 + index as u64);
        let (mut accepted, mut panics) = (0u64, 0u64);
        let mut slowest = Duration::ZERO;
        let mut first_bad: Option<Vec<u8>> = None;
        let before = rss_kib();
        let mut peak = before;
        let started = Instant::now();
        for n in 0..count {
            let input = locust::decoders::mutate(&mut rng, &seeds);
            let one = Instant::now();
            match std::panic::catch_unwind(AssertUnwindSafe(|| (decoder.decode)(&input))) {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(_) => {
                    panics += 1;
                    first_bad.get_or_insert_with(|| input.clone());
                }
            }
            let took = one.elapsed();
            if took > slowest {
                slowest = took;
                if took > MAX_INPUT {
                    first_bad.get_or_insert_with(|| input.clone());
                }
            }
            if n % 10_000 == 0 {
                peak = peak.max(rss_kib());
            }
        }
        let total = started.elapsed();
        let growth = peak.saturating_sub(before);
        println!(
            "| {} | {count} | {accepted} | {panics} | {:.1} ms | {:.1} µs | {:.1} MiB |",
            decoder.name,
            slowest.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e6 / count.max(1) as f64,
            growth as f64 / 1024.0
        );
        if panics > 0 || slowest > MAX_INPUT || growth > MAX_GROWTH_KIB {
            let shown: String = first_bad
                .unwrap_or_default()
                .iter()
                .take(256)
                .map(|byte| format!("{byte:02x}"))
                .collect();
            failed.push(format!(
                "{}: {panics} panics ({}), slowest {slowest:?}, growth {growth} KiB; first bad input (hex) {shown}",
                decoder.name,
                first_panic
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .unwrap_or_default()
            ));
        }
    }
    let _ = std::panic::take_hook();
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}
