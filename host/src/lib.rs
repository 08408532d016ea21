//! The `locust` host: Locust's load-testing model with simulated users written as WebAssembly
//! components.
//!
//! A run loads a component ([`component`]), turns its description into a [`scenario`] (task
//! trees, weights, tags), spawns users at the requested rate ([`runner`]), drives each user's
//! task loop ([`user`]) with the host's HTTP client ([`http`]), and records [`stats`] that the
//! console prints. The `locust` binary is a thin layer over this library; [`serve`] is the
//! shared multi-tenant service (`locust serve`).

pub mod component;
pub mod config;
pub mod decoders;
pub mod demo;
pub mod dist;
pub mod events;
pub mod files;
pub mod grants;
pub mod headless;
pub mod hooks;
pub mod http;
pub mod limits;
pub mod listeners;
pub mod logging;
pub mod metrics;
pub mod ratio;
pub mod runner;
pub mod scenario;
pub mod serve;
pub mod session;
pub mod signal;
pub mod spawn_rate;
pub mod stats;
pub mod test_plan;
pub mod timespan;
pub mod user;
pub mod wait;
pub mod web;
