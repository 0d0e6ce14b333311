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

/// First port of the band [`spare_port`] hands out: below Linux's
/// ephemeral range (32768-60999), so no outgoing connection and no
/// `bind(0)` elsewhere can take a port between the test choosing it and
/// its server binding it.
const SPARE_PORTS_FROM: u16 = 20_000;
/// Ports each test process may take before it reuses its band.
const SPARE_PORTS_PER_PROCESS: u16 = 16;
/// How many process bands fit below the ephemeral range.
const SPARE_PORT_BANDS: u16 = 760;

/// A free TCP port on 127.0.0.1 (for a server a test starts itself).
///
/// Each test process takes ports from its own band of the range below the
/// ephemeral ports (chosen by its pid), in turn, skipping any already
/// bound: a port handed out here is not reached for by a concurrently
/// running test nor by the kernel for an outgoing connection, the two ways
/// a port chosen with `bind(0)` and released was taken before the server
/// that was to listen on it started.
pub fn spare_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let band = (std::process::id() % u32::from(SPARE_PORT_BANDS)) as u16;
    let first = SPARE_PORTS_FROM + band * SPARE_PORTS_PER_PROCESS;
    for _ in 0..SPARE_PORTS_PER_PROCESS {
        let port = first + NEXT.fetch_add(1, Ordering::Relaxed) % SPARE_PORTS_PER_PROCESS;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // Every port of the band is in use: fall back to one the kernel picks.
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port on 127.0.0.1")
        .local_addr()
        .expect("a bound listener has an address")
        .port()
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
    }
}
