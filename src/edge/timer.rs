//! The runtime's timer: the `Timer` a request waits on (its own, never another request's).

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use worker::Delay;

use crate::platform::Timer;

pub struct WorkersTimer;

impl Timer for WorkersTimer {
    fn sleep(&self, millis: u32) -> LocalBoxFuture<'_, ()> {
        Box::pin(Delay::from(Duration::from_millis(u64::from(millis))))
    }
}
