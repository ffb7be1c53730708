//! `GET /me`: the signed-in user as JSON, for single-page apps on the same origin.
//! No CORS headers: other origins cannot read it.

use crate::app::{signed_in, Context, SignedOut, Touch};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::json::{object, Value};
use crate::platform::Platform;
use crate::reason;

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    let sessions = ctx.sessions()?;
    let base = ctx.config.auth_prefix();
    let reply = match signed_in(&sessions, req, Touch::IfDue).await {
        Ok(active) => {
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
        Err(SignedOut::Unavailable(err)) => {
            let reason = err.reason();
            Reply::json(503, error_body([("error", "unavailable".into())])).with_reason(reason)
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
