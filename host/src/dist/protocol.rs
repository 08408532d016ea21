//! The master–worker protocol: one typed [`Message`] enum, carried in frames `{type, payload}`
//! whose payload is msgpack (rmp-serde, with field names so that other languages can read it).
//! Decoding is total: an unknown type or a malformed payload is an error, never a panic, so a
//! bad peer cannot take the master down.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::stats::{ErrorKey, StatsEntry, UserErrorEntry};

/// The protocol version; peers with another one are refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// What travels on the wire: a message type and its msgpack payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The message type, e.g. `hello`.
    pub kind: String,
    /// The msgpack payload.
    pub payload: Vec<u8>,
}

/// Why a frame could not be understood.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    /// The type is not one of ours.
    #[error("unknown message type \"{0}\"")]
    UnknownType(String),
    /// The payload does not decode as the type's payload.
    #[error("malformed {kind} message: {reason}")]
    Malformed {
        /// The message type.
        kind: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The payload could not be encoded.
    #[error("could not encode a {kind} message: {reason}")]
    Encode {
        /// The message type.
        kind: String,
        /// The encoder's complaint.
        reason: String,
    },
    /// The peer speaks another version.
    #[error(
        "protocol version mismatch: this locust speaks version {ours}, the peer speaks version {theirs}; run the same locust version on master and workers"
    )]
    Version {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
}

/// A worker introduces itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The worker's protocol version.
    pub version: u32,
    /// A name unique among the master's workers (host name and process id).
    pub worker_id: String,
    /// SHA-256 of the component the worker was started with (`-f`), if any: the master
    /// refuses a worker whose component differs from its own.
    pub component_hash: Option<String>,
    /// Hashes of components the worker has cached: the master does not send those again.
    #[serde(default)]
    pub cached: Vec<String>,
    /// The shared token, if the master requires one.
    pub token: Option<String>,
}

/// Only the version of a hello: readable whatever else another version puts in it.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl Hello {
    /// The version a hello frame claims, even if the rest of it is not ours to read.
    pub fn version_of(frame: &Frame) -> Option<u32> {
        rmp_serde::from_slice::<VersionOnly>(&frame.payload)
            .ok()
            .map(|hello| hello.version)
    }

    /// Refuse a peer that speaks another version, naming both.
    pub fn check_version(&self) -> Result<(), ProtocolError> {
        check_version(self.version)
    }
}

/// Refuse `theirs` unless it is our version, naming both.
pub fn check_version(theirs: u32) -> Result<(), ProtocolError> {
    if theirs == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ProtocolError::Version {
            ours: PROTOCOL_VERSION,
            theirs,
        })
    }
}

/// The master accepts a worker and ships the component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// SHA-256 of the component.
    pub component_hash: String,
    /// The component's bytes, unless the worker already has this hash.
    #[serde(with = "serde_bytes_option")]
    pub component: Option<Vec<u8>>,
    /// Most users the worker may be asked to run (its instance pool is sized for them).
    pub max_users: u64,
    /// Linear memory per user, bytes (`--user-memory`).
    pub memory_bytes: u64,
    /// Instruction budget per guest call (`--guest-fuel`).
    pub fuel_per_call: u64,
    /// Largest response body a request reads, bytes (`--max-response-size`); absent from
    /// older masters, whose workers then use `memory_bytes`.
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
    /// The master's `--host`: where the worker's hooks send requests (users get the host of
    /// each spawn).
    pub host: Option<String>,
    /// Values of the component's options, for the worker's hooks (users get those of each
    /// spawn).
    #[serde(default)]
    pub options: Vec<(String, String)>,
    /// The master's `--allow-host` values: the worker's guests reach only these hosts, the
    /// spawn's host and the classes' own hosts.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// The listener plugins' components: the worker runs one instance of each, fed its own
    /// requests.
    #[serde(default, with = "serde_bytes_list")]
    pub listeners: Vec<Vec<u8>>,
    /// The master is a shared service (`locust serve`): this connection serves one run, and
    /// the worker opens another to be given the next (so it runs several runs at once).
    #[serde(default)]
    pub pooled: bool,
    /// Instructions per second this worker's users of the run may execute together (the
    /// tenant's CPU share, split across the run's workers).
    #[serde(default)]
    pub fuel_per_second: Option<u64>,
}

