//! `GET /me`: the signed-in user as JSON, for single-page apps on the same origin.
//! No CORS headers: other origins cannot read it.

use crate::app::{signed_in, Context, SignedOut, Touch};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::json::Object;
use crate::platform::Platform;
use crate::reason;

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    let sessions = ctx.sessions()?;
    let base = ctx.config.auth_prefix();
    let reply = match signed_in(&sessions, req, Touch::IfDue).await {
        Ok(active) => {
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
        Err(SignedOut::Unavailable(err)) => {
            let reason = err.reason();
            let body = serde_json::json!({"error": "unavailable"});
            Reply::json(503, body.to_string()).with_reason(reason)
        }
        // A cleared cookie is logged as plain signed out here, as `/me` always has.
        Err(out @ SignedOut::Gone) => out.clearing(unauthenticated(base)),
        Err(out) => out.answer(unauthenticated(base)),
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
