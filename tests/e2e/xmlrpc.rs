//! XML-RPC against the documentation's own `SimpleXMLRPCServer`: the xmlrpc plugin, with calls
//! timed by the host (`http.send-as`), faults as failures, and counts equal to the server's log.

use std::time::Duration;

use crate::harness::{KillOnDrop, locust, root};
use crate::provision;

/// The documentation's `SimpleXMLRPCServer` script, run unmodified on its port 8877, and the
/// requests it logged so far.
pub struct XmlRpcServer {
    _child: KillOnDrop,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
    // Its port is fixed: one server at a time in the suite.
    _port: std::sync::MutexGuard<'static, ()>,
}

impl XmlRpcServer {
    pub fn start() -> Self {
        static PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let port = PORT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::tempdir().expect("log dir");
        let log = dir.path().join("server.log");
        let child = std::process::Command::new(provision::componentize_py().join("python3"))
            .args(["-u", "examples/python/xmlrpc_server.py"])
            .current_dir(root())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("requests.log")).expect("log"))
            .spawn()
            .expect("python3 runs the server");
        let server = Self {
            _child: KillOnDrop(child),
            log,
            _dir: dir,
            _port: port,
        };
        for _ in 0..100 {
            if std::fs::read_to_string(&server.log).is_ok_and(|text| text.contains("Listening")) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the XML-RPC server did not start (is port 8877 taken?)");
    }

    /// The calls the server answered (its request log has a line per POST).
    pub fn calls(&self) -> u64 {
        let requests = self.log.with_file_name("requests.log");
        let text = std::fs::read_to_string(requests).unwrap_or_default();
        text.lines().filter(|line| line.contains("\"POST ")).count() as u64
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_xmlrpc_plugin_calls_the_documentations_server() {
    let server = XmlRpcServer::start();
    let run = locust(&[
        "-f",
        "examples/xmlrpc-user",
        "--plugin",
        "plugins/xmlrpc",
        "--headless",
        "-u",
        "3",
        "-r",
        "10",
        "-t",
        "4s",
        // The server answers one call at a time, each after up to a second.
        "--stop-timeout",
        "10",
        "ApiUser",
        "MissingMethodUser",
    ])
    .await;
    assert_eq!(
        run.code, 1,
        "the faults fail the run: {}{}",
        run.stdout, run.stderr
    );
    let calls = ["get_time", "get_random_number", "no_such_method"]
        .map(|method| run.requests("xmlrpc", method));
    // The server answers one call at a time, each after up to a second: a loaded machine may
    // get few calls in 4 s, so only the two classes' own first calls are sure to be there.
    assert!(calls[0] + calls[1] > 0 && calls[2] > 0, "{}", run.stdout);
    assert_eq!(calls.iter().sum::<u64>(), server.calls(), "{}", run.stdout);
    // Only the faults failed, each with the server's message.
    let row = run.summary_row("xmlrpc", "no_such_method").expect("a row");
    assert!(row[1].starts_with(&format!("{}(", calls[2])), "{row:?}");
    for method in ["get_time", "get_random_number"] {
        if let Some(row) = run.summary_row("xmlrpc", method) {
            assert!(row[1].starts_with("0("), "{row:?}");
        }
    }
    let report = run.section("Error report").expect("an error report");
    assert!(
        report.contains("xmlrpc no_such_method: Fault 1: <class 'Exception'>:method \"no_such_method\" is not supported"),
        "{report}"
    );
}
