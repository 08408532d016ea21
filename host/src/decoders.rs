//! Every decoder of input a stranger controls, as one function of bytes each, with seeds of
//! valid input: worker–master frames (and the master merging a report), the shared service's
//! run settings and tenants file, the web UI's swarm form, `--allow-host` rules, and the
//! structure of an uploaded component.
//!
//! A decoder must answer every input with a value or an error: never a panic, a hang or
//! memory out of proportion to the input. The tests below feed each 5,000 generated inputs in
//! the suite; `bench/run fuzz` feeds each a million and reports time and memory.

use std::collections::HashMap;

use rand::Rng;

use crate::dist::protocol::{Frame, Message, sample_messages};
use crate::serve::runs::{RunSettings, Service};
use crate::serve::store::ComponentRecord;
use crate::serve::tenants::Tenants;

/// One decoder under test.
pub struct Decoder {
    /// Its name in reports.
    pub name: &'static str,
    /// Decode `input`; true when it was accepted.
    pub decode: fn(&[u8]) -> bool,
    /// Valid inputs to mutate.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every decoder.
pub const DECODERS: &[Decoder] = &[
    Decoder {
        name: "worker frame",
        decode: worker_frame,
        seeds: frame_seeds,
    },
    Decoder {
        name: "run settings",
        decode: run_settings,
        seeds: settings_seeds,
    },
    Decoder {
        name: "tenants file",
        decode: tenants_file,
        seeds: tenants_seeds,
    },
    Decoder {
        name: "swarm form",
        decode: swarm_form,
        seeds: form_seeds,
    },
    Decoder {
        name: "allow-host rule",
        decode: host_rule,
        seeds: rule_seeds,
    },
    Decoder {
        name: "component structure",
        decode: component,
        seeds: component_seeds,
    },
];

/// The message types a frame may name; the first input byte picks one (or a made-up one).
const KINDS: &[&str] = &[
    "hello",
    "welcome",
    "refused",
    "ready",
    "spawn",
    "spawning",
    "spawning_complete",
    "report",
    "heartbeat",
    "stop",
    "stopped",
    "quit",
];

/// A frame as the transport hands it over: byte 0 picks the type, the rest is the payload.
/// A report that decodes is merged into statistics, as the master does.
pub fn worker_frame(input: &[u8]) -> bool {
    let Some((&pick, payload)) = input.split_first() else {
        return false;
    };
    let kind = KINDS
        .get(usize::from(pick) % (KINDS.len() + 1))
        .map_or_else(
            || String::from_utf8_lossy(payload).into_owned(),
            |kind| (*kind).to_owned(),
        );
    let frame = Frame {
        kind,
        payload: payload.to_vec(),
    };
    match Message::from_frame(&frame) {
        Ok(Message::Report(report)) => {
            let stats = crate::stats::Stats::new();
            stats.absorb(
                &report.entries,
                &report.errors,
                &report.user_errors,
                &report.metrics,
            );
            let _ = stats.read(crate::stats::csv::render_stats_csv);
            true
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

fn frame_seeds() -> Vec<Vec<u8>> {
    sample_messages()
        .into_iter()
        .filter_map(|message| {
            let frame = message.to_frame().ok()?;
            let pick = KINDS.iter().position(|kind| *kind == frame.kind)? as u8;
            Some(std::iter::once(pick).chain(frame.payload).collect())
        })
        .collect()
}

const TENANTS: &str = "[[tenant]]\nname = \"fuzz\"\ntoken-sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nallow-hosts = [\"127.0.0.1:8080\", \"*.example.com\"]\nmax-users = 50\nmax-run-time = \"10m\"\n";

/// A run's JSON settings, checked against a tenant and a component as a submission is.
pub fn run_settings(input: &[u8]) -> bool {
    thread_local! {
        static TENANT: Tenants = Tenants::parse(TENANTS, "fuzz").expect("the fuzz tenant parses");
    }
    let Ok(settings) = serde_json::from_slice::<RunSettings>(input) else {
        return false;
    };
    let component = ComponentRecord {
        id: settings.component.clone(),
        size: 1,
        created: 0.0,
        description: serde_json::json!({
            "classes": [
                {"name": "Web", "weight": 1, "host": "http://127.0.0.1:8080", "abstract": false},
                {"name": "Base", "weight": 1, "host": null, "abstract": true},
            ],
            "options": [{"name": "greeting", "default": "hi", "help": ""}],
        }),
    };
    TENANT.with(|tenants| {
        let tenant = tenants.get("fuzz").expect("the fuzz tenant");
        Service::check_settings(tenant, &settings, &component).is_ok()
    })
}

fn settings_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"component": "00", "users": 10, "spawn_rate": 2, "run_time": "1m", "host": "http://127.0.0.1:8080"}"#,
        r#"{"component": "00", "users": 1, "classes": ["Web"], "tags": ["a"], "exclude_tags": [], "options": {"greeting": "x"}, "user_memory": 16, "stop_timeout": "2s"}"#,
        r#"{"component": "00", "users": 100000000000, "spawn_rate": 1e308, "run_time": "99999h"}"#,
    ]
    .iter()
    .map(|seed| seed.as_bytes().to_vec())
    .collect()
}

/// A tenants file.
pub fn tenants_file(input: &[u8]) -> bool {
    std::str::from_utf8(input).is_ok_and(|text| Tenants::parse(text, "fuzz").is_ok())
}

fn tenants_seeds() -> Vec<Vec<u8>> {
    vec![
        TENANTS.as_bytes().to_vec(),
        format!("{TENANTS}max-fuel-per-second = 1_000\nmax-user-memory-mib = 4096\n").into_bytes(),
    ]
}

/// The web UI's `POST /swarm` form, url-encoded.
pub fn swarm_form(input: &[u8]) -> bool {
    let form: HashMap<String, String> = url::form_urlencoded::parse(input).into_owned().collect();
    // A web UI started with --step-load asks for the step fields.
    let step = form.contains_key("step_user_count");
    // And one whose locustfile has a load shape may leave out the users and spawn rate.
    let shape = form.contains_key("shape");
    crate::web::parse_swarm(&form, step, shape).is_ok()
}

fn form_seeds() -> Vec<Vec<u8>> {
    [
        "user_count=10&spawn_rate=2&host=http%3A%2F%2F127.0.0.1%3A8080",
        "user_count=5&hatch_rate=0.5&step_user_count=1&step_duration=10s",
    ]
    .iter()
    .map(|seed| seed.as_bytes().to_vec())
    .collect()
}

/// One `--allow-host` (or tenants-file `allow-hosts`) rule, checked against a URL.
pub fn host_rule(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    match crate::grants::HostRule::parse(&text) {
        Ok(rule) => {
            let _ = crate::grants::covers(&[rule], &text);
            true
        }
        Err(_) => false,
    }
}

fn rule_seeds() -> Vec<Vec<u8>> {
    [
        "127.0.0.1:8080",
        "[::1]:443",
        "*.example.com",
        "https://api.example.com/x",
        "*:9000",
    ]
    .iter()
    .map(|seed| seed.as_bytes().to_vec())
    .collect()
}

/// The structure of an uploaded component, as read before it is compiled.
pub fn component(input: &[u8]) -> bool {
    crate::component::footprint::of(input).is_ok()
}

fn component_seeds() -> Vec<Vec<u8>> {
    // The smallest components: an empty one, and one holding an empty core module.
    vec![
        b"\0asm\x0d\0\x01\0".to_vec(),
        b"\0asm\x0d\0\x01\0\x01\x08\0asm\x01\0\0\0".to_vec(),
    ]
}

/// Bytes that stress decoders: boundaries, msgpack headers of 32-bit lengths (array, map,
/// str, bin), JSON and TOML punctuation.
const INTERESTING: &[&[u8]] = &[
    &[0x00],
    &[0xff],
    &[0x7f],
    &[0x80],
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdf, 0xff, 0xff, 0xff, 0xff],
    &[0xdb, 0x7f, 0xff, 0xff, 0xff],
    &[0xc6, 0xff, 0xff, 0xff, 0xff],
    &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    b"[[[[[[[[[[[[[[[[",
    b"{\"a\":",
    b"1e999999",
    b"-0",
    b"\"\\u0000\"",
    b"%00",
    b"%FF",
    b"[[tenant]]\n",
    b"= \"",
    b"\xef\xbf\xbf",
];

