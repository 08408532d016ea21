//! How a test runs: the [`session`] a component's tests start and stop in, the [`scenario`]
//! its description becomes, the [`runner`] that spawns users at the [`spawn_rate`] and
//! retires them, and each [`user`]'s task loop with its [`wait`] times.

pub mod runner;
pub mod scenario;
pub mod session;
pub mod spawn_rate;
pub mod user;
pub mod wait;
