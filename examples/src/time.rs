//! The clock as a module: sleeping, reading the time, timers and tickers.
//! Every wait is a command, so a host can swap the real clock for a fake
//! one (see `luamod::testing::FakeClock`).

pub use self::time::MODULE;

/// Clocks, timers and tickers. Waiting suspends only the calling process.
#[luamod::module(name = "time", class(time))]
#[allow(clippy::module_inception)]
pub mod time {
    use std::cell::RefCell;
    use std::ffi::c_int;
    use std::rc::Rc;

    use luamod::prelude::*;
    use luamod::runtime::clock::{Now, Sleep, SleepUntil};
    use luamod::types::Type;
    use luamod::{ArgError, CallCx, LuaType, TypeRegistry};

    /// The longest duration: 2^53 ms (about 285,000 years), so that a
    /// deadline (now + duration) never overflows.
    pub const MAX_MS: i64 = 1 << 53;

    /// A duration in milliseconds, as an argument: an integer from 0 to
    /// [`MAX_MS`]; anything else is an argument error.
    #[derive(Debug, Clone, Copy)]
    pub struct Millis(pub i64);

    impl<'a> FromArg<'a> for Millis {
        fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
            let ms = i64::from_arg(cx, idx)?;
            if (0..=MAX_MS).contains(&ms) {
                Ok(Millis(ms))
            } else {
                Err(ArgError::msg(
                    idx,
                    "duration out of range (0 to 2^53 milliseconds)",
                ))
            }
        }
    }

    impl LuaType for Millis {
        fn lua_type(_: &mut TypeRegistry) -> Type {
            Type::Integer
        }
    }

    /// Suspends the calling process for `ms` milliseconds.
    #[luamod::function]
    pub fn sleep(ms: Millis) -> Yield<Sleep> {
        Yield(Sleep { ms: ms.0 as u64 })
    }

    /// Reads the clock: milliseconds since the Unix epoch (since the start
    /// of a fake clock in tests).
    #[luamod::function]
    pub fn now() -> Yield<Now> {
        Yield(Now)
    }

    /// A one-shot timer that fires `ms` from now.
    #[luamod::function]
    pub fn after(ms: Millis) -> Then<Now, Timer> {
        Yield(Now).then(move |now| Timer::new(now.saturating_add(ms.0), None))
    }

    /// A ticker that fires every `ms`, starting `ms` from now. Ticks do not
    /// drift: each is scheduled from the previous deadline.
    #[luamod::function]
    pub fn ticker(ms: Millis) -> Then<Now, Timer> {
        let period = ms.0.max(1);
        Yield(Now).then(move |now| Timer::new(now.saturating_add(period), Some(period)))
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
                Some(p) if !st.stopped => st.deadline = st.deadline.saturating_add(p),
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
        pub fn reset(&mut self, ms: Option<Millis>) -> Then<Now, bool> {
            let st = self.st.clone();
            Yield(Now).then(move |now| {
                let mut st = st.borrow_mut();
                let delay = ms.map(|m| m.0).or(st.period).unwrap_or(0);
                st.deadline = now.saturating_add(delay);
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
