//! [`FakeClock`]: a clock that moves only when told to.

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};

use crate::command::{ErasedHandler, HandlerCx, HandlerSet, handler_fn};
use crate::error::{ErrorKind, LuaError};
use crate::runtime::clock::{Now, Sleep, SleepUntil};

/// A clock that moves only when told to. Serves the runtime's clock
/// commands (`sleep`, `now`, `sleep_until`) in place of the real clock.
#[derive(Clone, Default)]
pub struct FakeClock {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    now: i64,
    sleepers: Vec<(i64, oneshot::Sender<()>)>,
}

impl FakeClock {
    /// A clock reading 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the data
        // (a number and a list) is still consistent.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current reading, in ms.
    pub fn now(&self) -> i64 {
        self.state().now
    }

    /// Moves the clock forward and wakes every sleeper that is due.
    pub fn advance(&self, ms: u64) {
        let mut st = self.state();
        st.now += ms as i64;
        let now = st.now;
        let (due, rest): (Vec<_>, Vec<_>) = st.sleepers.drain(..).partition(|(at, _)| *at <= now);
        st.sleepers = rest;
        drop(st);
        for (_, tx) in due {
            let _ = tx.send(());
        }
        self.inner.changed.notify_waiters();
    }

    /// Moves the clock to the earliest pending deadline (if any) and wakes
    /// the sleepers due then. Returns the new reading.
    pub fn advance_to_next(&self) -> i64 {
        let next = {
            let st = self.state();
            st.sleepers
                .iter()
                .filter(|(_, tx)| !tx.is_closed())
                .map(|(at, _)| *at)
                .min()
        };
        if let Some(at) = next {
            let now = self.now();
            self.advance(at.saturating_sub(now).max(0) as u64);
        }
        self.now()
    }

    /// Processes waiting on this clock (cancelled waits excluded).
    pub fn sleepers(&self) -> usize {
        self.state()
            .sleepers
            .iter()
            .filter(|(_, tx)| !tx.is_closed())
            .count()
    }

    /// Waits until at least `n` processes wait on this clock.
    pub async fn wait_for_sleepers(&self, n: usize) {
        loop {
            let changed = self.inner.changed.notified();
            if self.sleepers() >= n {
                return;
            }
            changed.await;
        }
    }

    /// Waits until no process waits on this clock any more (for instance
    /// after their processes were cancelled).
    pub async fn wait_until_idle(&self) {
        while self.sleepers() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    async fn sleep_until(&self, at: i64, cx: HandlerCx) -> Result<(), LuaError> {
        let rx = {
            let mut st = self.state();
            if at <= st.now {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            st.sleepers.push((at, tx));
            rx
        };
        self.inner.changed.notify_waiters();
        tokio::select! {
            r = rx => r.map_err(|_| LuaError::new(ErrorKind::Canceled, "the fake clock was dropped")),
            _ = cx.cancel().cancelled() => {
                self.inner.changed.notify_waiters();
                Err(LuaError::new(ErrorKind::Canceled, "the process was cancelled while sleeping"))
            }
        }
    }
}

impl HandlerSet for FakeClock {
    fn handlers(&self) -> Vec<Arc<dyn ErasedHandler>> {
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        vec![
            handler_fn(move |s: Sleep, cx: HandlerCx| {
                let clock = a.clone();
                async move {
                    let at = clock.now() + s.ms as i64;
                    clock.sleep_until(at, cx).await
                }
            }),
            handler_fn(move |_: Now, _: HandlerCx| {
                let now = b.now();
                async move { Ok(now) }
            }),
            handler_fn(move |s: SleepUntil, cx: HandlerCx| {
                let clock = c.clone();
                async move { clock.sleep_until(s.at, cx).await }
            }),
        ]
    }
}
