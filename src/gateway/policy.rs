//! Who may pass the gateway: the signed-in identity, and the access policy it is checked
//! against on every forwarded request (so a refresh that changes the profile or the
//! organisation takes effect at once).

use crate::oidc::json::{Object, Value};

use crate::session::record::SessionRecord;

/// What the gateway knows of the person behind a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// Only a verified address: the ID token's `email` with `email_verified` true, or
    /// userinfo's with `email_verified` `"true"` (Webex sends a string there).
    pub email: Option<String>,
    pub name: Option<String>,
    /// The Webex organisation (from `GET /v1/people/me`), when the policy needs it.
    pub org_id: Option<String>,
}

impl Identity {
    pub fn of(session: &SessionRecord) -> Self {
        Self {
            subject: session.subject.clone(),
            email: verified_email(&session.id_token_claims)
                .or_else(|| verified_email(&session.userinfo)),
            name: text(&session.userinfo, "name")
                .or_else(|| text(&session.id_token_claims, "name")),
            org_id: session.org_id.clone(),
        }
    }
}

fn text(fields: &Object, name: &str) -> Option<String> {
    fields.get(name)?.as_str().map(str::to_owned)
}

fn verified_email(fields: &Object) -> Option<String> {
    let verified = matches!(fields.get("email_verified"), Some(Value::Bool(true)))
        || fields.get("email_verified").and_then(Value::as_str) == Some("true");
    text(fields, "email").filter(|_| verified)
}

/// A domain rule of `ALLOWED_EMAIL_DOMAINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DomainRule {
    /// `example.com`: exactly that domain.
    Exact(String),
    /// `*.example.com`: any subdomain of it (not the domain itself).
    Subdomains(String),
}

/// The settings `ALLOWED_EMAILS`, `ALLOWED_EMAIL_DOMAINS`, `ALLOWED_WEBEX_ORGS` and
/// `ALLOW_ANY_WEBEX_USER`: a person passes if any rule admits them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    emails: Vec<String>,
    domains: Vec<DomainRule>,
    orgs: Vec<String>,
    any_user: bool,
}

/// Why the policy turned someone away (the page says it; the log says `policy_denied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No rule admits this account.
    NotListed,
    /// The email rules need a verified address, and the account has none.
    NoVerifiedEmail,
}

