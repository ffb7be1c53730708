//! Awaiting the runtime's promises: [`settled`] turns a `Promise` into a future.
//!
//! wasm-bindgen-futures' `JsFuture` makes two closures per await (each a JavaScript function
//! registered with a `FinalizationRegistry`, and freed again), some eight calls across the
//! wasm boundary in all; a login awaits about fifteen promises. Here one long-lived callback
//! serves every await: `then` calls it with the await's slot number and the outcome, which
//! it stores before waking the task. Two calls across the boundary per await.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::await_slots::AwaitSlots;

#[wasm_bindgen(module = "/src/edge/shell.js")]
extern "C" {
    /// `promise.then(v => settled(slot, true, v), e => settled(slot, false, e))`.
    fn settle(promise: &js_sys::Promise, slot: u32, settled: &js_sys::Function);

    /// `target[method](...)` with the first `count` of `a`, `b`, `c`, settled like [`settle`];
    /// a method that throws or does not exist settles as rejected.
    #[wasm_bindgen(js_name = callAndSettle)]
    fn call_and_settle(
        target: &JsValue,
        method: &str,
        count: u32,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
        slot: u32,
        settled: &js_sys::Function,
    );
}

thread_local! {
    /// The awaits in flight in this instance.
    static SLOTS: RefCell<AwaitSlots<Outcome>> = RefCell::default();
    /// The one callback every `then` calls. It lives as long as the instance: a promise can
    /// settle after the await that made it was given up.
    static SETTLED: Closure<dyn FnMut(u32, bool, JsValue)> = Closure::new(on_settled);
}

/// A promise's outcome: `Ok` with its value, `Err` with its rejection reason.
type Outcome = Result<JsValue, JsValue>;

/// Stores the outcome for the slot's future and wakes its task, outside the borrow.
fn on_settled(slot: u32, fulfilled: bool, value: JsValue) {
    let outcome = if fulfilled { Ok(value) } else { Err(value) };
    let waker = SLOTS.with(|slots| slots.borrow_mut().settle(slot, outcome));
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The outcome of a promise: `Ok` with its value, `Err` with its rejection reason.
pub struct Settled {
    slot: u32,
    done: bool,
}

/// Awaits `promise`.
pub fn settled(promise: &js_sys::Promise) -> Settled {
    let slot = SLOTS.with(|slots| slots.borrow_mut().open());
    SETTLED.with(|callback| settle(promise, slot, callback.as_ref().unchecked_ref()));
    Settled { slot, done: false }
}

/// Calls `target[method](args...)` (at most three arguments) and awaits the promise it
/// returns. A missing method, a throw or a value that is not a promise settle as rejected.
pub fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Settled {
    debug_assert!(args.len() <= 3, "call passes at most three arguments");
    let slot = SLOTS.with(|slots| slots.borrow_mut().open());
    let undefined = JsValue::UNDEFINED;
    let arg = |i: usize| args.get(i).unwrap_or(&undefined);
    SETTLED.with(|callback| {
        call_and_settle(
            target,
            method,
            args.len().min(3) as u32,
            arg(0),
            arg(1),
            arg(2),
            slot,
            callback.as_ref().unchecked_ref(),
        )
    });
    Settled { slot, done: false }
}

impl Future for Settled {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let slot = self.slot;
        match SLOTS.with(|slots| slots.borrow_mut().take_or_wait(slot, cx.waker())) {
            Some(outcome) => {
                self.done = true;
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        if !self.done {
            SLOTS.with(|slots| slots.borrow_mut().abandon(self.slot));
        }
    }
}
