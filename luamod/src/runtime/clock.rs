//! The runtime's clock commands (reserved ids 1–3) and their real-clock
//! handlers. A host replaces them all at once with a fake clock
//! ([`crate::testing::FakeClock`]) to make time-based code run instantly
//! and deterministically.
//!
//! Times are milliseconds: since the Unix epoch for the real clock, since
//! the fake clock's start for the fake one.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::command::{Command, CommandId, ErasedHandler, HandlerCx, handler_fn};
use crate::error::{ErrorKind, LuaError};

/// Suspends the process for `ms` milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Sleep {
    /// How long.
    pub ms: u64,
}

/// Reads the clock.
#[derive(Debug, Clone, Copy)]
pub struct Now;

/// Suspends the process until the clock reads `at` (at once if it does).
#[derive(Debug, Clone, Copy)]
pub struct SleepUntil {
    /// The clock reading to wait for.
    pub at: i64,
}

impl Command for Sleep {
    const ID: CommandId = CommandId(1);
    const NAME: &'static str = "clock.sleep";
    type Output = ();
}

impl Command for Now {
    const ID: CommandId = CommandId(2);
    const NAME: &'static str = "clock.now";
    type Output = i64;
}

impl Command for SleepUntil {
    const ID: CommandId = CommandId(3);
    const NAME: &'static str = "clock.sleep_until";
    type Output = ();
}

/// Whether `id` is one of the runtime's own commands.
pub(crate) fn is_runtime_command(id: CommandId) -> bool {
    (1..=3).contains(&id.0)
}

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn canceled() -> LuaError {
    LuaError::new(
        ErrorKind::Canceled,
        "the process was cancelled while sleeping",
    )
}

async fn sleep_for(d: Duration, cx: &HandlerCx) -> Result<(), LuaError> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cx.cancel().cancelled() => Err(canceled()),
    }
}

/// The real clock's handlers (tokio timers, wall-clock `now`).
pub fn real_clock() -> Vec<Arc<dyn ErasedHandler>> {
    vec![
        handler_fn(|c: Sleep, cx: HandlerCx| async move {
            sleep_for(Duration::from_millis(c.ms), &cx).await
        }),
        handler_fn(|_: Now, _: HandlerCx| async move { Ok(wall_ms()) }),
        handler_fn(|c: SleepUntil, cx: HandlerCx| async move {
            let left = c.at.saturating_sub(wall_ms());
            if left <= 0 {
                return Ok(());
            }
            sleep_for(Duration::from_millis(left as u64), &cx).await
        }),
    ]
}
