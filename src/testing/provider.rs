//! A Webex-shaped OpenID Provider for the route tests: per-code grants with PKCE, real RS256
//! ID tokens from the test keys, userinfo, refresh with rotation, JWKS, and its faults.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde_json::{json, Value};
use url::Url;

use super::{YieldOnce, ISSUER, NOW};
use crate::oidc::outbound::{OutboundRequest, OutboundResponse, TransportError};
use crate::oidc::test_keys::{jwk_json, jwks_json, sign_rs256, TestKey};
use crate::platform::{HttpClient, Timer};

pub struct Grant {
    pub nonce: String,
    pub challenge: String,
    pub spent: bool,
}

/// Webex-shaped provider: tokens without `kid`, string `email_verified` in userinfo.
pub struct FakeProvider {
    /// What each issued code was granted for (per code, like a real provider): the nonce
    /// and PKCE challenge of its authorization request, and whether it was spent.
    pub grants: RefCell<HashMap<String, Grant>>,
    /// The nonce of the latest authorization request (to look for it in KV dumps).
    pub last_nonce: RefCell<String>,
    /// What `GET /v1/people/me` says the person's organisation is (`None`: answers 403, as
    /// Webex does without `spark:people_read`).
    pub org_id: RefCell<Option<String>>,
    /// Userinfo's `email_verified` (Webex sends the string `"true"`).
    pub userinfo_email_verified: RefCell<String>,
    pub signing_key: Cell<usize>,
    pub claims_override: RefCell<Value>,
    pub userinfo_sub: RefCell<String>,
    pub token_status: Cell<u16>,
    pub calls: RefCell<Vec<String>>,
    pub seen_requests: RefCell<Vec<String>>,
    /// How the refresh grant answers: None = fail with invalid_grant; Some(claims) = succeed,
    /// with an ID token of those claims unless they are null.
    pub refresh_id_token: RefCell<Option<Value>>,
    /// Access tokens userinfo refuses with 401.
    pub revoked: RefCell<Vec<String>>,
    pub refreshes: Cell<usize>,
    /// How many times each coming token request yields before it is answered (in order).
    pub token_yields: RefCell<std::collections::VecDeque<usize>>,
    /// How many times userinfo yields before it answers (a slow provider).
    pub userinfo_yields: Cell<usize>,
    /// Refresh tokens already spent: with `reject_reuse`, presenting one again fails.
    pub spent_refresh_tokens: RefCell<Vec<String>>,
    pub reject_reuse: Cell<bool>,
    /// Refresh answers carry no new refresh token (the old one stays valid).
    pub keep_refresh_token: Cell<bool>,
    /// The JWKS endpoint's status (200: the keys) and how many times it yields first.
    pub jwks_status: Cell<u16>,
    pub jwks_yields: Cell<usize>,
    /// Timer waits requests made (each one poll of something another request does).
    pub pauses: Cell<usize>,
    /// Paths whose requests end in a 3xx, which the HTTP client refuses to follow.
    pub redirected: RefCell<Vec<&'static str>>,
}

impl Default for FakeProvider {
    fn default() -> Self {
        Self {
            grants: RefCell::default(),
            last_nonce: RefCell::default(),
            signing_key: Cell::new(0),
            claims_override: RefCell::new(json!({})),
            userinfo_sub: RefCell::new("user-1".into()),
            token_status: Cell::new(200),
            calls: RefCell::default(),
            seen_requests: RefCell::default(),
            refresh_id_token: RefCell::new(Some(Value::Null)),
            revoked: RefCell::default(),
            refreshes: Cell::new(0),
            token_yields: RefCell::default(),
            userinfo_yields: Cell::new(0),
            spent_refresh_tokens: RefCell::default(),
            reject_reuse: Cell::new(false),
            keep_refresh_token: Cell::new(false),
            jwks_status: Cell::new(200),
            jwks_yields: Cell::new(0),
            pauses: Cell::new(0),
            redirected: RefCell::default(),
            org_id: RefCell::default(),
            userinfo_email_verified: RefCell::new("true".into()),
        }
    }
}

