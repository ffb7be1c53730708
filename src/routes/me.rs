//! `GET /me`: the signed-in user as JSON, for single-page apps on the same origin.
//! No CORS headers: other origins cannot read it.

use super::Context;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::json::{object, Value};
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
            let session = object([
                ("created_at", record.created_at.into()),
                ("expires_at", record.expires_at.into()),
                (
                    "idle_expires_at",
                    record.idle_expires_at(sessions.policy).into(),
                ),
            ]);
            let body = object([
                ("sub", record.subject.as_str().into()),
                ("id_token_claims", record.id_token_claims.clone().into()),
                ("userinfo", record.userinfo.clone().into()),
                ("session", session.into()),
            ]);
            Reply::json(200, Value::Object(body).to_json()).with_reason(reason::ME)
        }
        Ok(Lookup::SignedOut) => unauthenticated(base),
        Ok(Lookup::Ambiguous) => {
            unauthenticated(base).with_reason(reason::SESSION_COOKIE_AMBIGUOUS)
        }
        Ok(Lookup::Gone) => unauthenticated(base).with_cookie(clear_cookie()),
        Err(err) => {
            let reason = AppError::from(err).reason();
            Reply::json(503, error_body([("error", "unavailable".into())])).with_reason(reason)
        }
    };
    Ok(reply)
}

fn unauthenticated(base: &str) -> Reply {
    Reply::json(
        401,
        error_body([
            ("error", "unauthenticated".into()),
            ("login", format!("{base}/login").into()),
        ]),
    )
    .with_header("WWW-Authenticate", "Cookie realm=\"Login with Webex\"")
    .with_reason(reason::SIGNED_OUT)
}

fn error_body<const N: usize>(members: [(&str, Value); N]) -> String {
    Value::Object(object(members)).to_json()
}
