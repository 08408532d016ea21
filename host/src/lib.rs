//! The `locust` host: Locust's load-testing model with simulated users written as WebAssembly
//! components.
//!
//! A run loads a component ([`component`]), turns its description into a scenario (task
//! trees, weights, tags), spawns users at the rate its [`load_plan`] asks for and drives each
//! user's task loop ([`run`]) with the host's HTTP client ([`http`]), and records [`stats`] that the
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
pub mod load_plan;
pub mod logging;
pub mod metrics;
pub mod ratio;
pub mod run;
pub mod serve;
pub mod signal;
pub mod stats;
pub mod test_plan;
pub mod timespan;
pub mod web;
