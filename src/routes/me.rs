//! `GET /me`: the signed-in user as JSON, for single-page apps on the same origin.
//! No CORS headers: other origins cannot read it.

use serde_json::json;

use super::session::{self, Lookup, WriteBack};
use super::Context;
use crate::config::Settings;
use crate::cookies::{self, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::platform::{HttpClient, KeyValueStore};
use crate::sessions::SessionPolicy;

pub async fn show<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    let policy = SessionPolicy::load(ctx.settings)?;
    let reply = match session::lookup(req, ctx, &policy).await {
        Ok(Lookup::Active(mut active)) => {
            if let Ok(WriteBack::Ended) = session::touch_if_due(ctx, &policy, &mut active).await {
                return Ok(unauthenticated().with_cookie(cookies::clear(SESSION_COOKIE)));
            }
            let record = &active.record;
            let body = json!({
                "sub": record.subject,
                "id_token_claims": record.id_token_claims,
                "userinfo": record.userinfo,
                "session": {
                    "created_at": record.created_at,
                    "expires_at": record.expires_at,
                    "idle_expires_at": record.idle_expires_at(&policy),
                },
            });
            Reply::json(200, body.to_string()).with_reason("me")
        }
        Ok(Lookup::SignedOut) => unauthenticated(),
        Ok(Lookup::Ambiguous) => unauthenticated().with_reason("session_cookie_ambiguous"),
        Ok(Lookup::Gone) => unauthenticated().with_cookie(cookies::clear(SESSION_COOKIE)),
        Err(err) => {
            Reply::json(503, json!({"error": "unavailable"}).to_string()).with_reason(err.reason())
        }
    };
    Ok(reply)
}

fn unauthenticated() -> Reply {
    Reply::json(
        401,
        json!({"error": "unauthenticated", "login": "/login"}).to_string(),
    )
    .with_header("WWW-Authenticate", "Cookie realm=\"Login with Webex\"")
    .with_reason("signed_out")
}
