//! What the origin receives: the request as the client sent it, minus anything a client could
//! use to pass for someone else (identity headers, our cookies), plus the identity the gateway
//! vouches for, and minus any attempt of the origin to overwrite our cookies.

use super::policy::Identity;
use crate::cookies::trim_sp_htab;
use crate::http::Incoming;
use crate::pending_login::LOGIN_COOKIE;
use crate::platform::ForwardPlan;
use crate::session::ticket::SESSION_COOKIE;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use url::Url;

/// Identity headers a client must never be able to set: they are removed from every forwarded
/// request (public paths included) and set only by the gateway.
fn is_identity_header(lower_name: &str) -> bool {
    lower_name.starts_with("x-webex-") || lower_name == "webex-assertion"
}

/// Headers through which a client could pass for another address, host or path at the origin
/// (frameworks read client addresses from them, and some servers route by `X-Original-URL`).
const PROXY_HEADERS: [&str; 9] = [
    "forwarded",
    "x-forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "x-original-url",
    "x-rewrite-url",
];

/// Removed from the incoming request: identity headers, `Cookie` (forwarded again without our
/// cookies), the `X-Forwarded-*` a client may have sent (set again by the gateway) and the
/// other proxy headers. Names are compared with `_` read as `-`: CGI-style servers (Rack,
/// WSGI) turn both `X-Webex-Email` and `X_Webex_Email` into `HTTP_X_WEBEX_EMAIL`.
pub fn drop_incoming_header(lower_name: &str) -> bool {
    let name: std::borrow::Cow<str> = if lower_name.contains('_') {
        lower_name.replace('_', "-").into()
    } else {
        lower_name.into()
    };
    is_identity_header(&name)
        || name == "cookie"
        || name.starts_with("x-forwarded-")
        || PROXY_HEADERS.contains(&name.as_ref())
}

fn is_ours(name: &str) -> bool {
    name == SESSION_COOKIE || name == LOGIN_COOKIE
}

/// An upstream `Set-Cookie` for one of our names (it would replace or shadow the session).
pub fn drop_upstream_set_cookie(value: &str) -> bool {
    let name = value.split_once('=').map_or(value, |(name, _)| name);
    is_ours(name.trim())
}

/// The `Cookie` header without our cookies, or `None` when nothing else is left.
pub fn cookies_for_origin(header: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(trim_sp_htab)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_ours(trim_sp_htab(pair.split_once('=').map_or(*pair, |(n, _)| n))))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// A header value that is always valid: visible ASCII and spaces as they are, anything else
/// (UTF-8 beyond ASCII, control characters) and `%` percent-encoded. Names from Webex are
/// Unicode; a header cannot carry that raw (the assertion carries it as it is).
pub fn header_safe(text: &str) -> String {
    /// Besides these, every byte beyond ASCII is encoded.
    const ENCODED: &AsciiSet = &CONTROLS.add(b'%');
    utf8_percent_encode(text, ENCODED).to_string()
}

/// The identity the gateway vouches for, as headers: for the forwarded request and for a
/// forward-auth answer.
pub fn identity_headers(who: &Identity, assertion: String) -> Vec<(&'static str, String)> {
    let mut headers = vec![("X-Webex-User", header_safe(&who.subject))];
    for (name, value) in [
        ("X-Webex-Email", &who.email),
        ("X-Webex-Name", &who.name),
        ("X-Webex-Org-Id", &who.org_id),
    ] {
        if let Some(value) = value {
            headers.push((name, header_safe(value)));
        }
    }
    headers.push(("Webex-Assertion", assertion));
    headers
}

