//! The names of the backfill exchange and queues, from `amqp.*` and
//! `backfill.requeue_delays`.

use std::time::Duration;

use ghstats_config::{AmqpConfig, BackfillConfig};

/// Exchange, main queue, one delay queue per delay, dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub exchange: String,
    pub jobs: String,
    pub dlq: String,
    /// `(name, delay)`, shortest first, e.g. `gh.backfill.retry.5m`.
    pub delays: Vec<(String, Duration)>,
}

impl Topology {
    pub fn from_config(amqp: &AmqpConfig, backfill: &BackfillConfig) -> Self {
        Self::new(
            &amqp.exchange,
            &amqp.queue_name(),
            &amqp.dlq_name(),
            &amqp.retry_prefix(),
            &backfill.requeue_delays,
        )
    }

    pub fn new(
        exchange: &str,
        jobs: &str,
        dlq: &str,
        retry_prefix: &str,
        delays: &[ghstats_config::Duration],
    ) -> Self {
        Self {
            exchange: exchange.to_owned(),
            jobs: jobs.to_owned(),
            dlq: dlq.to_owned(),
            delays: delays
                .iter()
                .map(|d| (format!("{retry_prefix}.{d}"), d.get()))
                .collect(),
        }
    }

    /// Every queue name: jobs, delays, dead letters.
    pub fn queues(&self) -> Vec<&str> {
        std::iter::once(self.jobs.as_str())
            .chain(self.delays.iter().map(|(n, _)| n.as_str()))
            .chain(std::iter::once(self.dlq.as_str()))
            .collect()
    }

    pub fn delay_durations(&self) -> Vec<Duration> {
        self.delays.iter().map(|(_, d)| *d).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_match_the_specification() {
        let t = Topology::from_config(&AmqpConfig::default(), &BackfillConfig::default());
        assert_eq!(
            t.queues(),
            [
                "gh.backfill.jobs",
                "gh.backfill.retry.1m",
                "gh.backfill.retry.5m",
                "gh.backfill.retry.30m",
                "gh.backfill.retry.2h",
                "gh.backfill.dlq"
            ]
        );
        assert_eq!(t.exchange, "gh.backfill");
    }

    #[test]
    fn another_exchange_names_other_queues_unless_they_are_set() {
        let team = AmqpConfig {
            exchange: "team-b".into(),
            ..AmqpConfig::default()
        };
        let t = Topology::from_config(&team, &BackfillConfig::default());
        assert_eq!(
            t.queues(),
            [
                "team-b.jobs",
                "team-b.retry.1m",
                "team-b.retry.5m",
                "team-b.retry.30m",
                "team-b.retry.2h",
                "team-b.dlq"
            ]
        );
        let explicit = AmqpConfig {
            queue: Some("q".into()),
            dlq: Some("d".into()),
            retry_queue_prefix: Some("r".into()),
            ..team
        };
        let t = Topology::from_config(&explicit, &BackfillConfig::default());
        assert_eq!(t.queues(), ["q", "r.1m", "r.5m", "r.30m", "r.2h", "d"]);
    }
}
