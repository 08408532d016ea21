//! Distributed runs: a master splits a test across worker processes over a gRPC link
//! (`proto/locust.proto`) whose frames carry msgpack messages, and merges their statistics.

pub mod cpu;
pub mod guard;
pub mod master;
pub mod plan;
pub mod protocol;
pub mod transport;
pub mod worker;
