//! The one session lookup behind every signed-in answer (the home page, `/me`, `/refresh`
//! and the gateway): the cookie read, the one KV read, the idle-timeout touch, and every way
//! of not being signed in as one value that each caller turns into its own answer.

use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::platform::KeyValueStore;
use crate::reason;
use crate::session::ticket::{clear_cookie, ActiveSession, Lookup, SessionStore, WriteBack};

/// Whether the lookup also keeps an idle session alive.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// A view of the session: `last_seen_at` is written back once per touch interval (see
    /// `SessionStore::touch_if_due`), so an active session outlives the idle timeout.
    IfDue,
    /// The request writes the session back itself (a refresh): no separate write.
    Skip,
}

/// Why a request is answered as signed out.
#[derive(Debug)]
pub enum SignedOut {
    /// No session cookie at all.
    NoCookie,
    /// The session cookie's name appears more than once (a sibling subdomain planted one):
    /// nothing is cleared, since the genuine one cannot be told apart.
    Ambiguous,
    /// The cookie names no live session (unknown, expired, a wrong key, or ended while this
    /// request touched it): the answer clears it.
    Gone,
    /// The session store failed: whether anyone is signed in cannot be told.
    Unavailable(AppError),
}

impl SignedOut {
    /// `reply` with the session cookie cleared when it names no live session.
    pub fn clearing(&self, reply: Reply) -> Reply {
        match self {
            Self::Gone => reply.with_cookie(clear_cookie()),
            _ => reply,
        }
    }

    /// The log's reason code for answering this as signed out.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoCookie => reason::SIGNED_OUT,
            Self::Ambiguous => reason::SESSION_COOKIE_AMBIGUOUS,
            Self::Gone => reason::SESSION_UNKNOWN,
            Self::Unavailable(err) => err.reason(),
        }
    }

    /// `reply` as the answer to this: cleared if need be ([`Self::clearing`]), with its
    /// reason code.
    pub fn answer(&self, reply: Reply) -> Reply {
        self.clearing(reply).with_reason(self.reason())
    }
}

/// The live session the request's cookie names (one KV read, plus the touch when due and
/// asked for), or why there is none. A touch that fails to write does not sign anyone out:
/// the next request tries again.
pub async fn signed_in<K: KeyValueStore>(
    sessions: &SessionStore<'_, K>,
    req: &Incoming,
    touch: Touch,
) -> Result<Box<ActiveSession>, SignedOut> {
    let mut active = match sessions.lookup(&req.cookie_header).await {
        Ok(Lookup::Active(active)) => active,
        Ok(Lookup::SignedOut) => return Err(SignedOut::NoCookie),
        Ok(Lookup::Ambiguous) => return Err(SignedOut::Ambiguous),
        Ok(Lookup::Gone) => return Err(SignedOut::Gone),
        Err(err) => return Err(SignedOut::Unavailable(err.into())),
    };
    if touch == Touch::IfDue {
        if let Ok(WriteBack::Ended) = sessions.touch_if_due(&mut active).await {
            return Err(SignedOut::Gone);
        }
    }
    Ok(active)
}
