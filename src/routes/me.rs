//! `GET /me`: the signed-in user as JSON, for single-page apps on the same origin.
//! No CORS headers: other origins cannot read it.

use super::Context;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::json::Object;
use crate::platform::Platform;
use crate::reason;
use crate::session::ticket::{clear_cookie, Lookup, WriteBack};

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    let sessions = ctx.sessions()?;
    let base = ctx.config.auth_prefix();
    let reply = match sessions.lookup(&req.cookie_header).await {
        Ok(Lookup::Active(mut active)) => {
            if let Ok(WriteBack::Ended) = sessions.touch_if_due(&mut active).await {
                return Ok(unauthenticated(base).with_cookie(clear_cookie()));
            }
            let record = &active.record;
            let body = Me {
                sub: &record.subject,
                id_token_claims: &record.id_token_claims,
                userinfo: &record.userinfo,
                session: SessionTimes {
                    created_at: record.created_at,
                    expires_at: record.expires_at,
                    idle_expires_at: record.idle_expires_at(sessions.policy),
                },
            };
            Reply::json(200, to_json(&body)).with_reason(reason::ME)
        }
        Ok(Lookup::SignedOut) => unauthenticated(base),
        Ok(Lookup::Ambiguous) => {
            unauthenticated(base).with_reason(reason::SESSION_COOKIE_AMBIGUOUS)
        }
        Ok(Lookup::Gone) => unauthenticated(base).with_cookie(clear_cookie()),
        Err(err) => {
            let reason = AppError::from(err).reason();
            let body = serde_json::json!({"error": "unavailable"});
            Reply::json(503, body.to_string()).with_reason(reason)
        }
    };
    Ok(reply)
}

fn unauthenticated(base: &str) -> Reply {
    Reply::json(
        401,
        serde_json::json!({"error": "unauthenticated", "login": format!("{base}/login")})
            .to_string(),
    )
    .with_header("WWW-Authenticate", "Cookie realm=\"Login with Webex\"")
    .with_reason(reason::SIGNED_OUT)
}

/// The answer for a signed-in user.
#[derive(serde::Serialize)]
struct Me<'a> {
    sub: &'a str,
    id_token_claims: &'a Object,
    userinfo: &'a Object,
    session: SessionTimes,
}

/// When the session began and when it ends, in seconds since the epoch.
#[derive(serde::Serialize)]
struct SessionTimes {
    created_at: i64,
    expires_at: i64,
    idle_expires_at: i64,
}

/// The answer's JSON: plain structs of strings, numbers and JSON values cannot fail to
/// serialise.
fn to_json(body: &Me<'_>) -> String {
    serde_json::to_string(body).unwrap_or_default()
}
