//! Gateway mode: "Sign in with Webex" in front of any site on the domain. Every request
//! outside `AUTH_PREFIX` comes here: public paths are forwarded as they are; otherwise the
//! session is looked up (one KV read), the access policy decides, and an admitted request is
//! forwarded with the identity the gateway vouches for (`X-Webex-*` and the signed
//! `Webex-Assertion`). A signed-out page load is sent to sign in and back; a signed-out API
//! call gets a 401 it can act on.

pub mod assertion;
pub mod forward;
pub mod policy;
pub mod public_paths;
pub mod settings;

use serde_json::json;

use self::policy::{Denial, Identity};
use self::settings::{GatewayConfig, UpstreamTarget};
use crate::app::{error_reply, signed_in, Context, SignedOut, Touch};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::outbound::TransportError;
use crate::platform::{Platform, Upstream};
use crate::reason;
use crate::session::record::SessionRecord;

/// A request outside `AUTH_PREFIX`.
pub async fn handle<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    gateway: &GatewayConfig,
) -> Reply {
    if gateway.public_paths.admit(&req.path) {
        return forward(req, ctx, gateway, None).await;
    }
    match admitted(req, ctx, gateway, req.is_navigation()).await {
        Ok(who) => {
            let base = gateway.auth_prefix.as_str();
            let signed = assertion::sign(ctx.crypto, gateway, &who, &req.origin, ctx.now).await;
            match signed {
                Some(assertion) => forward(req, ctx, gateway, Some((&who, assertion))).await,
                None => error_reply(&AppError::AssertionFailed, base),
            }
        }
        Err(refusal) => refusal,
    }
}

/// `AUTH_PREFIX/check`, forward-auth for a proxy in front of the origin (nginx
/// `auth_request`, Traefik `forwardAuth`): 204 with the identity headers, 401 or 403.
pub async fn check<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    gateway: &GatewayConfig,
) -> Reply {
    // Forward-auth subrequests are never navigations: the proxy turns a 401 into a redirect.
    let who = match admitted(req, ctx, gateway, false).await {
        Ok(who) => who,
        Err(refusal) => return refusal,
    };
    let signed = assertion::sign(ctx.crypto, gateway, &who, &req.origin, ctx.now).await;
    let Some(assertion) = signed else {
        return error_reply(&AppError::AssertionFailed, &gateway.auth_prefix);
    };
    let mut reply = Reply::empty(204).with_reason(reason::CHECK_ALLOWED);
    for (name, value) in forward::identity_headers(&who, assertion) {
        reply = reply.with_header(name, &value);
    }
    reply
}

/// `AUTH_PREFIX/jwks.json`: the keys an origin verifies `Webex-Assertion` with.
pub fn jwks(gateway: &GatewayConfig) -> Reply {
    Reply::public_json(assertion::jwks(gateway).to_string(), 300).with_reason(reason::JWKS)
}

/// The signed-in person if the policy admits them; otherwise the answer to give instead
/// (sign in first, or access denied: as a page for a `navigation`, as JSON otherwise).
async fn admitted<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    gateway: &GatewayConfig,
    navigation: bool,
) -> Result<Identity, Reply> {
    let base = gateway.auth_prefix.as_str();
    let sessions = ctx.sessions().map_err(|err| error_reply(&err, base))?;
    let active = match signed_in(&sessions, req, Touch::IfDue).await {
        Ok(active) => active,
        Err(SignedOut::Unavailable(err)) => return Err(error_reply(&err, base)),
        Err(out) => return Err(out.clearing(sign_in_first(req, base, navigation))),
    };
    let who = Identity::of(&active.record);
    match gateway.policy.check(&who) {
        Ok(()) => Ok(who),
        Err(denial) => {
            let reply = denied(navigation, base, &active.record, &who, denial);
            // The page's "Sign out" posts to logout, which may send the browser on to
            // WEBEX_LOGOUT_URL: its form-action must allow that, as the profile page's does.
            Err(match ctx.config.logout_url() {
                Ok(Some(logout)) if navigation => reply.allow_form_target(logout.origin()),
                _ => reply,
            })
        }
    }
}

/// A page load goes to sign in and comes back to the same path and query; anything else
/// gets a 401 with the way to sign in.
fn sign_in_first(req: &Incoming, base: &str, navigation: bool) -> Reply {
    let login = format!("{base}/login");
    if navigation {
        let mut back = req.path.clone();
        if !req.query.is_empty() {
            back.push('?');
            back.push_str(&req.query);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &back)
            .finish();
        return Reply::redirect(&format!("{login}?{query}"))
            .no_store()
            .with_reason(reason::SIGN_IN_REQUIRED);
    }
    Reply::json(
        401,
        json!({"error": "unauthenticated", "login_url": login}).to_string(),
    )
    .with_header("WWW-Authenticate", "Cookie realm=\"Login with Webex\"")
    .with_reason(reason::SIGN_IN_REQUIRED)
}

fn denied(
    navigation: bool,
    base: &str,
    record: &SessionRecord,
    who: &Identity,
    denial: Denial,
) -> Reply {
    if navigation {
        let account = who
            .email
            .clone()
            .or_else(|| {
                record
                    .userinfo
                    .get("email")
                    .and_then(|e| e.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| who.subject.clone());
        return error_reply(&AppError::PolicyDenied { account }, base);
    }
    let why = match denial {
        Denial::NotListed => "not_allowed",
        Denial::NoVerifiedEmail => "no_verified_email",
    };
    Reply::json(
        403,
        json!({"error": "forbidden", "reason": why}).to_string(),
    )
    .with_reason(
        AppError::PolicyDenied {
            account: String::new(),
        }
        .reason(),
    )
}

/// Hands the request to the upstream; a failure is a 502 or 504 page, the session untouched.
async fn forward<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    gateway: &GatewayConfig,
    identity: Option<(&Identity, String)>,
) -> Reply {
    let public = identity.is_none();
    let base = gateway.auth_prefix.as_str();
    let (origin, via_binding) = match &gateway.upstream {
        UpstreamTarget::Url(url) => (Ok(url.as_url().clone()), false),
        UpstreamTarget::Binding => (url::Url::parse(&req.origin), true),
    };
    // This Worker's own origin always parses: the runtime serialised it.
    let Ok(origin) = origin else {
        return error_reply(&AppError::UpstreamUnreachable, base);
    };
    let plan = forward::plan(req, req.target_at(&origin), via_binding, identity);
    match ctx.upstream.forward(plan).await {
        Ok(answer) => Reply::forwarded(answer.status).with_reason(if public {
            reason::FORWARDED_PUBLIC
        } else {
            reason::FORWARDED
        }),
        Err(TransportError::Timeout) => error_reply(&AppError::UpstreamTimeout, base),
        Err(_) => error_reply(&AppError::UpstreamUnreachable, base),
    }
}
