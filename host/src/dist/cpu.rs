//! This process's CPU usage, sampled between calls: what heartbeats carry and what the
//! 90 % warnings watch.

use std::time::{Duration, Instant};

/// Usage above this share of one core draws a warning, as in Locust.
pub const CPU_WARNING_PERCENT: f64 = 90.0;

/// CPU time the process has used (all threads, user and system).
fn process_cpu_time() -> Duration {
    let spec = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(spec.tv_sec).unwrap_or(0),
        u32::try_from(spec.tv_nsec).unwrap_or(0),
    )
}

/// Measures CPU usage over the time between two samples.
pub struct CpuMeter {
    cpu: Duration,
    wall: Instant,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuMeter {
    /// A meter whose first sample covers the time from now.
    pub fn new() -> Self {
        Self {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// CPU used since the previous sample, in percent of one core (above 100 on several).
    pub fn sample(&mut self) -> f64 {
        let (cpu, wall) = (process_cpu_time(), Instant::now());
        let used = cpu.saturating_sub(self.cpu).as_secs_f64();
        let elapsed = wall.duration_since(self.wall).as_secs_f64();
        (self.cpu, self.wall) = (cpu, wall);
        if elapsed > 0.0 {
            100.0 * used / elapsed
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_and_sleep_does_not() {
        let mut meter = CpuMeter::new();
        std::thread::sleep(Duration::from_millis(100));
        let idle = meter.sample();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let busy = meter.sample();
        assert!(busy > idle, "busy {busy} vs idle {idle}");
        assert!(busy > 30.0, "{busy}");
    }
}