/// The plan for a request that passed the gateway: `identity` and `assertion` are `None` on a
/// public path.
pub fn plan(
    req: &Incoming,
    url: String,
    via_binding: bool,
    identity: Option<(&Identity, String)>,
) -> ForwardPlan {
    let own = Url::parse(&req.origin).ok();
    let mut set_headers: Vec<(&'static str, String)> = vec![
        (
            "X-Forwarded-Host",
            own.as_ref()
                .map_or(req.origin.as_str(), Url::authority)
                .to_owned(),
        ),
        (
            "X-Forwarded-Proto",
            own.as_ref().map_or("https", Url::scheme).to_owned(),
        ),
    ];
    if let Some(ip) = &req.client_ip {
        // Both of the usual spellings, since a client's own are dropped.
        set_headers.push(("X-Forwarded-For", ip.clone()));
        set_headers.push(("X-Real-IP", ip.clone()));
    }
    if let Some(cookies) = cookies_for_origin(&req.cookie_header) {
        set_headers.push(("Cookie", cookies));
    }
    let signed_in = identity.is_some();
    if let Some((who, assertion)) = identity {
        set_headers.extend(identity_headers(who, assertion));
    }
    ForwardPlan {
        url,
        via_binding,
        drop_header: drop_incoming_header,
        set_headers,
        drop_set_cookie: drop_upstream_set_cookie,
        bypass_cache: signed_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_cannot_send_identity_or_forwarding_headers() {
        for name in [
            "x-webex-user",
            "x-webex-email",
            "x-webex-anything",
            "webex-assertion",
            "cookie",
            "x-forwarded-for",
            "x-forwarded-host",
            "x_webex_email",
            "x_webex-org_id",
            "webex_assertion",
            "x_forwarded_for",
            "forwarded",
            "x-forwarded",
            "x-real-ip",
            "true-client-ip",
            "x-original-url",
            "x-rewrite-url",
        ] {
            assert!(drop_incoming_header(name), "{name}");
        }
        for name in [
            "accept",
            "authorization",
            "content-type",
            "x-webexuser",
            "user-agent",
        ] {
            assert!(!drop_incoming_header(name), "{name}");
        }
    }

    #[test]
    fn our_cookies_stay_with_us_in_both_directions() {
        let header =
            format!("a=1; {SESSION_COOKIE}=s.k; b=2;{LOGIN_COOKIE}=x; \u{2000}{SESSION_COOKIE}=t");
        assert_eq!(
            cookies_for_origin(&header).as_deref(),
            Some(format!("a=1; b=2; \u{2000}{SESSION_COOKIE}=t").as_str())
        );
        assert_eq!(cookies_for_origin(&format!("{SESSION_COOKIE}=s.k")), None);
        assert_eq!(cookies_for_origin(""), None);
        assert!(drop_upstream_set_cookie(&format!(
            "{SESSION_COOKIE}=evil; Path=/"
        )));
        assert!(drop_upstream_set_cookie(&format!(" {LOGIN_COOKIE}=evil")));
        assert!(!drop_upstream_set_cookie("app=1; Path=/"));
        assert!(!drop_upstream_set_cookie(&format!("{SESSION_COOKIE}x=1")));
    }

    #[test]
    fn header_values_are_always_valid() {
        assert_eq!(header_safe("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(header_safe("Zoë 100%"), "Zo%C3%AB 100%25");
        assert_eq!(header_safe("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
    }

    #[test]
    fn the_plan_sets_identity_and_forwarding_headers() {
        let req = Incoming {
            origin: "https://app.example.com".into(),
            client_ip: Some("203.0.113.7".into()),
            cookie_header: format!("{SESSION_COOKIE}=s.k; theme=dark"),
            ..Incoming::default()
        };
        let who = Identity {
            subject: "u1".into(),
            email: Some("ada@example.com".into()),
            name: None,
            org_id: Some("org-1".into()),
        };
        let plan = plan(
            &req,
            "https://origin.example.com/x?y".into(),
            false,
            Some((&who, "jwt".into())),
        );
        let header = |name: &str| {
            plan.set_headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("X-Webex-User"), Some("u1"));
        assert_eq!(header("X-Webex-Email"), Some("ada@example.com"));
        assert_eq!(header("X-Webex-Name"), None);
        assert_eq!(header("X-Webex-Org-Id"), Some("org-1"));
        assert_eq!(header("Webex-Assertion"), Some("jwt"));
        assert_eq!(header("Cookie"), Some("theme=dark"));
        assert_eq!(header("X-Forwarded-For"), Some("203.0.113.7"));
        assert_eq!(header("X-Real-IP"), Some("203.0.113.7"));
        assert_eq!(header("X-Forwarded-Host"), Some("app.example.com"));
        assert_eq!(header("X-Forwarded-Proto"), Some("https"));
        assert!(
            plan.bypass_cache,
            "a signed-in answer never goes through the zone's cache"
        );
        let public = super::plan(
            &req,
            "https://origin.example.com/healthz".into(),
            false,
            None,
        );
        assert!(public
            .set_headers
            .iter()
            .all(|(n, _)| !n.starts_with("X-Webex") && *n != "Webex-Assertion"));
        assert!(
            !public.bypass_cache,
            "a public path is cached as the origin says"
        );
    }
}
