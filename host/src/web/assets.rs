//! The web UI's files from the repository's `web/` folder, embedded at build time so the
//! binary is self-contained.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page; `{{...}}` placeholders are filled per server.
pub const INDEX_HTML: &str = include_str!("../../../web/index.html");
const APP_JS: &str = include_str!("../../../web/static/app.js");
const STYLE_CSS: &str = include_str!("../../../web/static/style.css");

/// Escape text for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

/// The page with its settings filled in; `shape` names the load shape that decides the users.
pub fn index(host: &str, step_load: bool, is_master: bool, shape: Option<&str>) -> String {
    INDEX_HTML
        .replace("{{host}}", &escape_html(host))
        .replace("{{shape}}", &escape_html(shape.unwrap_or_default()))
        .replace("{{step_load}}", if step_load { "true" } else { "false" })
        .replace("{{is_master}}", if is_master { "true" } else { "false" })
}

/// `/static/{file}`.
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_gets_its_settings_escaped() {
        let page = index("http://x/?a=<b>", true, false, Some("<Shape>"));
        assert!(page.contains(r#"data-host="http://x/?a=&lt;b&gt;""#));
        assert!(page.contains(r#"data-step-load="true""#));
        assert!(page.contains(r#"data-master="false""#));
        assert!(page.contains(r#"data-shape="&lt;Shape&gt;""#));
        assert!(!page.contains("{{"));
    }
}
