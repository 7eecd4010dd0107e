//! Adaptive concurrency toward Salesforce (AIMD): how many records (contacts) a container works on at
//! once. It starts wide, at the ceiling (`CTR_SYNC_CONCURRENCY`), halves when Salesforce answers 429
//! or its answers slow down markedly, and grows back by one per round of answers (additive increase,
//! multiplicative decrease, as TCP's congestion window). One [`Aimd`] lives in a function's `Deps`, so
//! what a batch learned carries over to the container's next batches.
//!
//! The Kinesis runner ([`crate::kinesis::Runner::run_adaptive`]) holds a [`Permit`] while a record is
//! worked on and makes the limiter the one its HTTP exchanges report to ([`observe`], called by
//! [`crate::http::send_with_retries_as`] for every answer): the limiter is scoped to the records' own
//! futures, never a global.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// An answer is "slow" when it takes more than this many times the fastest recent one, plus
/// [`LATENCY_SLACK`] (so that a fast local service's jitter is not congestion).
pub const LATENCY_RISE: f64 = 2.0;
pub const LATENCY_SLACK: Duration = Duration::from_millis(20);
/// At most one decrease per this long (or per the baseline latency, when longer): the answers of
/// one round that was too wide cut the limit once, not once each.
pub const MIN_CUT_INTERVAL: Duration = Duration::from_millis(50);

/// What an HTTP exchange says about the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// An answer (any status but 429) after this long.
    Answered(Duration),
    /// 429: too many requests.
    Throttled,
}

#[derive(Debug)]
struct State {
    /// The congestion window: how many permits may be out (at least 1, at most the ceiling).
    limit: f64,
    in_flight: usize,
    /// The fastest recent answer (drifts up slowly so that it follows a service that became slower).
    baseline: Option<Duration>,
    last_cut: Option<Instant>,
    cuts: u64,
}

/// The adaptive limit of one container. Cheap to share by reference.
#[derive(Debug)]
pub struct Aimd {
    ceiling: usize,
    state: Mutex<State>,
    freed: Notify,
}

/// Held while one record is worked on; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    aimd: &'a Aimd,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.aimd.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.aimd.freed.notify_waiters();
    }
}

impl Aimd {
    /// A limiter starting at `ceiling` (at least 1), never above it.
    pub fn new(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            ceiling,
            state: Mutex::new(State { limit: ceiling as f64, in_flight: 0, baseline: None, last_cut: None, cuts: 0 }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn ceiling(&self) -> usize {
        self.ceiling
    }

    /// How many permits may be out now.
    pub fn limit(&self) -> usize {
        (self.lock().limit.floor() as usize).clamp(1, self.ceiling)
    }

    /// How many times the limit was halved (for logs, tests and the bench).
    pub fn cuts(&self) -> u64 {
        self.lock().cuts
    }

    /// Waits until fewer than [`Aimd::limit`] permits are out, then takes one.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.lock();
                let limit = (state.limit.floor() as usize).clamp(1, self.ceiling);
                if state.in_flight < limit {
                    state.in_flight += 1;
                    return Permit { aimd: self };
                }
            }
            freed.await;
        }
    }

    /// Takes what one answer says: 429 or a markedly slower answer halves the limit (once per
    /// round); any other answer grows it by 1/limit (one per round of answers), up to the ceiling.
    pub fn observe(&self, signal: Signal) {
        self.observe_at(signal, Instant::now());
    }

    fn observe_at(&self, signal: Signal, now: Instant) {
        let mut state = self.lock();
        let congested = match signal {
            Signal::Throttled => true,
            Signal::Answered(took) => {
                let slow = state.baseline.is_some_and(|base| {
                    took.as_secs_f64() > base.as_secs_f64() * LATENCY_RISE + LATENCY_SLACK.as_secs_f64()
                });
                // The baseline follows the fastest answers, and rises by 1% per answer otherwise.
                state.baseline = Some(match state.baseline {
                    Some(base) => took.min(base.mul_f64(1.01)),
                    None => took,
                });
                slow
            }
        };
        if congested {
            let interval = state.baseline.map_or(MIN_CUT_INTERVAL, |base| base.max(MIN_CUT_INTERVAL));
            if state.last_cut.is_none_or(|at| now.duration_since(at) >= interval) {
                let before = state.limit;
                state.limit = (state.limit / 2.0).max(1.0);
                state.last_cut = Some(now);
                state.cuts += 1;
                // A slower service is not congestion: after one cut its new latency is the
                // reference (had the slowness been this container's load, the halving brings the
                // answers back down and the baseline follows them).
                if let Signal::Answered(took) = signal {
                    state.baseline = Some(took);
                }
                tracing::debug!(
                    from = before as u64,
                    to = state.limit as u64,
                    throttled = signal == Signal::Throttled,
                    "Salesforce concurrency halved"
                );
            }
        } else {
            state.limit = (state.limit + 1.0 / state.limit).min(self.ceiling as f64);
        }
        drop(state);
        self.freed.notify_waiters();
    }
}

