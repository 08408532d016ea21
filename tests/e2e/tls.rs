//! HTTPS targets: rustls with the public roots, plus the CAs named by `REQUESTS_CA_BUNDLE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::PrivatePkcs8KeyDer};

use crate::harness::{fixture, locust};

/// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate; returns its URL, the
/// certificate's PEM, and a counter of requests served.
async fn https_target() -> (String, String, Arc<AtomicU64>) {
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
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_request| {
                    counter.fetch_add(1, Ordering::Relaxed);
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
    (url, pem, served)
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_trusted_ca_and_without() {
    let (url, pem, served) = https_target().await;
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
