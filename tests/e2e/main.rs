//! End-to-end tests: the real `locust` binary, real HTTP servers, the real fixture component.

mod client;
mod harness;
mod provision;
mod webdriver;

mod bad_input;
mod browser;
mod build;
mod compiled_cache;
mod distributed;
mod examples;
mod grants;
mod hostile;
mod http_behaviour;
mod javascript;
mod library;
mod lifecycle;
mod options;
mod output;
mod plugins;
mod python;
mod scheduling;
mod serve;
mod tls;
mod wasi_http;
mod web;
mod xmlrpc;