fn list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl AccessPolicy {
    /// From the raw settings; `None` when nothing is allowed at all (a configuration error:
    /// anyone can create a Webex account, so "signed in" alone is never the silent default).
    pub fn from_settings(
        emails: Option<&str>,
        domains: Option<&str>,
        orgs: Option<&str>,
        any_user: bool,
    ) -> Option<Self> {
        let policy = Self {
            emails: list(emails),
            domains: list(domains)
                .into_iter()
                .map(|d| match d.strip_prefix("*.") {
                    Some(parent) => DomainRule::Subdomains(parent.to_owned()),
                    None => DomainRule::Exact(d),
                })
                .collect(),
            // Organisation ids are compared as Webex sends them (case-insensitively: they are
            // base64 of a URI, but operators paste them in either case).
            orgs: list(orgs),
            any_user,
        };
        let allows_someone = policy.any_user
            || !policy.emails.is_empty()
            || !policy.domains.is_empty()
            || !policy.orgs.is_empty();
        allows_someone.then_some(policy)
    }

    /// True when the policy needs the Webex organisation (and so `spark:people_read`).
    pub fn needs_org(&self) -> bool {
        !self.orgs.is_empty()
    }

    pub fn check(&self, who: &Identity) -> Result<(), Denial> {
        if self.any_user {
            return Ok(());
        }
        let org_ok = who
            .org_id
            .as_deref()
            .is_some_and(|org| self.orgs.iter().any(|o| o.eq_ignore_ascii_case(org)));
        if org_ok {
            return Ok(());
        }
        let Some(email) = who.email.as_deref().map(str::to_ascii_lowercase) else {
            return Err(if self.emails.is_empty() && self.domains.is_empty() {
                Denial::NotListed
            } else {
                Denial::NoVerifiedEmail
            });
        };
        if self.emails.contains(&email) || self.domain_admits(&email) {
            return Ok(());
        }
        Err(Denial::NotListed)
    }

    fn domain_admits(&self, email: &str) -> bool {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return false;
        };
        self.domains.iter().any(|rule| match rule {
            DomainRule::Exact(d) => domain == d,
            DomainRule::Subdomains(parent) => domain
                .strip_suffix(parent.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn who(email: Option<&str>, org: Option<&str>) -> Identity {
        Identity {
            subject: "u1".into(),
            email: email.map(Into::into),
            name: None,
            org_id: org.map(Into::into),
        }
    }

    fn policy(emails: &str, domains: &str, orgs: &str) -> AccessPolicy {
        AccessPolicy::from_settings(Some(emails), Some(domains), Some(orgs), false).unwrap()
    }

    #[test]
    fn nothing_allowed_is_a_configuration_error_unless_any_user_is_explicit() {
        assert_eq!(
            AccessPolicy::from_settings(None, Some(" , "), None, false),
            None
        );
        let anyone = AccessPolicy::from_settings(None, None, None, true).unwrap();
        assert_eq!(anyone.check(&who(None, None)), Ok(()));
    }

    #[test]
    fn emails_are_exact_and_case_insensitive() {
        let p = policy("Ada@Example.com, bob@example.org", "", "");
        assert_eq!(p.check(&who(Some("ada@example.COM"), None)), Ok(()));
        assert_eq!(
            p.check(&who(Some("ada@example.com.evil"), None)),
            Err(Denial::NotListed)
        );
        assert_eq!(
            p.check(&who(Some("xada@example.com"), None)),
            Err(Denial::NotListed)
        );
        assert_eq!(p.check(&who(None, None)), Err(Denial::NoVerifiedEmail));
    }

    #[test]
    fn domains_are_exact_unless_wildcarded() {
        let p = policy("", "example.com", "");
        assert_eq!(p.check(&who(Some("a@example.com"), None)), Ok(()));
        for refused in [
            "a@sub.example.com",
            "a@evil-example.com",
            "a@example.com.evil",
            "a@xexample.com",
        ] {
            assert_eq!(
                p.check(&who(Some(refused), None)),
                Err(Denial::NotListed),
                "{refused}"
            );
        }
        let p = policy("", "*.example.com", "");
        assert_eq!(p.check(&who(Some("a@sub.example.com"), None)), Ok(()));
        assert_eq!(p.check(&who(Some("a@deep.sub.example.com"), None)), Ok(()));
        for refused in [
            "a@example.com",
            "a@evil-example.com",
            "a@.example.com",
            "a@subexample.com",
        ] {
            assert_eq!(
                p.check(&who(Some(refused), None)),
                Err(Denial::NotListed),
                "{refused}"
            );
        }
    }

    #[test]
    fn organisations_admit_their_members_only() {
        let p = policy("", "", "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9hYmM");
        assert!(p.needs_org());
        assert_eq!(
            p.check(&who(
                None,
                Some("Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9hYmM")
            )),
            Ok(())
        );
        assert_eq!(
            p.check(&who(Some("a@example.com"), Some("other"))),
            Err(Denial::NotListed)
        );
        assert_eq!(p.check(&who(None, None)), Err(Denial::NotListed));
    }

    #[test]
    fn only_a_verified_email_counts() {
        let record = |claims: Value, userinfo: Value| {
            let mut record = crate::session::record::tests::record(0);
            record.id_token_claims = claims.as_object().unwrap().clone();
            record.userinfo = userinfo.as_object().unwrap().clone();
            record
        };
        let unverified = record(
            json!({"sub": "u", "email": "a@example.com", "email_verified": false}),
            json!({"email": "a@example.com", "email_verified": "false"}),
        );
        assert_eq!(Identity::of(&unverified).email, None);
        let from_token = record(
            json!({"sub": "u", "email": "a@example.com", "email_verified": true}),
            json!({}),
        );
        assert_eq!(
            Identity::of(&from_token).email.as_deref(),
            Some("a@example.com")
        );
        let from_userinfo = record(
            json!({"sub": "u"}),
            json!({"email": "b@example.com", "email_verified": "true", "name": "Bea"}),
        );
        let identity = Identity::of(&from_userinfo);
        assert_eq!(identity.email.as_deref(), Some("b@example.com"));
        assert_eq!(identity.name.as_deref(), Some("Bea"));
    }
}
