//! A hierarchical timing wheel: 1 ms ticks, 6 levels of 64 slots
//! (64^6 ms ≈ 2.2 years of range), O(1) insert, reset and remove.
//!
//! Level `l` slot `s` holds entries whose deadline falls in the `s`-th
//! 64^l-tick span of the current 64^(l+1)-tick span; an entry lives at the
//! lowest level where its deadline and the wheel's `elapsed` time differ
//! (`level_for`). As time advances, a higher-level slot's entries are
//! either fired (due) or re-inserted lower (cascade). Deadlines beyond the
//! range sit in the top level and cascade round until due, so they fire
//! at their true tick, never early and never by overflow.
//!
//! Entries live in a slab; each slot is a doubly linked list threaded
//! through slab keys, so unlinking a cancelled entry is O(1) without
//! unsafe code. This module is pure data: no clock, no locks.

use std::task::Waker;

use slab::Slab;

const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const NUM_LEVELS: usize = 6;
/// Ticks the wheel can represent relative to `elapsed`.
const MAX_RANGE: u64 = 1 << (LEVEL_BITS as u64 * NUM_LEVELS as u64);
const NIL: usize = usize::MAX;

/// One timer.
struct Entry {
    /// Tick at or after which the entry fires.
    deadline: u64,
    state: EntryState,
    waker: Option<Waker>,
}

enum EntryState {
    /// Linked in `levels[level].slots[slot]`.
    Pending { level: u8, slot: u8, prev: usize, next: usize },
    /// Fired (or due on insertion); waits for its owner to see it.
    Fired,
}

struct Level {
    /// Bit `s` set when slot `s` is non-empty.
    occupied: u64,
    heads: [usize; SLOTS],
}

/// The wheel. `elapsed` only moves forward.
pub(super) struct Wheel {
    elapsed: u64,
    levels: [Level; NUM_LEVELS],
    entries: Slab<Entry>,
}

/// Where the next expiration is.
struct Expiration {
    level: usize,
    slot: usize,
    deadline: u64,
}

fn slot_range(level: usize) -> u64 {
    1 << (LEVEL_BITS as u64 * level as u64)
}

fn level_range(level: usize) -> u64 {
    slot_range(level + 1)
}

/// The level an entry due at `when` belongs to, seen from `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let mut masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    if masked >= MAX_RANGE {
        masked = MAX_RANGE - 1;
    }
    let significant = 63 - masked.leading_zeros() as usize;
    significant / LEVEL_BITS as usize
}

impl Wheel {
    /// An empty wheel at tick `now`.
    pub(super) fn new(now: u64) -> Wheel {
        Wheel {
            elapsed: now,
            levels: std::array::from_fn(|_| Level { occupied: 0, heads: [NIL; SLOTS] }),
            entries: Slab::new(),
        }
    }

    /// The tick up to which the wheel has fired everything due.
    pub(super) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of entries (pending or fired-but-not-removed).
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a timer due at `deadline`; returns its key. An entry already
    /// due is created fired (its waker is not called: the caller is
    /// polling it right now and sees `is_fired`).
    pub(super) fn insert(&mut self, deadline: u64, waker: Waker) -> usize {
        let key = self.entries.insert(Entry { deadline, state: EntryState::Fired, waker: None });
        drop(self.schedule(key, deadline, Some(waker)));
        key
    }

    /// Moves a timer to a new deadline (re-arming a fired one), keeping its
    /// waker. If the new deadline is already due the timer is fired and its
    /// waker returned for the caller to wake.
    pub(super) fn reset(&mut self, key: usize, deadline: u64) -> Option<Waker> {
        let waker = self.entries[key].waker.take();
        self.unlink(key);
        self.schedule(key, deadline, waker)
    }

    /// Removes a timer, fired or not.
    pub(super) fn remove(&mut self, key: usize) {
        self.unlink(key);
        self.entries.remove(key);
    }

    /// Whether the timer has fired.
    pub(super) fn is_fired(&self, key: usize) -> bool {
        matches!(self.entries[key].state, EntryState::Fired)
    }

