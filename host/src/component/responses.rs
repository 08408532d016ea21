//! The responses a guest holds: what `send` returns as a `response-data` handle stays here
//! (URL, header map, body bytes, nothing converted) until the guest asks for a part or drops
//! the handle. Bounded per user, so a guest that never drops its responses cannot grow the
//! host without limit.

use bytes::Bytes;
use hyper::header::HeaderMap;
use slab::Slab;
use url::Url;

/// Most responses one user may hold at once.
pub const MAX_HELD_RESPONSES: usize = 1_000;

/// The host type behind the guest's `response-data` handles.
pub struct ResponseData;

/// The URL a response is known by.
pub enum FinalUrl {
    /// The URL of the final response, after redirects.
    Resolved(Url),
    /// A request that was never sent: the URL (or name) as the guest gave it.
    Unsent(String),
}

/// One response's parts.
pub struct HeldResponse {
    /// Where it came from.
    pub url: FinalUrl,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its decompressed body.
    pub body: Bytes,
}

/// Why the guest may not hold another response.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// Too many undropped handles.
    #[error(
        "the user holds {MAX_HELD_RESPONSES} responses it never dropped; drop responses once \
         their status, headers or body have been read"
    )]
    TooMany,
    /// Their bodies exceed the user's memory limit.
    #[error(
        "the responses the user holds exceed its memory limit ({limit} bytes of bodies); drop \
         responses once read, or raise --user-memory"
    )]
    TooLarge {
        /// The user's memory limit in bytes.
        limit: usize,
    },
}

/// The responses of one user, by handle.
pub struct HeldResponses {
    held: Slab<HeldResponse>,
    body_bytes: usize,
    limit_bytes: usize,
}

impl HeldResponses {
    /// An empty set whose bodies may total at most `limit_bytes`.
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            held: Slab::new(),
            body_bytes: 0,
            limit_bytes,
        }
    }

    /// Keep `response` for the guest; its handle.
    pub fn hold(&mut self, response: HeldResponse) -> Result<u32, HoldError> {
        if self.held.len() >= MAX_HELD_RESPONSES {
            return Err(HoldError::TooMany);
        }
        let body_bytes = self.body_bytes + response.body.len();
        if body_bytes > self.limit_bytes {
            return Err(HoldError::TooLarge {
                limit: self.limit_bytes,
            });
        }
        self.body_bytes = body_bytes;
        let key = self.held.insert(response);
        // The slab never holds more than MAX_HELD_RESPONSES entries.
        Ok(u32::try_from(key).unwrap_or(u32::MAX))
    }

    /// The response behind `handle`, if the guest holds it.
    pub fn get(&self, handle: u32) -> Option<&HeldResponse> {
        self.held.get(handle as usize)
    }

    /// Forget `handle` (the guest dropped it).
    pub fn release(&mut self, handle: u32) {
        if let Some(response) = self.held.try_remove(handle as usize) {
            self.body_bytes -= response.body.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &'static [u8]) -> HeldResponse {
        HeldResponse {
            url: FinalUrl::Unsent("/".into()),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn handles_are_reused_after_release() {
        let mut held = HeldResponses::new(1 << 20);
        let first = held.hold(response(b"one")).expect("held");
        held.release(first);
        let second = held.hold(response(b"two")).expect("held");
        assert_eq!(first, second);
        assert_eq!(held.get(second).map(|r| &r.body[..]), Some(&b"two"[..]));
        held.release(second);
        held.release(second); // twice is harmless
        assert!(held.held.is_empty());
    }

    #[test]
    fn too_many_responses_are_refused() {
        let mut held = HeldResponses::new(1 << 20);
        for _ in 0..MAX_HELD_RESPONSES {
            held.hold(response(b"")).expect("held");
        }
        assert!(matches!(held.hold(response(b"")), Err(HoldError::TooMany)));
        held.release(7);
        held.hold(response(b"")).expect("room again");
    }

    #[test]
    fn bodies_beyond_the_memory_limit_are_refused() {
        let mut held = HeldResponses::new(8);
        let five = held.hold(response(b"12345")).expect("held");
        assert!(matches!(
            held.hold(response(b"6789")),
            Err(HoldError::TooLarge { limit: 8 })
        ));
        held.release(five);
        held.hold(response(b"6789"))
            .expect("fits once the first is dropped");
        assert_eq!(held.held.len(), 1);
    }
}
