//! Refreshes in flight in this isolate, so that one session is refreshed once at a time.

#[derive(Default)]
pub struct InFlightRefreshes(std::cell::RefCell<Vec<String>>);

/// Held while a refresh runs; the session is released however the request ends.
pub struct RefreshTurn<'a> {
    registry: &'a InFlightRefreshes,
    kv_key: String,
}

impl Drop for RefreshTurn<'_> {
    fn drop(&mut self) {
        self.registry.0.borrow_mut().retain(|k| *k != self.kv_key);
    }
}

impl InFlightRefreshes {
    /// The turn for the session stored under `kv_key`, or `None` while another request of
    /// this isolate holds it.
    pub fn try_enter(&self, kv_key: &str) -> Option<RefreshTurn<'_>> {
        let mut held = self.0.borrow_mut();
        if held.iter().any(|k| k == kv_key) {
            return None;
        }
        held.push(kv_key.to_owned());
        Some(RefreshTurn {
            registry: self,
            kv_key: kv_key.to_owned(),
        })
    }

    pub fn is_held(&self, kv_key: &str) -> bool {
        self.0.borrow().iter().any(|k| k == kv_key)
    }
}
