//! A small target server for trying `locust` without a server of your own (`--demo`): the
//! quick start's routes on 127.0.0.1, with a login that sets a session cookie.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;

#[derive(Deserialize)]
struct ItemQuery {
    id: Option<u64>,
}

async fn item(Query(query): Query<ItemQuery>) -> impl IntoResponse {
    match query.id {
        Some(id) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"id":{id},"name":"item {id}"}}"#),
        ),
        None => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            "missing id".to_owned(),
        ),
    }
}

async fn login() -> impl IntoResponse {
    (
        [
            (header::SET_COOKIE, "session=demo; Path=/; HttpOnly"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        r#"{"ok":true}"#,
    )
}

/// The demo routes: `/`, `/hello`, `/world`, `/item?id=N`, `POST /login`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { "locust demo target\n" }))
        .route("/hello", get(|| async { "Hello, world!\n" }))
        .route("/world", get(|| async { "World\n" }))
        .route("/item", get(item))
        .route("/login", post(login))
}

/// Serve the demo routes on 127.0.0.1 (a free port) until the process ends; returns the
/// address.
pub async fn serve() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, routes()).await {
            tracing::error!(target: "locust.main", "demo target stopped: {error}");
        }
    });
    Ok(address)
}