    /// Takes the waker of every timer (runtime shutdown: the wheel will
    /// never advance again, so whoever waits on it must look now). The
    /// entries stay, unfired, until their `Sleep`s drop them.
    pub(super) fn take_wakers(&mut self, wake: &mut Vec<Waker>) {
        wake.extend(self.entries.iter_mut().filter_map(|(_, entry)| entry.waker.take()));
    }

    /// Replaces the waker a pending timer will wake.
    pub(super) fn set_waker(&mut self, key: usize, waker: &Waker) {
        let entry = &mut self.entries[key];
        match &entry.waker {
            Some(current) if current.will_wake(waker) => {}
            _ => entry.waker = Some(waker.clone()),
        }
    }

    /// Arms `key` for `deadline`; if that is already due, marks it fired
    /// and hands the waker back instead.
    fn schedule(&mut self, key: usize, deadline: u64, waker: Option<Waker>) -> Option<Waker> {
        let entry = &mut self.entries[key];
        entry.deadline = deadline;
        if deadline <= self.elapsed {
            entry.state = EntryState::Fired;
            return waker;
        }
        entry.waker = waker;
        self.link(key);
        None
    }

    /// Links a pending entry into the slot its deadline selects.
    fn link(&mut self, key: usize) {
        let deadline = self.entries[key].deadline;
        let level = level_for(self.elapsed, deadline);
        let slot = ((deadline >> (LEVEL_BITS as usize * level)) as usize) & (SLOTS - 1);
        let head = self.levels[level].heads[slot];
        if head != NIL {
            if let EntryState::Pending { prev, .. } = &mut self.entries[head].state {
                *prev = key;
            }
        }
        self.entries[key].state =
            EntryState::Pending { level: level as u8, slot: slot as u8, prev: NIL, next: head };
        let lvl = &mut self.levels[level];
        lvl.heads[slot] = key;
        lvl.occupied |= 1 << slot;
    }

    /// Unlinks an entry from its slot list (no-op if fired).
    fn unlink(&mut self, key: usize) {
        let EntryState::Pending { level, slot, prev, next } = self.entries[key].state else {
            return;
        };
        let (level, slot) = (level as usize, slot as usize);
        if prev == NIL {
            self.levels[level].heads[slot] = next;
        } else if let EntryState::Pending { next: n, .. } = &mut self.entries[prev].state {
            *n = next;
        }
        if next != NIL {
            if let EntryState::Pending { prev: p, .. } = &mut self.entries[next].state {
                *p = prev;
            }
        }
        if self.levels[level].heads[slot] == NIL {
            self.levels[level].occupied &= !(1 << slot);
        }
        self.entries[key].state = EntryState::Fired;
    }

