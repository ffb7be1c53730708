//! The bookkeeping behind awaiting the runtime's promises (`edge/promise.rs`): one slot per
//! await in flight, filled by the one callback every promise settles through, emptied by the
//! future that waits on it. Plain Rust, so its states are tested natively; the value type is
//! the JavaScript value at the edge.

use std::task::Waker;

/// Where one await stands.
enum Slot<T> {
    /// Free for the next await.
    Free,
    /// Not settled yet; the waker of the task that polled last.
    Waiting(Option<Waker>),
    /// Settled, not yet taken.
    Settled(T),
    /// Its future was dropped first (a `select` went the other way): freed when it settles,
    /// not before, so that the late outcome cannot land in another await's slot.
    Abandoned,
}

/// The awaits in flight, by slot number (a handful: about one per request being served).
pub struct AwaitSlots<T>(Vec<Slot<T>>);

impl<T> Default for AwaitSlots<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> AwaitSlots<T> {
    /// A slot for a new await: the first free one, or a new one.
    pub fn open(&mut self) -> u32 {
        let free = self.0.iter().position(|slot| matches!(slot, Slot::Free));
        let index = free.unwrap_or_else(|| {
            self.0.push(Slot::Free);
            self.0.len() - 1
        });
        self.0[index] = Slot::Waiting(None);
        index as u32
    }

    /// Stores the outcome; returns the waker to wake (outside any borrow of the table). An
    /// outcome for an abandoned slot frees it; one for a slot not waiting is dropped.
    pub fn settle(&mut self, slot: u32, outcome: T) -> Option<Waker> {
        let entry = self.0.get_mut(slot as usize)?;
        match std::mem::replace(entry, Slot::Free) {
            Slot::Waiting(waker) => {
                *entry = Slot::Settled(outcome);
                waker
            }
            Slot::Abandoned | Slot::Free => None,
            // Settled twice is not something a promise does: the first outcome stays.
            settled @ Slot::Settled(_) => {
                *entry = settled;
                None
            }
        }
    }

    /// The outcome, taken (the slot is free again), or `None` after keeping `waker` to be
    /// woken when it comes.
    pub fn take_or_wait(&mut self, slot: u32, waker: &Waker) -> Option<T> {
        let entry = self.0.get_mut(slot as usize)?;
        match std::mem::replace(entry, Slot::Free) {
            Slot::Settled(outcome) => Some(outcome),
            Slot::Waiting(_) => {
                *entry = Slot::Waiting(Some(waker.clone()));
                None
            }
            other => {
                *entry = other;
                None
            }
        }
    }

    /// The future waiting on `slot` is gone before taking its outcome.
    pub fn abandon(&mut self, slot: u32) {
        if let Some(entry) = self.0.get_mut(slot as usize) {
            *entry = match entry {
                // Settled but never taken: nothing else will come for it.
                Slot::Settled(_) | Slot::Free => Slot::Free,
                Slot::Waiting(_) | Slot::Abandoned => Slot::Abandoned,
            };
        }
    }

    /// Slots in use (waiting, settled or abandoned), for tests.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.0
            .iter()
            .filter(|slot| !matches!(slot, Slot::Free))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (Arc::clone(&counter), Waker::from(counter))
    }

    fn woken(counter: &CountingWaker) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn an_outcome_settled_before_the_first_poll_is_taken_at_once() {
        let mut slots = AwaitSlots::default();
        let slot = slots.open();
        assert!(slots.settle(slot, "value").is_none(), "no task polled yet");
        let (_, w) = waker();
        assert_eq!(slots.take_or_wait(slot, &w), Some("value"));
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn a_waiting_task_is_woken_once_with_its_own_outcome() {
        let mut slots = AwaitSlots::default();
        let first = slots.open();
        let second = slots.open();
        let (counter, w) = waker();
        assert_eq!(slots.take_or_wait(first, &w), None);
        assert_eq!(slots.take_or_wait(second, &w), None);
        if let Some(waker) = slots.settle(second, "second") {
            waker.wake();
        }
        assert_eq!(woken(&counter), 1);
        assert_eq!(
            slots.take_or_wait(first, &w),
            None,
            "the first is still waiting"
        );
        assert_eq!(slots.take_or_wait(second, &w), Some("second"));
        if let Some(waker) = slots.settle(first, "first") {
            waker.wake();
        }
        assert_eq!(woken(&counter), 2);
        assert_eq!(slots.take_or_wait(first, &w), Some("first"));
    }

    #[test]
    fn the_last_polls_waker_is_the_one_woken() {
        let mut slots = AwaitSlots::default();
        let slot = slots.open();
        let (old, old_waker) = waker();
        let (new, new_waker) = waker();
        assert_eq!(slots.take_or_wait(slot, &old_waker), None);
        assert_eq!(slots.take_or_wait(slot, &new_waker), None);
        slots.settle(slot, 1).expect("a waker").wake();
        assert_eq!((woken(&old), woken(&new)), (0, 1));
    }

    #[test]
    fn an_abandoned_slot_is_not_reused_until_its_promise_settles() {
        let mut slots = AwaitSlots::default();
        let abandoned = slots.open();
        slots.abandon(abandoned);
        let next = slots.open();
        assert_ne!(
            next, abandoned,
            "a late outcome must not land in another await"
        );
        assert!(slots.settle(abandoned, "late").is_none(), "nobody to wake");
        assert_eq!(slots.in_use(), 1);
        assert_eq!(slots.open(), abandoned, "free again once settled");
    }

    #[test]
    fn an_outcome_never_taken_is_freed_when_its_future_goes() {
        let mut slots = AwaitSlots::default();
        let slot = slots.open();
        slots.settle(slot, String::from("unread"));
        slots.abandon(slot);
        assert_eq!(slots.in_use(), 0);
        assert_eq!(slots.open(), slot);
    }

    #[test]
    fn a_second_settle_or_an_unknown_slot_changes_nothing() {
        let mut slots = AwaitSlots::default();
        let slot = slots.open();
        slots.settle(slot, 1);
        assert!(slots.settle(slot, 2).is_none());
        assert!(slots.settle(99, 3).is_none());
        let (_, w) = waker();
        assert_eq!(slots.take_or_wait(99, &w), None);
        assert_eq!(slots.take_or_wait(slot, &w), Some(1));
    }

    #[test]
    fn slots_are_reused_so_the_table_stays_as_small_as_the_awaits_in_flight() {
        let mut slots = AwaitSlots::default();
        let (_, w) = waker();
        for round in 0..100 {
            let slot = slots.open();
            assert_eq!(slot, 0, "round {round}");
            slots.settle(slot, round);
            assert_eq!(slots.take_or_wait(slot, &w), Some(round));
        }
        assert_eq!(slots.0.len(), 1);
    }
}
