//! Write into the host's log; each line names the user class it came from.

use crate::bindings::locust::runtime::log::{Level, write};

/// Log fine detail (shown with `--loglevel DEBUG`).
pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message.as_ref());
}

/// Log normal operation.
pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message.as_ref());
}

/// Log something unexpected that the test survives.
pub fn warning(message: impl AsRef<str>) {
    write(Level::Warning, message.as_ref());
}

/// Log a failure.
pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message.as_ref());
}