impl FakeProvider {
    pub fn calls_to(&self, path: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|p| p.as_str() == path)
            .count()
    }

    /// The provider's side of the authorize redirect: remembers the request's nonce and PKCE
    /// challenge under a new single-use code, and returns the code.
    pub fn authorize(&self, authorize_url: &str) -> String {
        let url = Url::parse(authorize_url).unwrap();
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(params["code_challenge_method"], "S256");
        let code = format!("code-{}", self.grants.borrow().len() + 1);
        *self.last_nonce.borrow_mut() = params["nonce"].clone();
        self.grants.borrow_mut().insert(
            code.clone(),
            Grant {
                nonce: params["nonce"].clone(),
                challenge: params["code_challenge"].clone(),
                spent: false,
            },
        );
        code
    }

    /// The authorization code grant, checked as a provider does: a known, unspent code and
    /// the verifier of its challenge (RFC 7636 §4.6).
    pub fn exchange_code(&self, body: &str) -> OutboundResponse {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let invalid_grant = || OutboundResponse::answer(400, r#"{"error":"invalid_grant"}"#);
        let mut grants = self.grants.borrow_mut();
        let Some(grant) = form.get("code").and_then(|code| grants.get_mut(code)) else {
            return invalid_grant();
        };
        let verifier = form.get("code_verifier").map(String::as_str).unwrap_or("");
        if grant.spent || crate::oidc::secrets::sha256_b64url(verifier) != grant.challenge {
            grant.spent = true;
            return invalid_grant();
        }
        grant.spent = true;
        let nonce = grant.nonce.clone();
        OutboundResponse::answer(
            200,
            json!({"access_token": "AT-123", "token_type": "Bearer", "expires_in": 600,
                   "refresh_token": "RT-456", "id_token": self.id_token(&nonce)})
            .to_string(),
        )
    }

    pub fn id_token(&self, nonce: &str) -> String {
        let mut claims = json!({
            "iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": NOW + 7200, "iat": NOW,
            "nonce": nonce, "email": "ada@example.com", "email_verified": true,
        });
        for (k, v) in self.claims_override.borrow().as_object().unwrap() {
            claims[k] = v.clone();
        }
        sign_rs256(
            TestKey::get(self.signing_key.get()),
            &json!({"alg": "RS256"}),
            &claims,
        )
    }
}