/// What a worker runs. A spawn while users run changes their number (the newest stop).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spawn {
    /// Increases with every spawn of a master; echoed in [`SpawnDone`].
    pub sequence: u64,
    /// Users per class name for this worker, every class of the test in the master's order.
    pub users: Vec<(String, u64)>,
    /// This worker's share of the spawn rate, users per second.
    pub spawn_rate: f64,
    /// Milliseconds to wait before the first new user, so that the workers' spawns
    /// interleave.
    #[serde(default)]
    pub spawn_offset_ms: u64,
    /// The target host, if any.
    pub host: Option<String>,
    /// What the master's `test-start` hook shared with users (k6's `setup()` data).
    #[serde(default)]
    pub shared_data: Option<String>,
    /// `--stop-timeout`, milliseconds.
    pub stop_timeout_ms: u64,
    /// `--tags`.
    pub tags: Option<Vec<String>>,
    /// `--exclude-tags`.
    pub exclude_tags: Option<Vec<String>>,
    /// Values of the component's options.
    pub options: Vec<(String, String)>,
}

/// A worker has spawned the users of a spawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpawnDone {
    /// The spawn's sequence number.
    pub sequence: u64,
    /// Users running on the worker.
    pub user_count: u64,
}

/// A worker's statistics since its last report (deltas), every 2–3 seconds and at the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Entries with their histograms.
    pub entries: Vec<StatsEntry>,
    /// Failure counts.
    pub errors: Vec<(ErrorKey, u64)>,
    /// User errors.
    pub user_errors: Vec<UserErrorEntry>,
    /// Users running on the worker.
    pub user_count: u64,
    /// Series of checks, group durations and custom metrics, with their summaries.
    #[serde(default)]
    pub metrics: Vec<crate::metrics::Series>,
    /// Data a guest attached with `report_to_master`, opaque here.
    #[serde(with = "serde_bytes_option")]
    pub custom: Option<Vec<u8>>,
}

/// A sign of life, each second, both ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The sender's state (`ready`, `hatching`, `running`, `stopped`…).
    pub state: String,
    /// CPU usage of the sender's process, percent of one core.
    pub cpu_usage: f64,
    /// Users running.
    pub user_count: u64,
}

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Worker → master, first.
    Hello(Hello),
    /// Master → worker: accepted, here is the component.
    Welcome(Welcome),
    /// Master → worker: not accepted, and why.
    Refused(String),
    /// Worker → master: component loaded, ready to spawn.
    Ready,
    /// Master → worker: run these users.
    Spawn(Spawn),
    /// Worker → master: spawning started.
    Spawning,
    /// Worker → master: all users of a spawn started.
    SpawningComplete(SpawnDone),
    /// Worker → master: statistics.
    Report(Report),
    /// Both ways, each second: the sender is alive.
    Heartbeat(Heartbeat),
    /// Master → worker: stop the users.
    Stop,
    /// Worker → master: users stopped.
    Stopped,
    /// Master → worker: exit. Worker → master: this worker is leaving.
    Quit,
}

fn encode<T: Serialize>(kind: &str, payload: &T) -> Result<Frame, ProtocolError> {
    rmp_serde::to_vec_named(payload)
        .map(|payload| Frame {
            kind: kind.to_owned(),
            payload,
        })
        .map_err(|error| ProtocolError::Encode {
            kind: kind.to_owned(),
            reason: error.to_string(),
        })
}

fn decode<T: DeserializeOwned>(frame: &Frame) -> Result<T, ProtocolError> {
    rmp_serde::from_slice(&frame.payload).map_err(|error| ProtocolError::Malformed {
        kind: frame.kind.clone(),
        reason: error.to_string(),
    })
}

