//! The gRPC transport of `proto/locust.proto`, on tonic: one bidirectional stream of frames per
//! worker. The service is written out here rather than generated, which keeps the build free of
//! `protoc`; `Frame` mirrors the `.proto` message field for field.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::server::{NamedService, StreamingService};
use tonic::{Request, Response, Status, Streaming};

use super::guard::{Admission, FrameLimit, GuardedIncoming, PeerInfo};
use super::protocol::Frame;

/// The service's full name, as in the `.proto`.
pub const SERVICE: &str = "locust.dist.v1.Locust";
const CONNECT_PATH: &str = "/locust.dist.v1.Locust/Connect";

/// `Frame` of `locust.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireFrame {
    /// The message type.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The msgpack payload.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

impl From<Frame> for WireFrame {
    fn from(frame: Frame) -> Self {
        Self {
            r#type: frame.kind,
            payload: frame.payload,
        }
    }
}

impl From<WireFrame> for Frame {
    fn from(frame: WireFrame) -> Self {
        Self {
            kind: frame.r#type,
            payload: frame.payload,
        }
    }
}

/// Frames to send on a stream.
pub type Outbound = mpsc::Sender<Result<WireFrame, Status>>;

/// A worker's stream, as the master sees it.
pub struct Connection {
    /// The worker's address, when known.
    pub peer: Option<SocketAddr>,
    /// Whether the peer has been admitted; [`Admission::admit`] once its hello is accepted.
    pub admission: Option<Arc<Admission>>,
    /// Frames from the worker.
    pub inbound: Streaming<WireFrame>,
    /// Frames to the worker.
    pub outbound: Outbound,
}

/// How many frames may wait to be sent on one stream.
const QUEUE: usize = 256;
/// The largest frame either side accepts: room for big components (a Python guest bundles its
/// interpreter) while still bounding what a bad peer can make us buffer.
pub const MAX_FRAME_BYTES: usize = 256 << 20;

/// The master's service: hands each new stream to `connections`.
#[derive(Clone)]
pub struct MasterService {
    connections: mpsc::Sender<Connection>,
}

struct ConnectCall(mpsc::Sender<Connection>, Option<PeerInfo>);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl StreamingService<WireFrame> for ConnectCall {
    type Response = WireFrame;
    type ResponseStream = ReceiverStream<Result<WireFrame, Status>>;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<WireFrame>>) -> Self::Future {
        let connections = self.0.clone();
        let info = self.1.clone();
        Box::pin(async move {
            let peer = info
                .as_ref()
                .and_then(|info| info.remote)
                .or_else(|| request.remote_addr());
            let (outbound, frames) = mpsc::channel(QUEUE);
            let connection = Connection {
                peer,
                admission: info.map(|info| info.admission),
                inbound: request.into_inner(),
                outbound,
            };
            connections
                .send(connection)
                .await
                .map_err(|_| Status::unavailable("the master is shutting down"))?;
            Ok(Response::new(ReceiverStream::new(frames)))
        })
    }
}

impl tonic::codegen::Service<http::Request<Body>> for MasterService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let connections = self.connections.clone();
        Box::pin(async move {
            if request.uri().path() != CONNECT_PATH {
                return Ok(Status::unimplemented("unknown method").into_http());
            }
            // The connection's guard, over plain TCP or under TLS.
            let extensions = request.extensions();
            let info = extensions.get::<PeerInfo>().cloned().or_else(|| {
                extensions
                    .get::<tonic::transport::server::TlsConnectInfo<PeerInfo>>()
                    .map(|tls| tls.get_ref().clone())
            });
            let request = match &info {
                Some(info) => {
                    let admission = info.admission.clone();
                    request.map(|body| Body::new(FrameLimit::new(body, admission)))
                }
                None => request,
            };
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                .max_decoding_message_size(MAX_FRAME_BYTES)
                .max_encoding_message_size(MAX_FRAME_BYTES);
            Ok(grpc
                .streaming(ConnectCall(connections, info), request)
                .await)
        })
    }
}

impl NamedService for MasterService {
    const NAME: &'static str = SERVICE;
}

/// Serve the master's service on `listener`, over TLS when `tls` is given; each worker stream
/// arrives on `connections`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    connections: mpsc::Sender<Connection>,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> Result<(), tonic::transport::Error> {
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    // A worker needs one stream; a few more let a reconnecting worker overlap its old one.
    server
        .max_concurrent_streams(Some(4))
        .add_service(MasterService { connections })
        .serve_with_incoming(GuardedIncoming::new(listener))
        .await
}

