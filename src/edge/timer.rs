//! The runtime's timers: the `Timer` a request waits on (its own, never another request's),
//! and [`Delay`], the `setTimeout` future behind it (and behind the gateway's upstream timeout).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::platform::Timer;

pub struct WorkersTimer;

impl Timer for WorkersTimer {
    fn sleep(&self, millis: u32) -> LocalBoxFuture<'_, ()> {
        Box::pin(Delay::from(Duration::from_millis(u64::from(millis))))
    }
}

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout`. Its handle is kept as it comes (a number in workerd) and only
    /// ever handed back to `clearTimeout`.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, millis: i32) -> JsValue;

    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

/// What the timer's callback shares with the future.
#[derive(Default)]
struct Shared {
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// Resolves once the duration has passed. The timer starts at the first poll; dropped before
/// it fires (the other side of a `select` won), the future clears its timer, so the callback
/// never runs after the closure it calls is freed.
pub struct Delay {
    millis: i32,
    shared: Rc<Shared>,
    /// The `setTimeout` handle and the callback it calls, once the timer runs.
    timer: Option<(JsValue, Closure<dyn FnMut()>)>,
}

impl From<Duration> for Delay {
    fn from(duration: Duration) -> Self {
        Self {
            millis: i32::try_from(duration.as_millis()).unwrap_or(i32::MAX),
            shared: Rc::default(),
            timer: None,
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.fired.get() {
            return Poll::Ready(());
        }
        self.shared.waker.set(Some(cx.waker().clone()));
        if self.timer.is_none() {
            let shared = Rc::clone(&self.shared);
            // Sets a flag and wakes the task: nothing in it can panic.
            let callback = Closure::<dyn FnMut()>::own_assert_unwind_safe(move || {
                shared.fired.set(true);
                if let Some(waker) = shared.waker.take() {
                    waker.wake();
                }
            });
            let handle = set_timeout(callback.as_ref().unchecked_ref(), self.millis);
            self.timer = Some((handle, callback));
        }
        Poll::Pending
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        if let Some((handle, _)) = &self.timer {
            if !self.shared.fired.get() {
                clear_timeout(handle);
            }
        }
    }
}