impl HttpClient for FakeProvider {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        let path = request.url.path().to_owned();
        self.calls.borrow_mut().push(path.clone());
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        self.seen_requests.borrow_mut().push(format!(
            "{} {} {}",
            request.url,
            headers.join("|"),
            request.body.clone().unwrap_or_default()
        ));
        if self.redirected.borrow().contains(&path.as_str()) {
            return Err(TransportError::Redirected);
        }
        let yields = match path.as_str() {
            "/v1/access_token" => self.token_yields.borrow_mut().pop_front().unwrap_or(0),
            "/v1/userinfo" => self.userinfo_yields.get(),
            "/v1/verification" => self.jwks_yields.get(),
            _ => 0,
        };
        for _ in 0..yields {
            YieldOnce(false).await;
        }
        Ok(match path.as_str() {
            "/v1/access_token"
                if request
                    .body
                    .as_deref()
                    .unwrap_or("")
                    .contains("grant_type=refresh_token") =>
            {
                self.refresh_response(request.body.as_deref().unwrap_or(""))
            }
            "/v1/access_token" if self.token_status.get() == 400 => OutboundResponse::answer(
                400,
                r#"{"error":"invalid_grant","error_description":"expired"}"#,
            ),
            "/v1/access_token" if self.token_status.get() != 200 => {
                OutboundResponse::answer(self.token_status.get(), r#"{"message":"boom"}"#)
            }
            "/v1/access_token" => self.exchange_code(request.body.as_deref().unwrap_or("")),
            "/v1/verification" if self.jwks_status.get() != 200 => {
                YieldOnce(false).await;
                OutboundResponse::answer(self.jwks_status.get(), r#"{"message":"down"}"#)
            }
            "/v1/verification" => {
                // Let concurrent requests run while this fetch is in flight.
                YieldOnce(false).await;
                OutboundResponse::answer(
                    200,
                    jwks_json(&[
                        jwk_json(TestKey::get(2), Some("other"), Some("sig"), None),
                        jwk_json(
                            TestKey::get(self.signing_key.get()),
                            Some("current"),
                            Some("sig"),
                            None,
                        ),
                    ]),
                )
            }
            "/v1/people/me" => match self.org_id.borrow().as_deref() {
                Some(org) => OutboundResponse::answer(
                    200,
                    json!({"id": "p1", "orgId": org, "emails": ["ada@example.com"]}).to_string(),
                ),
                None => OutboundResponse::answer(403, r#"{"message":"missing scope"}"#),
            },
            "/v1/userinfo" => {
                let bearer = request
                    .headers
                    .iter()
                    .find(|(k, _)| *k == "Authorization")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let token = bearer.trim_start_matches("Bearer ").to_owned();
                if self.revoked.borrow().contains(&token) {
                    OutboundResponse::answer(401, "{}")
                } else {
                    OutboundResponse::answer(
                        200,
                        json!({"sub": *self.userinfo_sub.borrow(), "name": format!("Ada <b>Lovelace</b> ({})", if token == "AT-123" { "first token" } else { "refreshed token" }),
                               "email": "ada@example.com", "email_verified": *self.userinfo_email_verified.borrow()})
                        .to_string(),
                    )
                }
            }
            _ => return Err(TransportError::Network),
        })
    }
}

/// Each wait is one poll of something another request does.
impl Timer for FakeProvider {
    fn sleep(&self, _millis: u32) -> futures_util::future::LocalBoxFuture<'_, ()> {
        self.pauses.set(self.pauses.get() + 1);
        Box::pin(YieldOnce(false))
    }
}

impl FakeProvider {
    pub fn refresh_response(&self, body: &str) -> OutboundResponse {
        self.refreshes.set(self.refreshes.get() + 1);
        let Some(claims) = self.refresh_id_token.borrow().clone() else {
            return OutboundResponse::answer(400, r#"{"error":"invalid_grant"}"#);
        };
        let n = self.refreshes.get();
        let presented = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "refresh_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let reused = self.spent_refresh_tokens.borrow().contains(&presented);
        self.spent_refresh_tokens
            .borrow_mut()
            .push(presented.clone());
        if reused && self.reject_reuse.get() {
            return OutboundResponse::answer(400, r#"{"error":"invalid_grant"}"#);
        }
        let mut response = json!({"access_token": format!("AT-{n}"), "token_type": "Bearer",
            "expires_in": 600, "refresh_token": format!("RT-{n}"), "presented": presented});
        if self.keep_refresh_token.get() {
            response.as_object_mut().unwrap().remove("refresh_token");
        }
        if !claims.is_null() {
            let mut all = json!({"iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": NOW + 7200, "iat": NOW});
            for (k, v) in claims.as_object().unwrap() {
                all[k] = v.clone();
            }
            response["id_token"] = json!(sign_rs256(
                TestKey::get(self.signing_key.get()),
                &json!({"alg": "RS256"}),
                &all
            ));
        }
        OutboundResponse::answer(200, response.to_string())
    }

    /// The refresh tokens presented to the token endpoint, in order.
    pub fn presented_refresh_tokens(&self) -> Vec<String> {
        self.seen_requests
            .borrow()
            .iter()
            .filter(|r| r.contains("grant_type=refresh_token"))
            .filter_map(|r| {
                r.split("refresh_token=")
                    .nth(1)
                    .map(|t| t.split('&').next().unwrap_or("").to_owned())
            })
            .collect()
    }
}