/// A generated input: a quarter of the time arbitrary bytes, else one of `seeds` mutated (bytes
/// flipped or set to boundary values, stressing runs inserted, bytes deleted, cut short,
/// spliced with another seed, chunks repeated).
pub fn mutate(rng: &mut impl Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.random_ratio(1, 4) {
        let length = rng.random_range(0..1024);
        return (0..length).map(|_| rng.random()).collect();
    }
    let mut bytes = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let at = if bytes.is_empty() {
            0
        } else {
            rng.random_range(0..bytes.len())
        };
        match rng.random_range(0..7) {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.random_range(0..8),
            1 if !bytes.is_empty() => {
                bytes[at] = [0, 0xff, 0x7f, 0x80, b'"', b'{'][rng.random_range(0..6)]
            }
            2 => {
                let insert = INTERESTING[rng.random_range(0..INTERESTING.len())];
                bytes.splice(at..at, insert.iter().copied());
            }
            3 if !bytes.is_empty() => {
                let end = (at + rng.random_range(1..16)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => bytes.truncate(at),
            5 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                bytes.truncate(at);
                bytes.extend_from_slice(&other[from..]);
            }
            _ if !bytes.is_empty() => {
                let end = (at + rng.random_range(1..32)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                for _ in 0..rng.random_range(1..8) {
                    bytes.splice(at..at, chunk.iter().copied());
                }
            }
            _ => {}
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for decoder in DECODERS {
            if decoder.name == "run settings" {
                continue; // its seeds include refusals on purpose
            }
            for seed in (decoder.seeds)() {
                assert!(
                    (decoder.decode)(&seed),
                    "{}: {:?}",
                    decoder.name,
                    String::from_utf8_lossy(&seed)
                );
            }
        }
    }

    /// The suite's share of `bench/run fuzz`: 5,000 generated inputs per decoder, from a seed
    /// that changes every run (printed, so a failure can be replayed).
    #[test]
    fn decoders_answer_generated_input() {
        let seed: u64 = rand::random();
        for (index, decoder) in DECODERS.iter().enumerate() {
            let mut rng = SmallRng::seed_from_u64(seed ^ index as u64);
            let seeds = (decoder.seeds)();
            for _ in 0..5_000 {
                let input = mutate(&mut rng, &seeds);
                let outcome = std::panic::catch_unwind(|| (decoder.decode)(&input));
                assert!(
                    outcome.is_ok(),
                    "{} panicked (rng seed {seed}) on {input:02x?}",
                    decoder.name
                );
            }
        }
    }

    #[test]
    fn messages_round_trip_with_any_values() {
        let mut rng = SmallRng::seed_from_u64(rand::random());
        for _ in 0..2_000 {
            let mut message = sample_messages().swap_remove(rng.random_range(0..12));
            match &mut message {
                Message::Heartbeat(beat) => {
                    beat.user_count = rng.random();
                    beat.cpu_usage = rng.random();
                    beat.state = (0..rng.random_range(0..40))
                        .map(|_| rng.random::<char>())
                        .collect();
                }
                Message::Spawn(spawn) => {
                    spawn.sequence = rng.random();
                    spawn.spawn_rate = rng.random();
                    spawn.users = vec![(String::from("U"), rng.random())];
                }
                _ => {}
            }
            let frame = message.to_frame().expect("encodes");
            assert_eq!(Message::from_frame(&frame).expect("decodes"), message);
        }
    }
}
