//! The scheduler binary: it refuses to start without an org to scrape, and
//! `--probe` (the images' health check) answers by the HTTP status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn scheduler_without_orgs_exits_64() {
    let out = Command::new(env!("CARGO_BIN_EXE_ghstats-scheduler"))
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("github.orgs: the scheduler needs at least one org"),
        "{stderr}"
    );
}

/// Serves one fixed HTTP answer per connection on a spare port.
fn answer_with(status_line: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = write!(conn, "{status_line}\r\ncontent-length: 0\r\n\r\n");
        }
    });
    port
}

fn probe(url: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ghstats-scheduler"))
        .args(["--probe", url])
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn probe_succeeds_on_2xx_only() {
    let ok = answer_with("HTTP/1.1 200 OK");
    let (code, stderr) = probe(&format!("http://127.0.0.1:{ok}/readyz"));
    assert_eq!(code, Some(0), "{stderr}");
    let unavailable = answer_with("HTTP/1.1 503 Service Unavailable");
    let (code, stderr) = probe(&format!("http://127.0.0.1:{unavailable}/readyz"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, stderr) = probe(&format!("http://127.0.0.1:{closed}/readyz"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("probe http://127.0.0.1"), "{stderr}");
    let (code, stderr) = probe("https://127.0.0.1/readyz");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("only http:// URLs"), "{stderr}");
}
