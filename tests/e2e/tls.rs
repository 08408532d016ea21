//! HTTPS targets: rustls with the public roots, plus the CAs named by `REQUESTS_CA_BUNDLE`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::PrivatePkcs8KeyDer};

use crate::harness::{fixture, locust};

/// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate.
struct HttpsTarget {
    url: String,
    /// The certificate, PEM.
    pem: String,
    /// Requests served.
    served: Arc<AtomicU64>,
    /// Path of each request served, with the number of the connection it came on.
    hits: Arc<Mutex<Vec<(u64, String)>>>,
}

async fn https_target() -> HttpsTarget {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    let served = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let counter = served.clone();
    let log = hits.clone();
    tokio::spawn(async move {
        for connection in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    log.lock()
                        .expect("hits")
                        .push((connection, request.uri().path().to_owned()));
                    async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"secure"),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    HttpsTarget {
        url,
        pem,
        served,
        hits,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_trusted_ca_and_without() {
    let HttpsTarget {
        url, pem, served, ..
    } = https_target().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, pem).expect("write the CA");
    let fixture = fixture().to_str().expect("path").to_owned();
    let args = [
        "-f",
        &fixture,
        "--headless",
        "--host",
        &url,
        "Lifecycle",
        "-u",
        "1",
        "-t",
        "1s",
    ];

    // Unknown CA: every request fails with a TLS error, counted as a failure.
    let run = locust(&args).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("TLS handshake with 127.0.0.1"),
        "{}",
        run.stdout
    );
    assert_eq!(served.load(Ordering::Relaxed), 0);

    // Trusted through REQUESTS_CA_BUNDLE, as with Locust's client.
    let debug: Vec<&str> = args.iter().copied().chain(["-L", "DEBUG"]).collect();
    let run = crate::harness::locust_with_env(
        &debug,
        &[("REQUESTS_CA_BUNDLE", bundle.to_str().expect("path"))],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        served.load(Ordering::Relaxed) >= 3,
        "on_start, tasks and on_stop over HTTPS"
    );
    assert!(
        run.stderr.contains("trusting 1 CA certificate(s)"),
        "{}",
        run.stderr
    );

    // A bundle that is not PEM is one clear error.
    let run = crate::harness::locust_with_env(&args, &[("REQUESTS_CA_BUNDLE", "Cargo.toml")]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("error: could not read CA certificates from Cargo.toml"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_https_connection_carries_the_next_requests() {
    let target = https_target().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &target.pem).expect("write the CA");
    let fixture = fixture().to_str().expect("path").to_owned();
    // `Patient` waits 0.6 s, so its connection is parked between requests.
    let run = crate::harness::locust_with_env(
        &[
            "-f",
            &fixture,
            "--headless",
            "--host",
            &target.url,
            "Patient",
            "-u",
            "1",
            "-t",
            "3s",
        ],
        &[("REQUESTS_CA_BUNDLE", bundle.to_str().expect("path"))],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let hits = target.hits.lock().expect("hits").clone();
    let patient: Vec<u64> = hits
        .iter()
        .filter(|(_, path)| path == "/patient")
        .map(|(connection, _)| *connection)
        .collect();
    assert!(patient.len() >= 4, "{hits:?}");
    assert_eq!(
        run.requests("GET", "/patient"),
        patient.len() as u64,
        "each request served once"
    );
    assert!(
        patient.iter().all(|connection| *connection == patient[0]),
        "every request of the user on its one TLS connection: {hits:?}"
    );
}
