//! Turning the URL a guest gives (a path, or an absolute URL) into the one requested, and the
//! name its statistics are kept under.
//!
//! This runs in the user's [`HttpAgent`](super::HttpAgent), not behind the guest's import:
//! parsing URLs takes ~5 KiB of stack, which on the guest's fiber would stay resident for the
//! user's whole life.

use std::sync::Arc;

use url::{Position, Url};

/// A URL as the guest gave it, with its extra query parameters and the name, if any, the
/// request's statistics go under.
#[derive(Debug)]
pub struct GuestUrl {
    /// A path joined to the user's host, or an absolute `http(s)://` URL.
    pub url: String,
    /// Query parameters to append.
    pub query: Vec<(String, String)>,
    /// The statistics name the guest chose.
    pub name: Option<String>,
}

/// Where a user's relative URLs go: its host, parsed once.
pub struct UrlBase {
    base: Option<Result<Url, String>>,
    /// The user's class, to name in the error when there is no host.
    class: Arc<str>,
}

impl UrlBase {
    /// The base for users of `class` whose host is `host`.
    pub fn new(host: Option<&str>, class: Arc<str>) -> Self {
        Self {
            base: host.map(|host| {
                Url::parse(host).map_err(|error| format!("invalid host `{host}`: {error}"))
            }),
            class,
        }
    }

    /// The URL to request for `guest`, or why there is none; and the statistics name (the
    /// guest's, else the path and query of the URL, else what the guest gave).
    pub fn resolve(&self, guest: GuestUrl) -> (Result<Url, String>, String) {
        match self.join(&guest.url, &guest.query) {
            Ok(url) => {
                let name = guest
                    .name
                    .unwrap_or_else(|| url[Position::BeforePath..Position::AfterQuery].to_owned());
                (Ok(url), name)
            }
            Err(error) => (Err(error), guest.name.unwrap_or(guest.url)),
        }
    }

    fn join(&self, url: &str, query: &[(String, String)]) -> Result<Url, String> {
        let mut resolved = if url.starts_with("http://") || url.starts_with("https://") {
            Url::parse(url).map_err(|error| format!("invalid URL `{url}`: {error}"))?
        } else {
            let base = match &self.base {
                Some(Ok(base)) => base,
                Some(Err(error)) => return Err(error.clone()),
                None => {
                    return Err(format!(
                        "no host to send `{url}` to: set --host or the host of user class {}",
                        self.class
                    ));
                }
            };
            base.join(url)
                .map_err(|error| format!("invalid URL `{url}`: {error}"))?
        };
        if !query.is_empty() {
            resolved.query_pairs_mut().extend_pairs(query);
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(url: &str, query: &[(&str, &str)], name: Option<&str>) -> GuestUrl {
        GuestUrl {
            url: url.to_owned(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn paths_join_the_host_and_name_themselves() {
        let base = UrlBase::new(Some("http://example.com/api/"), Arc::from("User"));
        let (url, name) = base.resolve(guest("/item", &[("id", "7")], None));
        assert_eq!(url.expect("url").as_str(), "http://example.com/item?id=7");
        assert_eq!(name, "/item?id=7");
        let (url, name) = base.resolve(guest("https://other.org/x", &[], Some("other")));
        assert_eq!(url.expect("url").as_str(), "https://other.org/x");
        assert_eq!(name, "other");
    }

    #[test]
    fn a_path_without_a_host_says_how_to_give_one() {
        let base = UrlBase::new(None, Arc::from("Shopper"));
        let (url, name) = base.resolve(guest("/cart", &[], None));
        assert_eq!(
            url.expect_err("no host"),
            "no host to send `/cart` to: set --host or the host of user class Shopper"
        );
        assert_eq!(name, "/cart");
        let bad = UrlBase::new(Some("not a url"), Arc::from("Shopper"));
        assert!(bad.resolve(guest("/", &[], None)).0.is_err());
    }
}
