//! How a test runs: the [`session`] a component's tests start and stop in, the [`scenario`]
//! its description becomes, the [`runner`] that spawns users at the [`spawn_rate`] and
//! retires them, the [`control`] its instances have over it, and each [`user`]'s task loop with its [`wait`] times.

pub mod control;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod spawn_rate;
pub mod user;
pub mod wait;