    /// The earliest tick at which something is due, if any.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.next_expiration().map(|e| e.deadline)
    }

    fn next_expiration(&self) -> Option<Expiration> {
        // Lower levels always expire before higher ones (see level_for).
        (0..NUM_LEVELS).find_map(|level| {
            let lvl = &self.levels[level];
            if lvl.occupied == 0 {
                return None;
            }
            let range = slot_range(level);
            let now_slot = ((self.elapsed / range) as usize) & (SLOTS - 1);
            let rotated = lvl.occupied.rotate_right(now_slot as u32);
            let slot = (rotated.trailing_zeros() as usize + now_slot) & (SLOTS - 1);
            let level_start = self.elapsed & !(level_range(level) - 1);
            let mut deadline = level_start + slot as u64 * range;
            if deadline <= self.elapsed {
                // The slot is behind the current position: next cycle.
                deadline += level_range(level);
            }
            Some(Expiration { level, slot, deadline })
        })
    }

    /// Advances to tick `now`, firing every entry due by then. The wakers
    /// of fired entries are pushed to `wake` (the caller wakes them after
    /// releasing its lock). Returns the number fired.
    pub(super) fn advance(&mut self, now: u64, wake: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(exp) = self.next_expiration() {
            if exp.deadline > now {
                break;
            }
            self.elapsed = exp.deadline;
            let lvl = &mut self.levels[exp.level];
            let mut key = std::mem::replace(&mut lvl.heads[exp.slot], NIL);
            lvl.occupied &= !(1 << exp.slot);
            while key != NIL {
                let entry = &mut self.entries[key];
                let EntryState::Pending { next, .. } = entry.state else {
                    unreachable!("a slot list holds only pending entries")
                };
                if entry.deadline <= now {
                    entry.state = EntryState::Fired;
                    wake.extend(entry.waker.take());
                    fired += 1;
                } else {
                    // Cascade to the level that now fits its deadline.
                    self.link(key);
                }
                key = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
        fired
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    /// Fires everything up to `now`, returning the number fired.
    fn advance(wheel: &mut Wheel, now: u64) -> usize {
        wheel.advance(now, &mut Vec::new())
    }

    #[test]
    fn fires_at_the_deadline_not_before() {
        for deadline in [1u64, 5, 63, 64, 65, 100, 4095, 4096, 4097, 300_000, 1 << 30] {
            let mut wheel = Wheel::new(0);
            let key = wheel.insert(deadline, noop());
            assert_eq!(wheel.next_deadline().map(|d| d <= deadline), Some(true));
            assert_eq!(advance(&mut wheel, deadline - 1), 0, "early for {deadline}");
            assert!(!wheel.is_fired(key));
            assert_eq!(advance(&mut wheel, deadline), 1, "late for {deadline}");
            assert!(wheel.is_fired(key));
            wheel.remove(key);
            assert_eq!(wheel.len(), 0);
            assert_eq!(wheel.next_deadline(), None);
        }
    }

    #[test]
    fn many_random_deadlines_fire_in_order_exactly_once() {
        let mut wheel = Wheel::new(1000);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut keys = Vec::new();
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let deadline = 1001 + seed % 200_000;
            keys.push((wheel.insert(deadline, noop()), deadline));
        }
        let mut now = 1000;
        let mut total = 0;
        while now < 202_000 {
            now += 1 + (now % 37);
            total += advance(&mut wheel, now);
            for &(key, deadline) in &keys {
                assert_eq!(wheel.is_fired(key), deadline <= now, "deadline {deadline} at {now}");
            }
            if now > 20_000 {
                // The exhaustive check above is O(n) per step: sample less.
                now += 997;
            }
        }
        assert_eq!(total, keys.len());
    }

    #[test]
    fn remove_and_reset_are_exact() {
        let mut wheel = Wheel::new(0);
        let a = wheel.insert(100, noop());
        let b = wheel.insert(100, noop());
        let c = wheel.insert(100, noop());
        wheel.remove(b);
        assert!(wheel.reset(c, 5000).is_none(), "moved later: still pending");
        assert_eq!(advance(&mut wheel, 100), 1);
        assert!(wheel.is_fired(a));
        assert!(!wheel.is_fired(c));
        assert!(wheel.reset(c, 50).is_some(), "already past: fired, waker handed back");
        assert!(wheel.is_fired(c));
        assert!(wheel.reset(a, 200).is_none(), "re-armed a fired entry");
        assert_eq!(advance(&mut wheel, 199), 0);
        assert_eq!(advance(&mut wheel, 200), 1);
    }

    #[test]
    fn far_deadlines_saturate_and_still_fire_on_time() {
        let mut wheel = Wheel::new(0);
        let far = MAX_RANGE * 3 + 12_345;
        let key = wheel.insert(far, noop());
        let mut now = 0;
        while now < far - 1 {
            now = (now + MAX_RANGE / 7).min(far - 1);
            assert_eq!(advance(&mut wheel, now), 0, "fired early at {now}");
        }
        assert_eq!(advance(&mut wheel, far), 1);
        assert!(wheel.is_fired(key));
    }

    #[test]
    fn the_last_tick_is_never_reached() {
        let mut wheel = Wheel::new(0);
        let key = wheel.insert(u64::MAX, noop());
        for now in [1, MAX_RANGE - 1, MAX_RANGE * 5 + 3] {
            assert_eq!(advance(&mut wheel, now), 0, "fired at {now}");
            assert!(wheel.next_deadline().is_some_and(|d| d > now));
        }
        assert!(!wheel.is_fired(key));
    }

    #[test]
    fn due_on_insert_is_fired_without_waking() {
        let mut wheel = Wheel::new(10);
        let key = wheel.insert(10, noop());
        assert!(wheel.is_fired(key));
        assert_eq!(wheel.next_deadline(), None);
    }
}