tokio::task_local! {
    /// The limiter the current record's HTTP exchanges report to (set by [`scoped`]).
    static OBSERVER: Arc<Aimd>;
}

/// Runs `work` with `aimd` receiving what its HTTP exchanges observe ([`observe`]).
pub async fn scoped<F: std::future::Future>(aimd: Arc<Aimd>, work: F) -> F::Output {
    OBSERVER.scope(aimd, work).await
}

/// Reports one HTTP answer (its status and how long it took) to the limiter of the current record,
/// if any: 429 is [`Signal::Throttled`], anything else [`Signal::Answered`].
pub fn observe(status: u16, took: Duration) {
    let signal = if status == 429 { Signal::Throttled } else { Signal::Answered(took) };
    let _ = OBSERVER.try_with(|aimd| aimd.observe(signal));
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn starts_wide_halves_on_429_once_per_round_and_grows_back_additively() {
        let aimd = Aimd::new(32);
        assert_eq!(aimd.limit(), 32, "starts at the ceiling");
        let t0 = Instant::now();
        aimd.observe_at(Signal::Answered(50 * MS), t0);
        assert_eq!(aimd.limit(), 32, "never above the ceiling");
        // A round of 429s (the answers of one too-wide wave) halves once.
        for _ in 0..10 {
            aimd.observe_at(Signal::Throttled, t0);
        }
        assert_eq!((aimd.limit(), aimd.cuts()), (16, 1));
        // The next round's 429s halve again, down to 1 at least.
        for round in 1..10u32 {
            aimd.observe_at(Signal::Throttled, t0 + 60 * MS * round);
        }
        assert_eq!(aimd.limit(), 1);
        // Additive increase: one per round of `limit` answers.
        let later = t0 + Duration::from_secs(5);
        aimd.observe_at(Signal::Answered(50 * MS), later);
        assert_eq!(aimd.limit(), 2);
        // 2 + 1/2 + 1/2.5 + 1/2.9: three answers from 2 to 3.
        for _ in 0..3 {
            aimd.observe_at(Signal::Answered(50 * MS), later);
        }
        assert_eq!(aimd.limit(), 3);
        for _ in 0..1000 {
            aimd.observe_at(Signal::Answered(50 * MS), later);
        }
        assert_eq!(aimd.limit(), 32, "back to the ceiling, not beyond");
    }

    #[test]
    fn rising_latency_halves_steady_latency_does_not() {
        let aimd = Aimd::new(20);
        let t0 = Instant::now();
        for _ in 0..50 {
            aimd.observe_at(Signal::Answered(50 * MS), t0);
        }
        assert_eq!((aimd.limit(), aimd.cuts()), (20, 0), "50 ms answers throughout: no congestion");
        // Somewhat slower (within 2x + 20 ms): still fine.
        aimd.observe_at(Signal::Answered(110 * MS), t0);
        assert_eq!(aimd.cuts(), 0);
        aimd.observe_at(Signal::Answered(400 * MS), t0 + 100 * MS);
        assert_eq!((aimd.limit(), aimd.cuts()), (10, 1));
        // The service stays that slow: one cut, then it is the reference and the limit grows back.
        for i in 1..=200u32 {
            aimd.observe_at(Signal::Answered(400 * MS), t0 + 100 * MS + 10 * MS * i);
        }
        assert_eq!((aimd.limit(), aimd.cuts()), (20, 1));
    }

    #[tokio::test]
    async fn permits_never_exceed_the_limit_and_a_cut_takes_effect_for_new_permits() {
        let aimd = Arc::new(Aimd::new(4));
        let held: Vec<Permit<'_>> = vec![aimd.acquire().await, aimd.acquire().await, aimd.acquire().await];
        let fourth = aimd.acquire().await;
        // A fifth waits.
        assert!(tokio::time::timeout(Duration::from_millis(20), aimd.acquire()).await.is_err());
        aimd.observe(Signal::Throttled);
        assert_eq!(aimd.limit(), 2);
        drop(fourth);
        drop(held);
        let a = aimd.acquire().await;
        let b = aimd.acquire().await;
        assert!(tokio::time::timeout(Duration::from_millis(20), aimd.acquire()).await.is_err(), "2 now");
        drop((a, b));
    }

    #[tokio::test]
    async fn http_answers_reach_the_limiter_of_the_scope_only() {
        let aimd = Arc::new(Aimd::new(8));
        observe(429, MS);
        assert_eq!(aimd.cuts(), 0, "outside the scope nothing is told");
        scoped(aimd.clone(), async { observe(429, MS) }).await;
        assert_eq!((aimd.limit(), aimd.cuts()), (4, 1));
    }
}
