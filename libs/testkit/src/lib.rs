//! What every ghstats test shares, and the one crate of test support: a
//! spare port for a server a test starts itself, names no other test or
//! run uses, the address of the test broker; with the `world` feature, a
//! simulated world (the simulator, stores and queues under unique names,
//! gauges against the truth) for the end-to-end tests. Without `world` it
//! depends on no other ghstats crate, so the store's and the queue's own
//! tests use it too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod own_redis;
#[cfg(feature = "world")]
mod world;
pub use own_redis::OwnRedis;
#[cfg(feature = "world")]
pub use world::*;

/// The ports [`spare_port`] hands out: below Linux's ephemeral range
/// (32768-60999), so no outgoing connection and no `bind(0)` elsewhere
/// takes one between a test choosing it and its server binding it.
const SPARE_PORTS: std::ops::Range<u16> = 20_000..24_000;

/// A free TCP port on 127.0.0.1 (for a server a test starts itself).
///
/// The port is reserved for the life of the calling process: an exclusive
/// lock on a file named after it (in the temporary directory, released by
/// the system when the process ends, however it ends) keeps every other
/// test process, and a later call in this one, from handing it out too,
/// and the port is not bound by anyone when chosen. So a port handed out
/// here is the one the test's server binds: a port the kernel picked with
/// `bind(0)` and the test released could be taken before that, by an
/// outgoing connection of any test or by another test's pick.
pub fn spare_port() -> u16 {
    static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("ghstats-test-ports");
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let span = u32::from(SPARE_PORTS.end - SPARE_PORTS.start);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .subsec_nanos();
    let first = (std::process::id().wrapping_mul(7_919) ^ nanos) % span;
    for i in 0..span {
        let port = SPARE_PORTS.start + ((first + i) % span) as u16;
        let Ok(file) = std::fs::File::create(dir.join(port.to_string())) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            HELD.lock().unwrap_or_else(|p| p.into_inner()).push(file);
            return port;
        }
    }
    panic!("every port of {SPARE_PORTS:?} is reserved or bound");
}

/// A name no other test (or run) uses: `test.<name>.<pid>.<nanos>`.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!("test.{name}.{}.{nanos}", std::process::id())
}

/// A deterministic sequence of choices (for simulated days).
#[derive(Debug)]
pub struct Dice(pub u64);

impl Dice {
    /// The next choice in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The test broker: `GHSTATS_TEST_AMQP_URL`, or the local RabbitMQ.
pub fn amqp_url() -> String {
    std::env::var("GHSTATS_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_differ_between_calls() {
        assert_ne!(unique("a"), unique("a"));
        assert!(unique("jobs").starts_with("test.jobs."));
        let port = spare_port();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        assert!(port < 32_768, "{port} is below the ephemeral range");
        assert_ne!(spare_port(), port, "the next call gives another port");
        let many: std::collections::BTreeSet<u16> = (0..50).map(|_| spare_port()).collect();
        assert_eq!(many.len(), 50, "no port is handed out twice");
        // The port's file opened again, as another process would, cannot be locked.
        let file = std::env::temp_dir()
            .join("ghstats-test-ports")
            .join(port.to_string());
        let other = std::fs::File::open(file).unwrap();
        assert!(other.try_lock().is_err(), "the port stays reserved");
    }
}
