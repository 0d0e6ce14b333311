//! A Redis server of a test's own on a spare port (for a test that must
//! kill its store), with an append-only file so a restart keeps the data.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running server; killed when dropped.
#[derive(Debug)]
pub struct OwnRedis(Child);

impl OwnRedis {
    /// Starts `redis-server` on `port` keeping its files in `dir`.
    pub fn start(port: u16, dir: &Path) -> Self {
        let redis = Self(
            Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                ])
                .args(["--appendonly", "yes", "--dir", dir.to_str().unwrap()])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server is installed"),
        );
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("own redis-server did not start");
    }

    pub fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
