//! The host side of `wit/`, generated once here. Other modules use these types; only the
//! per-interface files in this module implement the imports.
#![allow(missing_docs)] // generated code; the WIT documents every item

wasmtime::component::bindgen!({
    path: "../wit",
    world: "user-component",
    imports: { default: async },
    exports: { default: async },
});

pub use self::locust::runtime::{context, events, http, log, types};
