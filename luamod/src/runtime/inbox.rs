//! A worker's message channel, with a count of what was posted so that the
//! worker can tell "nothing new" from one relaxed load between steps
//! instead of polling the channel (a tenth of a yield round trip).
//!
//! The count is only a hint: messages are always taken from the channel,
//! a message is counted before it is sent, and a count the worker does
//! not see yet it sees at a later look (it also blocks on the channel
//! itself when it has nothing to run, so no message is left behind).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SendError, Sender};

/// The sending side: any thread.
pub(crate) struct Outbox<M> {
    tx: Sender<M>,
    posted: Arc<AtomicU64>,
}

// Not derived: that would ask `M: Clone`.
impl<M> Clone for Outbox<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            posted: self.posted.clone(),
        }
    }
}

impl<M> Outbox<M> {
    /// Posts `msg`; fails only once the worker is gone.
    pub(crate) fn send(&self, msg: M) -> Result<(), SendError<M>> {
        // Counted before it is sent: every message in the channel is
        // counted, so a count equal to what the worker took means the
        // channel holds nothing for it (a count ahead of the channel only
        // costs the worker a look that finds nothing yet).
        self.posted.fetch_add(1, Ordering::Relaxed);
        self.tx.send(msg)
    }
}

/// The receiving side: the worker thread.
pub(crate) struct Inbox<M> {
    rx: Receiver<M>,
    posted: Arc<AtomicU64>,
    /// Messages taken so far.
    taken: u64,
}

impl<M> Inbox<M> {
    /// A message if one is waiting; `None` at once, without touching the
    /// channel, when none was posted since the last one taken.
    #[inline]
    pub(crate) fn try_next(&mut self) -> Option<M> {
        if self.posted.load(Ordering::Relaxed) == self.taken {
            return None;
        }
        let msg = self.rx.try_recv().ok()?;
        self.taken += 1;
        Some(msg)
    }

    /// Waits for the next message; `None` once every sender is gone.
    pub(crate) fn next(&mut self) -> Option<M> {
        let msg = self.rx.recv().ok()?;
        self.taken += 1;
        Some(msg)
    }

    /// Waits up to `wait` for the next message: `Ok(None)` once every
    /// sender is gone, `Err(())` when the time passed first.
    pub(crate) fn next_within(&mut self, wait: std::time::Duration) -> Result<Option<M>, ()> {
        match self.rx.recv_timeout(wait) {
            Ok(msg) => {
                self.taken += 1;
                Ok(Some(msg))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(()),
        }
    }
}

/// A new channel.
pub(crate) fn inbox<M>() -> (Outbox<M>, Inbox<M>) {
    let (tx, rx) = mpsc::channel();
    let posted = Arc::new(AtomicU64::new(0));
    (
        Outbox {
            tx,
            posted: posted.clone(),
        },
        Inbox {
            rx,
            posted,
            taken: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::inbox;

    #[test]
    fn a_wait_with_a_time_limit_ends_with_the_message_the_time_or_the_senders() {
        let (tx, mut rx) = inbox();
        let short = std::time::Duration::from_millis(1);
        assert_eq!(rx.next_within(short), Err(()), "nothing posted");
        tx.send(7).unwrap();
        assert_eq!(rx.next_within(short), Ok(Some(7)));
        assert_eq!(rx.try_next(), None, "the message was counted as taken");
        drop(tx);
        assert_eq!(rx.next_within(short), Ok(None), "every sender gone");
    }

    #[test]
    fn nothing_posted_is_none_and_every_posted_message_comes_out_in_order() {
        let (tx, mut rx) = inbox::<u32>();
        assert!(rx.try_next().is_none());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx.try_next(), Some(1));
        // Taken by the blocking side: the count stays in step.
        assert_eq!(rx.next(), Some(2));
        assert!(rx.try_next().is_none());
        tx.send(3).unwrap();
        assert_eq!(rx.try_next(), Some(3));
        assert!(rx.try_next().is_none());
    }

    #[test]
    fn messages_from_other_threads_are_all_seen_once_they_are_sent() {
        let (tx, mut rx) = inbox::<u32>();
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        tx.send(t * 1000 + i).unwrap();
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        // While they send, some are taken between "steps"...
        while seen.len() < 100 {
            if let Some(m) = rx.try_next() {
                seen.push(m);
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        // ...and once every send returned, none is hidden from `try_next`.
        while let Some(m) = rx.try_next() {
            seen.push(m);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..4000).collect::<Vec<_>>());
        drop(tx);
        assert_eq!(rx.next(), None, "every sender gone");
    }
}
