//! Where a workflow's Lua process meets the workflow function: the
//! commands it yields and its end, per process, and the handler that posts
//! them ([`Forward`]).
//!
//! The workflow function is polled by Temporal's SDK and must have made
//! every command of a step before it returns `Pending`, or the workflow
//! task would complete without them. So it *waits* here, on a condition
//! variable, while the process runs on a luamod worker up to its next
//! command or its end. That wait never depends on the SDK's threads: the
//! process runs on luamod's worker, and the reply that resumes it goes
//! through a handler pool the workflows' runtime owns.
//!
//! Owns: the per-process queues. Never: runs Lua, or waits on anything
//! but a process of its own runtime.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::command::{BoxTask, CommandId, ErasedHandler, HandlerCx, Pid, boxed_task};
use crate::error::{ErrorKind, LuaError};

/// What a workflow's process did.
pub(crate) enum Event {
    /// It yielded a command; `reply` resumes it with the handler's boxed
    /// result (`Result<C::Output, LuaError>`).
    Command {
        id: CommandId,
        cmd: Box<dyn Any + Send>,
        reply: oneshot::Sender<Box<dyn Any + Send>>,
        /// Boxes a failure as this command's handler result.
        fail: fn(LuaError) -> Box<dyn Any + Send>,
    },
    /// It ended: its result as JSON, or its error.
    Done(Result<serde_json::Value, String>),
}

#[derive(Default)]
struct Slot {
    events: VecDeque<Event>,
    /// The workflow function is gone (evicted): later events are dropped,
    /// and the slot with them once the process has ended.
    closed: bool,
}

/// The queues of every live workflow process of one runtime.
#[derive(Default)]
pub(crate) struct Mailbox {
    slots: Mutex<HashMap<Pid, Slot>>,
    posted: Condvar,
}

impl Mailbox {
    /// Posts `ev` for `pid` (from the process's worker or handler pool).
    pub(crate) fn post(&self, pid: Pid, ev: Event) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        let done = matches!(ev, Event::Done(_));
        let slot = slots.entry(pid).or_default();
        if slot.closed {
            // Dropping a command's reply ends its wait with an error.
            if done {
                slots.remove(&pid);
            }
            return;
        }
        slot.events.push_back(ev);
        drop(slots);
        self.posted.notify_all();
    }

    /// Waits up to `limit` for the next event of `pid` (`None`: none came).
    pub(crate) fn next(&self, pid: Pid, limit: Duration) -> Option<Event> {
        // No deadline past what `Instant` can hold: wait as long as it takes.
        let deadline = Instant::now().checked_add(limit);
        let Ok(mut slots) = self.slots.lock() else {
            return Some(Event::Done(Err("the workflow mailbox was poisoned".into())));
        };
        loop {
            if let Some(ev) = slots.entry(pid).or_default().events.pop_front() {
                if matches!(ev, Event::Done(_)) {
                    slots.remove(&pid);
                }
                return Some(ev);
            }
            let waited = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.posted.wait_timeout(slots, left).map(|(s, _)| s).ok()
                }
                None => self.posted.wait(slots).ok(),
            };
            slots = match waited {
                Some(s) => s,
                None => {
                    return Some(Event::Done(Err("the workflow mailbox was poisoned".into())));
                }
            };
        }
    }

    /// The workflow function of `pid` is gone: pending events are dropped
    /// (their waits end with an error), and so are later ones.
    pub(crate) fn close(&self, pid: Pid) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        let slot = slots.entry(pid).or_default();
        let ended = slot.events.iter().any(|e| matches!(e, Event::Done(_)));
        if ended {
            slots.remove(&pid);
        } else {
            slot.events.clear();
            slot.closed = true;
        }
    }

    /// Live slots (for tests: none is left behind).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// The handler of every command in a workflows' runtime: it hands the
/// command to the process's workflow function and waits for its result.
pub(crate) struct Forward {
    pub id: CommandId,
    pub name: &'static str,
    pub mailbox: Arc<Mailbox>,
    /// Boxes a failure as this command's handler result.
    pub fail: fn(LuaError) -> Box<dyn Any + Send>,
    /// Takes the command out of its slot (an `Option<C>`), boxed.
    pub take: fn(&mut dyn Any) -> Option<Box<dyn Any + Send>>,
}

impl ErasedHandler for Forward {
    fn command(&self) -> (CommandId, &'static str) {
        (self.id, self.name)
    }

    fn start(&self, cmd: &mut dyn Any, cx: HandlerCx) -> BoxTask {
        let Some(cmd) = (self.take)(cmd) else {
            let e = LuaError::new(
                ErrorKind::Internal,
                format!(
                    "command {} reached its forwarder without a command",
                    self.name
                ),
            );
            let out = (self.fail)(e);
            return boxed_task(std::future::ready(out));
        };
        let (reply, rx) = oneshot::channel();
        self.mailbox.post(
            cx.pid(),
            Event::Command {
                id: self.id,
                cmd,
                reply,
                fail: self.fail,
            },
        );
        let fail = self.fail;
        let name = self.name;
        boxed_task(async move {
            match rx.await {
                Ok(result) => result,
                Err(_) => fail(LuaError::new(
                    ErrorKind::Canceled,
                    format!("the workflow stopped while '{name}' was pending"),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_a_closed_process_are_dropped_and_its_slot_goes_with_its_end() {
        let mb = Mailbox::default();
        let (reply, mut rx) = oneshot::channel();
        mb.post(
            Pid(7),
            Event::Command {
                id: CommandId(300),
                cmd: Box::new(()),
                reply,
                fail: |_| Box::new(()),
            },
        );
        mb.close(Pid(7));
        // The pending command's wait ends (its reply is gone).
        assert!(rx.try_recv().is_err());
        assert_eq!(mb.len(), 1);
        mb.post(Pid(7), Event::Done(Ok(serde_json::Value::Null)));
        assert_eq!(mb.len(), 0);
    }

    #[test]
    fn an_event_posted_before_the_wait_is_kept() {
        let mb = Arc::new(Mailbox::default());
        mb.post(Pid(1), Event::Done(Ok(serde_json::json!(3))));
        let waiter = {
            let mb = mb.clone();
            std::thread::spawn(
                move || matches!(mb.next(Pid(2), Duration::from_secs(60)), Some(Event::Done(Ok(v))) if v == 4),
            )
        };
        match mb.next(Pid(1), Duration::from_secs(60)) {
            Some(Event::Done(Ok(v))) => assert_eq!(v, 3),
            _ => panic!("expected the end of process 1"),
        }
        mb.post(Pid(2), Event::Done(Ok(serde_json::json!(4))));
        assert!(waiter.join().unwrap());
        assert_eq!(mb.len(), 0);
    }

    #[test]
    fn a_wait_with_nothing_posted_ends_at_its_limit() {
        let mb = Mailbox::default();
        assert!(mb.next(Pid(3), Duration::from_millis(20)).is_none());
        mb.close(Pid(3));
        mb.post(Pid(3), Event::Done(Ok(serde_json::Value::Null)));
        assert_eq!(mb.len(), 0);
    }
}
