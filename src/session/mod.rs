//! The session, end to end: the `__Host-webex-session` cookie and what it names in KV
//! (`ticket`: read, store, write back, end), and the sealed record with its lifetimes
//! (`record`).

pub mod record;
pub mod ticket;
