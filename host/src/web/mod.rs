//! The web UI and its JSON API on axum: the page and its assets (from `web/`, embedded), the
//! API handlers (`api`), optional basic auth and HTTPS. It only reads statistics through
//! snapshots and drives the test through the [`TestSession`], so it never blocks load
//! generation. Rust programs can add their own routes with [`WebUi::with_routes`].

mod api;
mod assets;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use tokio::task::JoinHandle;

use crate::config::WebPlan;
use crate::run::session::TestSession;
use crate::stats::unix_now;
use crate::stats::window::CurrentWindow;

pub use api::{SwarmRequest, csv_download, parse_swarm};
pub use assets::escape_html;

/// How often the current-percentile window is sampled.
const WINDOW_INTERVAL: Duration = Duration::from_secs(2);

/// What the handlers share.
pub struct WebState {
    session: Arc<TestSession>,
    step_load: bool,
    window: Mutex<CurrentWindow>,
}

/// The web UI of a session, ready to serve.
pub struct WebUi {
    session: Arc<TestSession>,
    plan: WebPlan,
    extra: Router,
}

/// A web UI being served; dropping it stops the server.
pub struct ServedWebUi {
    address: SocketAddr,
    tls: bool,
    tasks: Vec<JoinHandle<()>>,
}

impl ServedWebUi {
    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http(s)://address`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }
}

impl Drop for ServedWebUi {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A web UI mounted in another server (see [`WebUi::mount`]).
pub struct MountedWebUi {
    router: Router,
    state: Arc<WebState>,
    sampler: JoinHandle<()>,
}

impl MountedWebUi {
    /// The routes, relative to where they are mounted.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// What `GET /stats/requests` answers now.
    pub fn report(&self) -> serde_json::Value {
        api::report_of(&self.state)
    }

    /// Users alive now.
    pub fn user_count(&self) -> u64 {
        self.state.session.user_count()
    }

    /// What `GET /exceptions` answers now.
    pub fn exceptions(&self) -> serde_json::Value {
        self.state.session.stats().read(api::exceptions_of)
    }
}

impl Drop for MountedWebUi {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

async fn index(State(state): State<Arc<WebState>>) -> Html<String> {
    let host = state.session.host().unwrap_or_default();
    let is_master = state.session.master().is_some();
    Html(assets::index(
        &host,
        state.step_load,
        is_master,
        state.session.shape(),
    ))
}

/// Refuse requests without the `--web-auth` credentials.
async fn require_auth(
    State(expected): State<Arc<HeaderValue>>,
    request: Request,
    next: Next,
) -> Response {
    if request.headers().get(header::AUTHORIZATION) == Some(&*expected) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"Locust\"")],
        "authentication required",
    )
        .into_response()
}

impl WebUi {
    /// The web UI for `session`, served as `plan` says.
    pub fn new(session: Arc<TestSession>, plan: WebPlan) -> Self {
        Self {
            session,
            plan,
            extra: Router::new(),
        }
    }

    /// Add routes of your own (Locust's `web_ui.app.route`); they get the same auth.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    fn router(&self, state: Arc<WebState>) -> Result<Router, String> {
        let routes = Router::new()
            .route("/", get(index))
            .route("/static/{file}", get(assets::static_file))
            .route("/swarm", post(api::swarm))
            .route("/stop", get(api::stop))
            .route("/stats/reset", get(api::reset))
            .route("/stats/requests", get(api::requests))
            .route("/stats/requests/csv", get(api::requests_csv))
            .route("/stats/failures/csv", get(api::failures_csv))
            .route("/exceptions", get(api::exceptions))
            .route("/stats/metrics", get(api::metrics))
            .route("/stats/metrics/csv", get(api::metrics_csv))
            .route("/exceptions/csv", get(api::exceptions_csv))
            .with_state(state)
            .merge(self.extra.clone());
        Ok(match &self.plan.auth {
            None => routes,
            Some((user, password)) => {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let expected = HeaderValue::from_str(&format!("Basic {token}"))
                    .map_err(|_| "--web-auth holds characters a header cannot carry".to_owned())?;
                routes.layer(middleware::from_fn_with_state(
                    Arc::new(expected),
                    require_auth,
                ))
            }
        })
    }

    fn state(&self) -> Arc<WebState> {
        Arc::new(WebState {
            session: self.session.clone(),
            step_load: self.plan.step_load,
            window: Mutex::new(CurrentWindow::new()),
        })
    }

    /// The web UI as a router to mount inside another server (the shared service's run
    /// pages), its percentile window sampled until the result is dropped. The page's links
    /// are relative, so any prefix ending in `/` works.
    pub fn mount(self) -> Result<MountedWebUi, String> {
        let state = self.state();
        let router = self.router(state.clone())?;
        let sampler = tokio::spawn(sample_window(state.clone()));
        Ok(MountedWebUi {
            router,
            state,
            sampler,
        })
    }

    /// Bind and serve in the background.
    pub async fn serve(self) -> anyhow::Result<ServedWebUi> {
        let state = self.state();
        let router = self.router(state.clone()).map_err(anyhow::Error::msg)?;
        let host = if self.plan.host == "*" {
            "0.0.0.0"
        } else {
            self.plan.host.as_str()
        };
        let listener = tokio::net::TcpListener::bind((host, self.plan.port))
            .await
            .map_err(|error| {
                anyhow::anyhow!("could not listen on {host}:{}: {error}", self.plan.port)
            })?;
        let address = listener.local_addr()?;
        let sampler = tokio::spawn(sample_window(state));
        let (server, tls) = match &self.plan.tls {
            None => (
                tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, router).await {
                        tracing::error!(target: "locust.main", "web UI stopped: {error}");
                    }
                }),
                false,
            ),
            Some((cert, key)) => (tls::serve(listener, router, cert, key)?, true),
        };
        Ok(ServedWebUi {
            address,
            tls,
            tasks: vec![server, sampler],
        })
    }
}

/// Keep the window behind `current_response_time_percentile_*` up to date.
async fn sample_window(state: Arc<WebState>) {
    let mut ticks = tokio::time::interval(WINDOW_INTERVAL);
    loop {
        ticks.tick().await;
        state.session.stats().read(|stats| {
            state
                .window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .observe_total(stats, unix_now());
        });
    }
}

mod tls {
    //! HTTPS for the web UI with rustls (`--tls-cert`, `--tls-key`).

    use std::path::Path;
    use std::sync::Arc;

    use axum::Router;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tokio::task::JoinHandle;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{self, ServerConfig};

    fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|error| anyhow::anyhow!("--tls-cert {}: {error}", cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|error| anyhow::anyhow!("--tls-key {}: {error}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .map_err(|error| anyhow::anyhow!("--tls-cert/--tls-key: {error}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Accept TLS connections and serve `router` on each.
    pub fn serve(
        listener: tokio::net::TcpListener,
        router: Router,
        cert: &Path,
        key: &Path,
    ) -> anyhow::Result<JoinHandle<()>> {
        let acceptor = acceptor(cert, key)?;
        Ok(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }))
    }
}