impl Message {
    /// The frame type of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::Refused(_) => "refused",
            Message::Ready => "ready",
            Message::Spawn(_) => "spawn",
            Message::Spawning => "spawning",
            Message::SpawningComplete(_) => "spawning_complete",
            Message::Report(_) => "report",
            Message::Heartbeat(_) => "heartbeat",
            Message::Stop => "stop",
            Message::Stopped => "stopped",
            Message::Quit => "quit",
        }
    }

    /// Encode into a frame.
    pub fn to_frame(&self) -> Result<Frame, ProtocolError> {
        let kind = self.kind();
        match self {
            Message::Hello(hello) => encode(kind, hello),
            Message::Welcome(welcome) => encode(kind, welcome),
            Message::Refused(reason) => encode(kind, reason),
            Message::Spawn(spawn) => encode(kind, spawn),
            Message::SpawningComplete(done) => encode(kind, done),
            Message::Report(report) => encode(kind, report),
            Message::Heartbeat(heartbeat) => encode(kind, heartbeat),
            Message::Ready
            | Message::Spawning
            | Message::Stop
            | Message::Stopped
            | Message::Quit => encode(kind, &()),
        }
    }

    /// Decode a frame; unknown types and malformed payloads are errors.
    pub fn from_frame(frame: &Frame) -> Result<Self, ProtocolError> {
        Ok(match frame.kind.as_str() {
            "hello" => Message::Hello(decode(frame)?),
            "welcome" => Message::Welcome(decode(frame)?),
            "refused" => Message::Refused(decode(frame)?),
            "ready" => Message::Ready,
            "spawn" => Message::Spawn(decode(frame)?),
            "spawning" => Message::Spawning,
            "spawning_complete" => Message::SpawningComplete(decode(frame)?),
            "report" => Message::Report(decode(frame)?),
            "heartbeat" => Message::Heartbeat(decode(frame)?),
            "stop" => Message::Stop,
            "stopped" => Message::Stopped,
            "quit" => Message::Quit,
            other => return Err(ProtocolError::UnknownType(other.to_owned())),
        })
    }
}

/// Optional byte strings as msgpack `bin`, not arrays of integers.
mod serde_bytes_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_some(&Bytes(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<ByteBuf>::deserialize(deserializer)?.map(|buf| buf.0))
    }

    pub(super) struct Bytes<'a>(pub(super) &'a [u8]);

    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    pub(super) struct ByteBuf(pub(super) Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = ByteBuf;
                fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    formatter.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(bytes.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(bytes))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<ByteBuf, A::Error> {
                    let mut bytes = Vec::new();
                    while let Some(byte) = seq.next_element::<u8>()? {
                        bytes.push(byte);
                    }
                    Ok(ByteBuf(bytes))
                }
            }
            deserializer.deserialize_byte_buf(Visitor)
        }
    }
}

/// A list of byte strings as msgpack `bin` values.
mod serde_bytes_list {
    use super::serde_bytes_option::{ByteBuf, Bytes};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(value.iter().map(|bytes| Bytes(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<ByteBuf>::deserialize(deserializer)?
            .into_iter()
            .map(|buf| buf.0)
            .collect())
    }
}

/// One message of each type with plausible contents: the seeds of the decoders' fuzzing and
/// the protocol's tests.
pub fn sample_messages() -> Vec<Message> {
    let stats = crate::stats::Stats::new();
    stats.record(
        "GET",
        "/a",
        std::time::Duration::from_millis(12),
        100,
        Some("500 Server Error"),
    );
    stats.record_user_error("boom", "at task a");
    let snapshot = stats.snapshot();
    vec![
        Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            worker_id: "host-1".into(),
            component_hash: Some("ab12".into()),
            cached: vec!["cd34".into()],
            token: None,
        }),
        Message::Welcome(Welcome {
            component_hash: "ab12".into(),
            component: Some(b"\0asm\x0d\0\x01\0".to_vec()),
            max_users: 100,
            memory_bytes: 1 << 26,
            fuel_per_call: 1_000_000,
            max_response_bytes: Some(1 << 20),
            host: Some("http://127.0.0.1:8080".into()),
            options: vec![("greeting".into(), "hi".into())],
            allow_hosts: vec!["api.example.com:443".into()],
            listeners: vec![b"\0asm\x0d\0\x01\0".to_vec()],
            pooled: true,
            fuel_per_second: Some(1_000_000),
        }),
        Message::Refused("wrong token".into()),
        Message::Ready,
        Message::Spawn(Spawn {
            sequence: 7,
            users: vec![("Web".into(), 3), ("Mobile".into(), 1)],
            spawn_rate: 0.5,
            spawn_offset_ms: 2000,
            host: Some("http://127.0.0.1:8080".into()),
            shared_data: Some("{\"token\":\"abc\"}".into()),
            stop_timeout_ms: 5000,
            tags: Some(vec!["a".into()]),
            exclude_tags: None,
            options: vec![("greeting".into(), "hi".into())],
        }),
        Message::Spawning,
        Message::SpawningComplete(SpawnDone {
            sequence: 7,
            user_count: 4,
        }),
        Message::Report(Report {
            entries: snapshot.entries.values().cloned().collect(),
            errors: snapshot.errors.clone().into_iter().collect(),
            user_errors: snapshot.user_errors.clone(),
            user_count: 4,
            metrics: snapshot.metrics.to_series(),
            custom: None,
        }),
        Message::Heartbeat(Heartbeat {
            state: "running".into(),
            cpu_usage: 12.5,
            user_count: 4,
        }),
        Message::Stop,
        Message::Stopped,
        Message::Quit,
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Stats;

