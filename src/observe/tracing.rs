//! A [`Listener`] that emits `tracing` events.

use do_over_core::observe::{Event, Listener, rejection_label, state_label};

/// Emits one `tracing` event (target `do_over`) per policy [`Event`], with structured fields:
/// `pipeline`, `event`, and per event `duration_ms`, `rejection`, `attempt`, `delay_ms`,
/// `cause`, `from`, `to`.
///
/// Levels: successes and hedges `DEBUG`; retries and a breaker closing or half-opening
/// `INFO`; failures, rejections, budget refusals and a breaker opening or being isolated
/// `WARN`.
///
/// ```
/// use do_over::observe::TracingListener;
/// use do_over::retry::RetryPolicy;
/// use std::time::Duration;
///
/// let retry = RetryPolicy::fixed(3, Duration::from_millis(100))
///     .observe(TracingListener::new("inventory"));
/// ```
#[derive(Copy, Clone, Debug)]
pub struct TracingListener {
    pipeline: &'static str,
}

impl TracingListener {
    /// Events carry `pipeline = name`.
    pub fn new(pipeline: &'static str) -> Self {
        TracingListener { pipeline }
    }
}

fn ms(d: core::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Listener for TracingListener {
    fn on_event(&self, event: &Event) {
        let pipeline = self.pipeline;
        let name = event.name();
        match *event {
            Event::Success { duration } => tracing::debug!(
                target: "do_over", pipeline, event = name, duration_ms = ms(duration), "call succeeded"
            ),
            Event::Failure { duration } => tracing::warn!(
                target: "do_over", pipeline, event = name, duration_ms = ms(duration), "call failed"
            ),
            Event::Rejected {
                rejection,
                duration,
            } => tracing::warn!(
                target: "do_over",
                pipeline,
                event = name,
                rejection = rejection_label(&rejection),
                duration_ms = ms(duration),
                "call rejected"
            ),
            Event::Retry {
                attempt,
                delay,
                cause,
            } => tracing::info!(
                target: "do_over",
                pipeline,
                event = name,
                attempt,
                delay_ms = ms(delay),
                cause = cause.as_ref().map_or("error", rejection_label),
                "retrying"
            ),
            Event::RetryBudgetExhausted => tracing::warn!(
                target: "do_over", pipeline, event = name, "retry budget exhausted"
            ),
            Event::CircuitTransition { from, to } => {
                let (from, to) = (state_label(from), state_label(to));
                if matches!(to, "open" | "isolated") {
                    tracing::warn!(target: "do_over", pipeline, event = name, from, to, "circuit {to}");
                } else {
                    tracing::info!(target: "do_over", pipeline, event = name, from, to, "circuit {to}");
                }
            }
            Event::Hedge => tracing::debug!(
                target: "do_over", pipeline, event = name, "hedged attempt started"
            ),
            _ => tracing::debug!(target: "do_over", pipeline, event = name),
        }
    }
}
