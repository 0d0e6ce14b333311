//! Each service's own process metrics (memory, CPU, file descriptors, start
//! time, build info), read from `/proc` at scrape time and rendered as
//! OpenMetrics with prometheus-client. Services register their own families
//! in the same registry before it is shared.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

/// Clock ticks per second of `/proc/self/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

/// A service's process registry.
#[derive(Debug)]
pub struct ProcessMetrics {
    registry: Registry,
}

impl ProcessMetrics {
    /// The registry with process and build-info families for `service`.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::default();
        let build_info = Family::<Vec<(String, String)>, Gauge>::default();
        build_info
            .get_or_create(&vec![
                ("service".into(), service.into()),
                ("version".into(), env!("CARGO_PKG_VERSION").into()),
            ])
            .set(1);
        registry.register(
            "ghstats_build_info",
            "Build of this ghstats process",
            build_info,
        );
        registry.register_collector(Box::new(ProcCollector));
        Self { registry }
    }

    /// For the service to add its own families at start-up.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[derive(Debug)]
struct ProcCollector;

/// What `/proc` says about this process.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcStat {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
}

/// Reads `/proc/self`; `None` where `/proc` is not available.
pub fn read_proc_stat() -> Option<ProcStat> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // Index 0 here is field 3 (state) of proc(5).
    let utime = num(11)?;
    let stime = num(12)?;
    let start_ticks = num(19)?;
    let vsize = num(20)?;
    let rss_pages = num(21)?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix("btime ")
                .and_then(|v| v.trim().parse::<u64>().ok())
        })?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Some(ProcStat {
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        resident_bytes: rss_pages * PAGE_SIZE,
        virtual_bytes: vsize,
        start_time_seconds: boot_time as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        open_fds,
    })
}

impl Collector for ProcCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = read_proc_stat() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "User and system CPU time spent",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, Option<&Unit>, f64); 4] = [
            (
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                p.resident_bytes as f64,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size",
                Some(&Unit::Bytes),
                p.virtual_bytes as f64,
            ),
            (
                "process_start_time",
                "Start time since the Unix epoch",
                Some(&Unit::Seconds),
                p.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                None,
                p.open_fds as f64,
            ),
        ];
        for (name, help, unit, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_process_families_with_real_values() {
        let text = ProcessMetrics::new("worker").render().unwrap();
        assert!(
            text.contains("ghstats_build_info{service=\"worker\",version=\""),
            "{text}"
        );
        assert!(
            text.contains("# TYPE process_cpu_seconds counter"),
            "{text}"
        );
        let rss_line = text
            .lines()
            .find(|l| l.starts_with("process_resident_memory_bytes "))
            .unwrap_or_else(|| panic!("no rss line in {text}"));
        let rss: f64 = rss_line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(
            rss > 1_000_000.0,
            "a test process uses more than 1 MB: {rss}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
