//! The container health probe: one plain-HTTP GET with a 2-second budget,
//! so images need no `curl` (`<binary> --probe http://127.0.0.1:8080/livez`).

use std::io::{Read, Write};
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::Duration;

/// Why a probe got no HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("only http:// URLs can be probed")]
    NotHttp,
    #[error("cannot resolve {authority}: {source}")]
    Resolve {
        authority: String,
        source: std::io::Error,
    },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not an HTTP answer: {0:?}")]
    NotHttpAnswer(String),
}

/// Probes `url`: success on a 2xx, the reason on standard error otherwise.
pub fn probe(url: &str) -> ExitCode {
    match probe_status(url) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("probe {url}: HTTP {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("probe {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The status `url` answers with.
pub fn probe_status(url: &str) -> Result<u16, ProbeError> {
    let rest = url.strip_prefix("http://").ok_or(ProbeError::NotHttp)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = authority
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve {
            authority: authority.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| ProbeError::NoAddress(authority.to_owned()))?;
    let budget = Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, budget)?;
    stream.set_read_timeout(Some(budget))?;
    // One write: a server may answer (and close) after the first segment.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProbeError::NotHttpAnswer(line.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_cannot_probe() {
        assert!(matches!(
            probe_status("https://example.invalid/"),
            Err(ProbeError::NotHttp)
        ));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
                .unwrap();
        });
        assert_eq!(probe_status(&format!("http://{addr}/readyz")).unwrap(), 503);
        server.join().unwrap();
    }
}
