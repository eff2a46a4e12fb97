//! The clock as a module: sleeping, reading the time, timers and tickers.
//! Every wait is a command, so a host can swap the real clock for a fake
//! one (see `luamod::testing::FakeClock`).

pub use self::time::MODULE;

/// Clocks, timers and tickers. Waiting suspends only the calling process.
#[luamod::module(name = "time", class(time))]
#[allow(clippy::module_inception)]
pub mod time {
    use std::cell::RefCell;
    use std::rc::Rc;

    use luamod::prelude::*;
    use luamod::runtime::clock::{Now, Sleep, SleepUntil};

    /// Suspends the calling process for `ms` milliseconds.
    #[luamod::function]
    pub fn sleep(ms: u64) -> Yield<Sleep> {
        Yield(Sleep { ms })
    }

    /// Reads the clock: milliseconds since the Unix epoch (since the start
    /// of a fake clock in tests).
    #[luamod::function]
    pub fn now() -> Yield<Now> {
        Yield(Now)
    }

    /// A one-shot timer that fires `ms` from now.
    #[luamod::function]
    pub fn after(ms: u64) -> Then<Now, Timer> {
        Yield(Now).then(move |now| Timer::new(now + ms as i64, None))
    }

    /// A ticker that fires every `ms`, starting `ms` from now. Ticks do not
    /// drift: each is scheduled from the previous deadline.
    #[luamod::function]
    pub fn ticker(ms: u64) -> Then<Now, Timer> {
        let period = ms.max(1) as i64;
        Yield(Now).then(move |now| Timer::new(now + period, Some(period)))
    }

    #[derive(Debug)]
    struct TimerState {
        deadline: i64,
        period: Option<i64>,
        stopped: bool,
    }

    /// A timer or ticker. It lives in the process that made it and is
    /// collected with it.
    #[luamod::userdata]
    pub struct Timer {
        st: Rc<RefCell<TimerState>>,
    }

    impl Timer {
        fn new(deadline: i64, period: Option<i64>) -> Timer {
            Timer {
                st: Rc::new(RefCell::new(TimerState {
                    deadline,
                    period,
                    stopped: false,
                })),
            }
        }
    }

    #[luamod::methods]
    impl Timer {
        /// Waits until the timer fires (a ticker: until its next tick) and
        /// returns true; returns false at once if the timer was stopped.
        pub fn wait(&mut self) -> Then<SleepUntil, bool> {
            let mut st = self.st.borrow_mut();
            let fired = !st.stopped;
            let at = if st.stopped { i64::MIN } else { st.deadline };
            match st.period {
                Some(p) if !st.stopped => st.deadline += p,
                _ => {}
            }
            if st.period.is_none() {
                // A one-shot timer fires once.
                st.stopped = true;
            }
            Yield(SleepUntil { at }).then(move |()| fired)
        }

        /// Stops the timer; returns whether it was still active.
        pub fn stop(&mut self) -> bool {
            !std::mem::replace(&mut self.st.borrow_mut().stopped, true)
        }

        /// Restarts the timer to fire `ms` from now (default: its period,
        /// or 0 for a one-shot timer).
        pub fn reset(&mut self, ms: Option<u64>) -> Then<Now, bool> {
            let st = self.st.clone();
            Yield(Now).then(move |now| {
                let mut st = st.borrow_mut();
                let delay = ms.map(|m| m as i64).or(st.period).unwrap_or(0);
                st.deadline = now + delay;
                st.stopped = false;
                true
            })
        }

        /// Whether the timer can still fire.
        #[lua(get)]
        pub fn active(&self) -> bool {
            !self.st.borrow().stopped
        }

        /// The ticker's period in ms (nil for a one-shot timer).
        #[lua(get)]
        pub fn period(&self) -> Option<i64> {
            self.st.borrow().period
        }
    }
}
