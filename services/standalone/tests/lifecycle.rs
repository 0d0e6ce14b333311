//! The real binary serves, answers health, and exits 0 on SIGTERM after a
//! graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const CONFIG: &str = "\
server:
  listen_addr: 127.0.0.1:0
services:
  gateway:
    grpc_listen_addr: 127.0.0.1:0
  scheduler:
    http_listen_addr: 127.0.0.1:0
    grpc_listen_addr: 127.0.0.1:0
  worker:
    http_listen_addr: 127.0.0.1:0
    grpc_listen_addr: 127.0.0.1:0
";

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serves_and_stops_on_sigterm() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(CONFIG.as_bytes()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ghstats"))
        .args(["--config", file.path().to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();

    // The gateway's "serving" log line names its bound HTTP address.
    let gateway_http = loop {
        let line = logs.next().expect("process exited before serving").unwrap();
        let log: serde_json::Value = serde_json::from_str(&line).unwrap();
        if log["message"] == "serving" && log["service"] == "gateway" {
            break log["http"].as_str().unwrap().to_owned();
        }
    };
    let response = http_get(&gateway_http, "/livez");
    assert!(response.starts_with("HTTP/1.0 200 OK"), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = logs.map(Result::unwrap).collect();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("\"signal\":\"SIGTERM\"")),
        "{rest:#?}"
    );
    assert!(
        rest.last()
            .is_some_and(|l| l.contains("\"message\":\"stopped\"")),
        "{rest:#?}"
    );
}