/// Bind the worker port `host:port` (`*` for every interface), serve it in the background, and
/// hand each new worker stream to `accept` with `owner`, as long as `owner` lives. Returns the
/// bound address.
pub async fn listen_for_workers<T, F, Fut>(
    host: &str,
    port: u16,
    tls: Option<tonic::transport::ServerTlsConfig>,
    owner: std::sync::Weak<T>,
    accept: F,
) -> anyhow::Result<SocketAddr>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>, Connection) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    use anyhow::Context as _;
    let bind = if host == "*" { "0.0.0.0" } else { host };
    let listener = tokio::net::TcpListener::bind((bind, port))
        .await
        .with_context(|| {
            format!(
                "could not listen for workers on {host}:{port} (choose another --master-bind-port, or stop what uses it)"
            )
        })?;
    let address = listener.local_addr().context("reading the bound address")?;
    let (connections, mut incoming) = mpsc::channel::<Connection>(16);
    tokio::spawn(async move {
        if let Err(error) = serve(listener, connections, tls).await {
            tracing::error!(target: "locust.runners", "the worker link stopped: {error}");
        }
    });
    tokio::spawn(async move {
        while let Some(connection) = incoming.recv().await {
            let Some(owner) = owner.upgrade() else {
                return;
            };
            tokio::spawn(accept(owner, connection));
        }
    });
    Ok(address)
}

/// A worker's side of the stream.
pub struct WorkerStream {
    /// Frames to the master.
    pub outbound: mpsc::Sender<WireFrame>,
    /// Frames from the master.
    pub inbound: Streaming<WireFrame>,
}

/// Connect to the master at `url` (`http://host:port`, or `https://` with `tls`) and open the
/// stream.
pub async fn connect(
    url: String,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<WorkerStream, String> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|error| format!("invalid master address {url}: {error}"))?
        .connect_timeout(std::time::Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|error| format!("TLS settings for {url}: {error}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|error| format!("could not connect to the master at {url}: {error}"))?;
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(MAX_FRAME_BYTES)
        .max_encoding_message_size(MAX_FRAME_BYTES);
    grpc.ready()
        .await
        .map_err(|error| format!("the master at {url} is not ready: {error}"))?;
    let (outbound, frames) = mpsc::channel(QUEUE);
    let response = grpc
        .streaming(
            Request::new(ReceiverStream::new(frames)),
            PathAndQuery::from_static(CONNECT_PATH),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map_err(|status| {
            format!(
                "the master at {url} refused the stream: {}",
                status.message()
            )
        })?;
    Ok(WorkerStream {
        outbound,
        inbound: response.into_inner(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::protocol::{Hello, Message, PROTOCOL_VERSION, Welcome};

    #[test]
    fn the_proto_file_describes_this_service() {
        let proto = include_str!("../../proto/locust.proto");
        assert!(proto.contains("package locust.dist.v1;"));
        assert!(proto.contains("service Locust {"));
        assert!(proto.contains("rpc Connect(stream Frame) returns (stream Frame);"));
        assert!(proto.contains("string type = 1;"));
        assert!(proto.contains("bytes payload = 2;"));
        assert_eq!(CONNECT_PATH, format!("/{SERVICE}/Connect"));
    }

    #[tokio::test]
    async fn frames_flow_both_ways_and_garbage_does_not_kill_the_master() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (connections, mut incoming) = mpsc::channel(4);
        tokio::spawn(serve(listener, connections, None));

        // A "master" that answers every hello with a welcome and ignores bad frames.
        tokio::spawn(async move {
            while let Some(mut connection) = incoming.recv().await {
                tokio::spawn(async move {
                    while let Ok(Some(frame)) = connection.inbound.message().await {
                        if let Ok(Message::Hello(hello)) = Message::from_frame(&frame.into()) {
                            let welcome = Message::Welcome(Welcome {
                                component_hash: hello.worker_id,
                                component: None,
                                max_users: 1,
                                memory_bytes: 1 << 20,
                                fuel_per_call: 1,
                                max_response_bytes: None,
                                host: None,
                                options: Vec::new(),
                                allow_hosts: Vec::new(),
                                listeners: Vec::new(),
                                pooled: false,
                                fuel_per_second: None,
                            });
                            let frame = welcome.to_frame().expect("encode");
                            let _ = connection.outbound.send(Ok(frame.into())).await;
                        }
                    }
                });
            }
        });

        for worker in ["w1", "w2"] {
            let mut stream = connect(format!("http://{address}"), None)
                .await
                .expect("connect");
            let garbage = WireFrame {
                r#type: "hello".into(),
                payload: vec![0xc1, 0xff, 0x00],
            };
            stream.outbound.send(garbage).await.expect("send garbage");
            let hello = Message::Hello(Hello {
                version: PROTOCOL_VERSION,
                worker_id: worker.into(),
                component_hash: None,
                cached: Vec::new(),
                token: None,
            });
            stream
                .outbound
                .send(hello.to_frame().expect("encode").into())
                .await
                .expect("send hello");
            let reply = stream
                .inbound
                .message()
                .await
                .expect("a reply")
                .expect("a frame");
            match Message::from_frame(&reply.into()).expect("decode") {
                Message::Welcome(welcome) => assert_eq!(welcome.component_hash, worker),
                other => panic!("{other:?}"),
            }
        }
    }
}
