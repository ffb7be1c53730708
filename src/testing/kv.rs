//! Workers KV as unkind as the real one (see [`MemoryKv`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::YieldOnce;
use crate::platform::{KeyValueStore, StoreError};

/// Workers KV as unkind as the real one: entries expire with their TTL on the test clock,
/// TTLs under 60 s are refused, reads, puts and deletes fail on demand, and a stale mode
/// serves what another location would still see (the value before the last write) for a
/// while after each write.
pub struct MemoryKv {
    pub entries: RefCell<HashMap<String, Stored>>,
    pub clock: Rc<Cell<i64>>,
    /// After a write, reads keep seeing the previous value for this many seconds (0: none).
    pub stale_secs: Cell<i64>,
    /// The previous value of each key and until when stale reads still see it.
    pub stale: RefCell<HashMap<String, (Option<String>, i64)>>,
    pub fail: Cell<bool>,
    pub fail_puts: Cell<bool>,
    pub fail_deletes: Cell<bool>,
    pub reads: Cell<usize>,
    pub writes: Cell<usize>,
    /// Every successful put: the key's prefix (`login:`, `session:`) and its TTL.
    pub ttls: RefCell<Vec<(String, u64)>>,
    /// Lets other requests run while a read travels to the store, as a real KV round trip
    /// does: the value is the one the store holds when the read arrives.
    pub yield_before_get: Cell<bool>,
}

pub struct Stored {
    pub value: String,
    pub expires_at: i64,
}

impl MemoryKv {
    pub fn new(clock: Rc<Cell<i64>>) -> Self {
        Self {
            entries: RefCell::default(),
            clock,
            stale_secs: Cell::new(0),
            stale: RefCell::default(),
            fail: Cell::new(false),
            fail_puts: Cell::new(false),
            fail_deletes: Cell::new(false),
            reads: Cell::new(0),
            writes: Cell::new(0),
            ttls: RefCell::default(),
            yield_before_get: Cell::new(false),
        }
    }

    /// Live (unexpired) entries under `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.live().keys().filter(|k| k.starts_with(prefix)).count()
    }

    pub fn live(&self) -> HashMap<String, String> {
        let now = self.clock.get();
        self.entries
            .borrow()
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }

    pub fn current(&self, key: &str) -> Option<String> {
        self.live().get(key).cloned()
    }

    /// Before a write: what stale readers keep seeing for a while.
    pub fn remember_previous(&self, key: &str) {
        if self.stale_secs.get() > 0 {
            let until = self.clock.get() + self.stale_secs.get();
            let previous = self.current(key);
            self.stale
                .borrow_mut()
                .insert(key.to_owned(), (previous, until));
        }
    }

    /// The TTLs of the puts under `prefix`, in order.
    pub fn ttls_of(&self, prefix: &str) -> Vec<u64> {
        self.ttls
            .borrow()
            .iter()
            .filter(|(p, _)| p == prefix)
            .map(|(_, ttl)| *ttl)
            .collect()
    }
}

impl KeyValueStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.fail.get() {
            return Err(StoreError("down"));
        }
        if self.yield_before_get.get() {
            YieldOnce(false).await;
        }
        if let Some((previous, until)) = self.stale.borrow().get(key) {
            if self.clock.get() < *until {
                return Ok(previous.clone());
            }
        }
        Ok(self.current(key))
    }
    async fn put(&self, key: &str, value: &str, ttl: u64) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        if self.fail.get() || self.fail_puts.get() {
            return Err(StoreError("down"));
        }
        if ttl < crate::platform::KV_MIN_TTL_SECS {
            return Err(StoreError("expirationTtl below 60 seconds"));
        }
        let prefix = key.split_inclusive(':').next().unwrap_or("").to_owned();
        self.ttls.borrow_mut().push((prefix, ttl));
        self.remember_previous(key);
        let expires_at = self.clock.get() + ttl as i64;
        self.entries.borrow_mut().insert(
            key.to_owned(),
            Stored {
                value: value.to_owned(),
                expires_at,
            },
        );
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        if self.fail.get() || self.fail_deletes.get() {
            return Err(StoreError("down"));
        }
        self.remember_previous(key);
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}
