//! A minimal HTTP/1.1 server on 127.0.0.1 for the client's unit tests: it answers every
//! request with `ok` and records which connection (client port) each request came on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the server treats its connections.
#[derive(Clone, Copy, Default)]
pub struct Behaviour {
    /// Wait this long before each answer.
    pub delay: Duration,
    /// Close the connection after each answer, without saying so in the response (as a server
    /// whose keep-alive timeout ran out does).
    pub close_after_answer: bool,
}

/// The running server.
pub struct TestServer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    ports: Arc<Mutex<Vec<u16>>>,
}

impl TestServer {
    /// Start a server that behaves as `behaviour` says.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let ports = Arc::new(Mutex::new(Vec::new()));
        let seen = ports.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, peer)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut received = Vec::new();
                    let mut buffer = [0u8; 1024];
                    loop {
                        let Ok(read) = socket.read(&mut buffer).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        received.extend_from_slice(&buffer[..read]);
                        while let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                            received.drain(..end + 4);
                            seen.lock().expect("ports").push(peer.port());
                            tokio::time::sleep(behaviour.delay).await;
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(answer).await.is_err()
                                || behaviour.close_after_answer
                            {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { url, ports }
    }

    /// The client port of each request served, in order.
    pub fn ports(&self) -> Vec<u16> {
        self.ports.lock().expect("ports").clone()
    }
}
