//! Write [Locust](https://locust.io) users in Rust and run them with the `locust` host.
//!
//! A test is a WebAssembly component built for `wasm32-wasip2`. It describes user classes
//! (weights, hosts, wait policies, tasks and task sets, tags) with the builders in this crate;
//! the host schedules them with Locust's semantics, performs their HTTP calls, and records the
//! statistics. Each simulated user runs in its own instance, so a user's struct is its state.
//!
//! ```ignore
//! use locust_sdk::prelude::*;
//!
//! #[derive(Default)]
//! struct QuickstartUser {
//!     client: HttpClient,
//! }
//!
//! impl QuickstartUser {
//!     fn hello_world(&mut self) -> TaskResult {
//!         self.client.get("/hello").send();
//!         self.client.get("/world").send();
//!         Ok(())
//!     }
//! }
//!
//! fn scenario() -> Scenario {
//!     Scenario::new().user(
//!         UserClass::<QuickstartUser>::new("QuickstartUser")
//!             .wait(between(1.0, 2.0))
//!             .task(Task::new("hello_world", QuickstartUser::hello_world)),
//!     )
//! }
//!
//! locust_sdk::export_users!(scenario);
//! ```
//!
//! This crate must not decide anything the host decides (task choice, waiting, stopping): it
//! only describes, and runs what the host asks it to run.

mod context;
pub mod events;
mod exit;
mod http;
pub mod log;
#[doc(hidden)]
pub mod runtime;
mod scenario;
mod wait;

#[doc(hidden)]
pub mod bindings {
    //! Bindings generated from `wit/` by wit-bindgen; used by [`export_users!`](crate::export_users).
    wit_bindgen::generate!({
        path: "../../wit",
        world: "user-component",
        pub_export_macro: true,
        export_macro_name: "__export_user_component",
        default_bindings_module: "locust_sdk::bindings",
    });
}

pub use context::{host, option, random_seed, user_id};
pub use exit::{TaskExit, TaskResult, fail, interrupt, stop_user};
pub use http::{CaughtResponse, HttpClient, RequestBuilder, Response};
pub use scenario::{Scenario, Task, TaskSet, UserClass};
pub use wait::{Wait, between, constant, constant_pacing, custom};

/// Random numbers for a user's own choices, seeded per user by the host (see [`random_seed`]).
pub use fastrand as random;

/// Everything a test usually needs: `use locust_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::events::RequestRecord;
    pub use crate::{
        CaughtResponse, HttpClient, Response, Scenario, Task, TaskExit, TaskResult, TaskSet,
        UserClass, Wait, between, constant, constant_pacing, custom, fail, interrupt, random,
        stop_user,
    };
}

/// Export a scenario-building function as the component's users.
///
/// `$build` is a `fn() -> Scenario`. It runs once in every instance, so keep it to building the
/// description (no I/O).
#[macro_export]
macro_rules! export_users {
    ($build:path) => {
        #[doc(hidden)]
        struct __LocustComponent;

        impl $crate::bindings::exports::locust::runtime::user::Guest for __LocustComponent {
            fn describe() -> $crate::bindings::locust::runtime::types::Description {
                $crate::runtime::describe($build)
            }
            fn create(class: u32) {
                $crate::runtime::create($build, class)
            }
            fn on_start() -> ::core::result::Result<
                $crate::bindings::locust::runtime::types::TaskOutcome,
                $crate::bindings::locust::runtime::types::TaskError,
            > {
                $crate::runtime::on_start()
            }
            fn on_stop()
            -> ::core::result::Result<(), $crate::bindings::locust::runtime::types::TaskError> {
                $crate::runtime::on_stop()
            }
            fn run_task(
                node: u32,
            ) -> ::core::result::Result<
                $crate::bindings::locust::runtime::types::TaskOutcome,
                $crate::bindings::locust::runtime::types::TaskError,
            > {
                $crate::runtime::run_task(node)
            }
            fn start_task_set(
                node: u32,
            ) -> ::core::result::Result<
                $crate::bindings::locust::runtime::types::TaskOutcome,
                $crate::bindings::locust::runtime::types::TaskError,
            > {
                $crate::runtime::start_task_set(node)
            }
            fn stop_task_set(
                node: u32,
            ) -> ::core::result::Result<(), $crate::bindings::locust::runtime::types::TaskError>
            {
                $crate::runtime::stop_task_set(node)
            }
            fn wait_time(node: ::core::option::Option<u32>) -> f64 {
                $crate::runtime::wait_time(node)
            }
        }

        impl $crate::bindings::exports::locust::runtime::hooks::Guest for __LocustComponent {
            fn init()
            -> ::core::result::Result<(), $crate::bindings::locust::runtime::types::TaskError> {
                $crate::runtime::hook_init($build)
            }
            fn test_start()
            -> ::core::result::Result<(), $crate::bindings::locust::runtime::types::TaskError> {
                $crate::runtime::hook_test_start($build)
            }
            fn test_stop()
            -> ::core::result::Result<(), $crate::bindings::locust::runtime::types::TaskError> {
                $crate::runtime::hook_test_stop($build)
            }
            fn on_request(record: $crate::bindings::locust::runtime::types::RequestRecord) {
                $crate::runtime::hook_on_request($build, record)
            }
            fn report_to_master() -> ::core::option::Option<::std::vec::Vec<u8>> {
                $crate::runtime::hook_report_to_master($build)
            }
            fn worker_report(worker_id: ::std::string::String, data: ::std::vec::Vec<u8>) {
                $crate::runtime::hook_worker_report($build, worker_id, data)
            }
            fn quitting()
            -> ::core::result::Result<(), $crate::bindings::locust::runtime::types::TaskError> {
                $crate::runtime::hook_quitting($build)
            }
        }

        $crate::bindings::__export_user_component!(__LocustComponent with_types_in $crate::bindings);
    };
}
