//! Repeated warnings, sampled (spec 11.1): of the warnings and errors one
//! log call site emits within a [`WINDOW`], the first is written and the
//! rest are counted; the count is written as its own line,
//! `repeated log lines suppressed` (fields `site`, `suppressed`), just
//! before that call site's next line once the window has ended. A store
//! outage then logs one line a minute per call site, not one per retry.
//! Info and debug lines are never sampled.
//!
//! [`Sampled`] wraps the log layer itself: it decides per event and hands
//! the count to the same formatter (an event dispatched from inside the
//! subscriber would be dropped by tracing's re-entrancy guard).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};

/// How long one call site's repeats are counted instead of written.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The call site of the count line.
struct SummarySite;

static SUMMARY_SITE: SummarySite = SummarySite;
static SUMMARY: Metadata<'static> = Metadata::new(
    "repeated log lines suppressed",
    "ghstats::log_sampling",
    Level::WARN,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(
        &["message", "site", "suppressed"],
        tracing::callsite::Identifier(&SUMMARY_SITE),
    ),
    Kind::EVENT,
);

impl Callsite for SummarySite {
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &SUMMARY
    }
}

#[derive(Debug)]
struct Site {
    since: Instant,
    suppressed: u64,
}

/// A log layer whose repeated warnings are sampled.
#[derive(Debug)]
pub struct Sampled<L> {
    inner: L,
    window: Duration,
    sites: Mutex<HashMap<Identifier, Site>>,
}

impl<L> Sampled<L> {
    pub fn new(inner: L, window: Duration) -> Self {
        Self {
            inner,
            window,
            sites: Mutex::default(),
        }
    }

    /// Whether `meta`'s event is written, and the count of its call site's
    /// window that just ended, if any.
    fn admit(&self, meta: &Metadata<'_>) -> (bool, u64) {
        if *meta.level() > Level::WARN {
            return (true, 0);
        }
        let now = Instant::now();
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let site = match sites.entry(meta.callsite()) {
            Entry::Vacant(v) => {
                v.insert(Site {
                    since: now,
                    suppressed: 0,
                });
                return (true, 0);
            }
            Entry::Occupied(o) => o.into_mut(),
        };
        if now.duration_since(site.since) < self.window {
            site.suppressed += 1;
            return (false, 0);
        }
        let ended = std::mem::replace(
            site,
            Site {
                since: now,
                suppressed: 0,
            },
        );
        (true, ended.suppressed)
    }
}

impl<S: Subscriber, L: Layer<S>> Layer<S> for Sampled<L> {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let (write, suppressed) = self.admit(event.metadata());
        if suppressed > 0 {
            let meta = event.metadata();
            let site = format!(
                "{} ({}:{})",
                meta.target(),
                meta.file().unwrap_or("?"),
                meta.line().unwrap_or(0)
            );
            let fields = SUMMARY.fields();
            if let (Some(message), Some(at), Some(count)) = (
                fields.field("message"),
                fields.field("site"),
                fields.field("suppressed"),
            ) {
                let text = format_args!("repeated log lines suppressed");
                let values: [(&tracing::field::Field, Option<&dyn Value>); 3] = [
                    (&message, Some(&text)),
                    (&at, Some(&site.as_str())),
                    (&count, Some(&suppressed)),
                ];
                let values = fields.value_set(&values);
                self.inner
                    .on_event(&Event::new(&SUMMARY, &values), ctx.clone());
            }
        }
        if write {
            self.inner.on_event(event, ctx);
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn warn_from_one_place(i: u32) {
        tracing::warn!(attempt = i, "store unreachable");
    }

    #[test]
    fn the_first_warning_is_written_then_a_count() {
        let out = Captured::default();
        let writer = out.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        let subscriber =
            tracing_subscriber::registry().with(Sampled::new(fmt, Duration::from_millis(200)));
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..5 {
                warn_from_one_place(i);
            }
            tracing::info!("infos are never sampled");
            tracing::info!("infos are never sampled");
            std::thread::sleep(Duration::from_millis(250));
            warn_from_one_place(5);
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let unreachable: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains("store unreachable"))
            .collect();
        assert_eq!(unreachable.len(), 2, "{text}");
        assert!(
            unreachable[0].contains("attempt=0") && unreachable[1].contains("attempt=5"),
            "{text}"
        );
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("infos are never sampled"))
                .count(),
            2
        );
        let summary: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains("repeated log lines suppressed"))
            .collect();
        assert_eq!(summary.len(), 1, "{text}");
        assert!(summary[0].contains("suppressed=4"), "{text}");
        assert!(summary[0].contains("log_sampling.rs"), "{text}");
    }
}
