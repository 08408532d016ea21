//! The host side of `wit/`, generated once here. Other modules use these types; only the
//! per-interface files in this module implement the imports.
#![allow(missing_docs)] // generated code; the WIT documents every item

wasmtime::component::bindgen!({
    path: "../wit",
    world: "user-component",
    imports: {
        // `send` waits for the network and stops a guest holding too many responses.
        "locust:runtime/http.send": async | trappable,
        "locust:runtime/http.send-as": async | trappable,
        // Handing over or dropping a held response never waits: plain calls, no future.
        "locust:runtime/http.[method]response-data.url": trappable,
        "locust:runtime/http.[method]response-data.headers": trappable,
        "locust:runtime/http.[method]response-data.body": trappable,
        "locust:runtime/http.[drop]response-data": trappable,
        default: async,
    },
    exports: { default: async },
    with: {
        "locust:runtime/http.response-data": super::responses::ResponseData,
    },
});

pub use self::locust::runtime::{context, events, http, log, metrics, runner, test_plan, types};

/// The `shaped-user-component` world, for its one export of its own: `load-shape`, which the
/// host looks up by name on an instance of a component that declared a shape.
pub mod shaped_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "shaped-user-component",
        imports: { default: async },
        exports: { default: async },
        with: {
            "locust:runtime/types": super::locust::runtime::types,
            "locust:runtime/http": super::locust::runtime::http,
            "locust:runtime/events": super::locust::runtime::events,
            "locust:runtime/log": super::locust::runtime::log,
            "locust:runtime/context": super::locust::runtime::context,
            "locust:runtime/test-plan": super::locust::runtime::test_plan,
            "locust:runtime/metrics": super::locust::runtime::metrics,
            "locust:runtime/runner": super::locust::runtime::runner,
            "locust:runtime/user": super::exports::locust::runtime::user,
            "locust:runtime/hooks": super::exports::locust::runtime::hooks,
        },
    });
}

pub use shaped_world::exports::locust::runtime::load_shape;

/// The `protocol-plugin` world, for describing a plugin in an instance of its own; its imports
/// are the user component's, implemented once.
pub mod plugin_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "protocol-plugin",
        imports: { default: async },
        exports: { default: async },
        with: {
            "locust:runtime/types": super::locust::runtime::types,
            "locust:runtime/http": super::locust::runtime::http,
            "locust:runtime/events": super::locust::runtime::events,
            "locust:runtime/log": super::locust::runtime::log,
            "locust:runtime/context": super::locust::runtime::context,
        },
    });
}

pub use plugin_world::exports::locust::runtime::plugin::PluginInfo;

/// The `listener-plugin` world: a listener plugin's own instance.
pub mod listener_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "listener-plugin",
        imports: { default: async },
        exports: { default: async },
        with: {
            "locust:runtime/types": super::locust::runtime::types,
            "locust:runtime/http": super::locust::runtime::http,
            "locust:runtime/log": super::locust::runtime::log,
            "locust:runtime/context": super::locust::runtime::context,
            "locust:runtime/plugin": super::plugin_world::exports::locust::runtime::plugin,
        },
    });
}