    #[test]
    fn every_message_round_trips() {
        for message in sample_messages() {
            let frame = message.to_frame().expect("encode");
            assert_eq!(frame.kind, message.kind());
            assert_eq!(Message::from_frame(&frame).expect("decode"), message);
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let unknown = Frame {
            kind: "launch_missiles".into(),
            payload: Vec::new(),
        };
        assert_eq!(
            Message::from_frame(&unknown),
            Err(ProtocolError::UnknownType("launch_missiles".into()))
        );
        // Every type, with every prefix of a valid payload and with random bytes.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for message in sample_messages() {
            let frame = message.to_frame().expect("encode");
            for cut in 0..frame.payload.len() {
                let truncated = Frame {
                    kind: frame.kind.clone(),
                    payload: frame.payload[..cut].to_vec(),
                };
                let _ = Message::from_frame(&truncated);
            }
            for length in 0..64 {
                let payload = (0..length)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                let _ = Message::from_frame(&Frame {
                    kind: frame.kind.clone(),
                    payload,
                });
            }
        }
    }

    #[test]
    fn another_version_is_refused_naming_both() {
        let hello = Hello {
            version: PROTOCOL_VERSION + 1,
            worker_id: "w".into(),
            component_hash: None,
            cached: Vec::new(),
            token: None,
        };
        let error = hello.check_version().expect_err("refused").to_string();
        assert!(
            error.contains(&format!("version {PROTOCOL_VERSION}")),
            "{error}"
        );
        assert!(
            error.contains(&format!("version {}", PROTOCOL_VERSION + 1)),
            "{error}"
        );
    }

    #[test]
    fn a_future_hello_still_names_its_version() {
        #[derive(Serialize)]
        struct FutureHello {
            version: u32,
            name: Vec<u8>,
        }
        let frame = encode(
            "hello",
            &FutureHello {
                version: 9,
                name: vec![1, 2],
            },
        )
        .expect("encode");
        assert!(Message::from_frame(&frame).is_err());
        assert_eq!(Hello::version_of(&frame), Some(9));
        assert!(check_version(9).is_err());
    }

    #[test]
    fn shipped_histograms_merge_exactly() {
        let worker_a = Stats::new();
        let worker_b = Stats::new();
        let together = Stats::new();
        for value in 1..3000u64 {
            let stats = if value % 3 == 0 { &worker_a } else { &worker_b };
            stats.record("GET", "/", Duration::from_micros(value * 53), 0, None);
            together.record("GET", "/", Duration::from_micros(value * 53), 0, None);
        }
        let ship = |stats: &Stats| {
            let data = stats
                .snapshot()
                .entries
                .values()
                .next()
                .expect("entry")
                .clone();
            let frame = Message::Report(Report {
                entries: vec![data],
                errors: Vec::new(),
                user_errors: Vec::new(),
                user_count: 1,
                metrics: Vec::new(),
                custom: None,
            })
            .to_frame()
            .expect("encode");
            match Message::from_frame(&frame).expect("decode") {
                Message::Report(mut report) => report.entries.remove(0),
                other => panic!("{other:?}"),
            }
        };
        let mut merged = ship(&worker_a);
        merged.extend(&ship(&worker_b));
        let exact = together.snapshot();
        let exact = exact.entries.values().next().expect("entry");
        for fraction in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.percentile(fraction),
                exact.percentile(fraction),
                "{fraction}"
            );
        }
        assert_eq!(merged.num_requests, exact.num_requests);
    }
}
