//! [`Id`]: a task's identity, unique in the process.

use std::fmt;
use std::num::NonZeroU64;
// Not the loom switch: the counter is a process-wide static (loom's atomics
// cannot be statics) and no protocol decides anything by it; ids only have
// to be distinct, in a model as anywhere.
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of a task: a weft task (`weft::spawn`,
/// `weft::task::spawn_blocking`) or a job on a `weft_blocking::Pool`.
///
/// Every task gets an `Id` when it is spawned; no two tasks of the process
/// share one, whichever runtime or pool they run on, even after one of
/// them has finished. The number says nothing more: ids are not dense,
/// and their order is not the order of the spawns on other threads.
/// `Display` writes the number alone, `Debug` writes `Id(number)`.
///
/// Read it from the handle (`JoinHandle::id`, `AbortHandle::id`), from
/// inside the task (`weft::task::id`), or from a `JoinError`
/// ([`JoinError::id`](crate::JoinError::id)).
///
/// ```
/// use weft_util::Id;
///
/// let (a, b) = (Id::next(), Id::next());
/// assert_ne!(a, b);
/// assert_eq!(format!("{a:?}"), format!("Id({a})"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

/// The next id to hand out. Starts at 1, so an `Id` fits a `NonZeroU64`
/// and `Option<Id>` is one word.
static NEXT: AtomicU64 = AtomicU64::new(1);

impl Id {
    /// A fresh id, never handed out before in this process.
    ///
    /// Internal to weft and weft-blocking (they give every task its id at
    /// spawn); not part of the users' API.
    #[doc(hidden)]
    pub fn next() -> Id {
        // Relaxed: the only promise is uniqueness, and the read-modify-write
        // gives each caller its own value whatever the ordering; no other
        // memory is published through this counter.
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        // 2^64 spawns would take centuries; wrapping to 0 (and reusing ids)
        // must still not go unnoticed.
        Id(NonZeroU64::new(id).expect("task ids exhausted"))
    }
}

impl Id {
    /// The number, for weft's stall monitor to publish in an atomic
    /// (internal; not part of the users' API).
    #[doc(hidden)]
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// The id `as_u64` gave, back (internal); `None` for 0, which no id
    /// is.
    #[doc(hidden)]
    pub fn from_u64(n: u64) -> Option<Id> {
        NonZeroU64::new(n).map(Id)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Id;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_across_threads() {
        let per_thread: Vec<Vec<Id>> = std::thread::scope(|s| {
            let threads: Vec<_> =
                (0..4).map(|_| s.spawn(|| (0..1000).map(|_| Id::next()).collect())).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let all: HashSet<Id> = per_thread.iter().flatten().copied().collect();
        assert_eq!(all.len(), 4000);
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "one thread's ids increase");
        }
    }

    #[test]
    fn option_of_an_id_is_one_word() {
        assert_eq!(std::mem::size_of::<Option<Id>>(), 8);
    }

    #[test]
    fn display_is_the_number_and_debug_names_the_type() {
        let id = Id::next();
        assert_eq!(id.to_string(), id.0.get().to_string());
        assert_eq!(format!("{id:?}"), format!("Id({})", id.0.get()));
    }
}
