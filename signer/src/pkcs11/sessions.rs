//! A bounded pool of token sessions: at most `capacity` are open at once; a caller takes an
//! idle one, or the right to open a new one, or waits (bounded) for one to come back.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::metrics::SignerMetrics;

/// What [`SessionPool::acquire`] hands out.
pub(crate) enum Lease<T> {
    /// An idle session, to give back with [`SessionPool::release`] or
    /// [`SessionPool::discard`].
    Idle(T),
    /// The right to open one more session; the caller must then [`SessionPool::release`]
    /// the session it opened or call [`SessionPool::discard`] if opening failed.
    Open,
}

/// Why [`SessionPool::acquire`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TimedOut;

#[derive(Debug)]
struct State<T> {
    idle: Vec<T>,
    /// Sessions counted against the capacity: idle, leased, or being opened.
    open: usize,
}

/// The pool. `T` is the session type (generic so that the pool is tested without a token).
#[derive(Debug)]
pub(crate) struct SessionPool<T> {
    state: Mutex<State<T>>,
    freed: Condvar,
    capacity: usize,
}

impl<T> SessionPool<T> {
    /// A pool of at most `capacity` sessions (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic elsewhere while holding the lock cannot leave the state inconsistent (every
        // update is a single push, pop or counter change), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle session, or the right to open one, waiting until `deadline` at most.
    /// While waiting the caller is counted in `metrics`' queue depth.
    pub(crate) fn acquire(
        &self,
        deadline: Instant,
        metrics: &SignerMetrics,
    ) -> Result<Lease<T>, TimedOut> {
        let mut state = self.lock();
        let mut queued = false;
        let result = loop {
            if let Some(session) = state.idle.pop() {
                break Ok(Lease::Idle(session));
            }
            if state.open < self.capacity {
                state.open += 1;
                break Ok(Lease::Open);
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(TimedOut);
            }
            if !queued {
                queued = true;
                metrics.add_queue_depth(1);
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        if queued {
            metrics.add_queue_depth(-1);
        }
        result
    }

    /// Gives a healthy session back.
    pub(crate) fn release(&self, session: T) {
        self.lock().idle.push(session);
        self.freed.notify_one();
    }

    /// Forgets a leased session (broken, or never opened): frees its place in the pool.
    pub(crate) fn discard(&self) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.freed.notify_one();
    }

    /// Removes every idle session (to be closed by the caller); leased ones are unaffected.
    pub(crate) fn drain_idle(&self) -> Vec<T> {
        let mut state = self.lock();
        let drained = std::mem::take(&mut state.idle);
        state.open = state.open.saturating_sub(drained.len());
        drop(state);
        self.freed.notify_all();
        drained
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn capacity_wait_and_timeout() {
        let metrics = SignerMetrics::new("test", "k");
        let pool = SessionPool::<u32>::new(2);
        let soon = || Instant::now() + Duration::from_millis(30);
        assert!(matches!(pool.acquire(soon(), &metrics), Ok(Lease::Open)));
        assert!(matches!(pool.acquire(soon(), &metrics), Ok(Lease::Open)));
        // Both places taken: the third caller times out after the deadline, not before.
        let start = Instant::now();
        assert!(matches!(pool.acquire(soon(), &metrics), Err(TimedOut)));
        assert!(start.elapsed() >= Duration::from_millis(25));
        assert_eq!(metrics.snapshot().queue_depth, 0);
        // A released session is handed out again; a discarded place can be reopened.
        pool.release(7);
        assert!(matches!(pool.acquire(soon(), &metrics), Ok(Lease::Idle(7))));
        pool.discard();
        assert!(matches!(pool.acquire(soon(), &metrics), Ok(Lease::Open)));
    }

    #[test]
    fn waiter_is_woken_by_release() {
        let metrics = Arc::new(SignerMetrics::new("test", "k"));
        let pool = Arc::new(SessionPool::<u32>::new(1));
        let far = Instant::now() + Duration::from_secs(10);
        assert!(matches!(pool.acquire(far, &metrics), Ok(Lease::Open)));
        let waiter = {
            let (pool, metrics) = (Arc::clone(&pool), Arc::clone(&metrics));
            std::thread::spawn(move || matches!(pool.acquire(far, &metrics), Ok(Lease::Idle(1))))
        };
        while metrics.snapshot().queue_depth == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        pool.release(1);
        assert!(waiter.join().unwrap());
        assert_eq!(pool.drain_idle(), Vec::<u32>::new());
    }
}
