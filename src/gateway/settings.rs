//! Gateway mode's settings. `UPSTREAM_URL` (or a service binding named `UPSTREAM`) turns it
//! on; every other setting is checked then, and a problem names the setting to fix.

use super::policy::AccessPolicy;
use super::public_paths::PublicPaths;
use crate::config::{endpoint, optional, ConfigError, Settings, UPSTREAM_BINDING};
use crate::oidc::es256::{EcPublicKey, EcSigningKey};
use crate::oidc::http_url::HttpUrl;

/// Where the Worker's own routes live in gateway mode unless `AUTH_PREFIX` says otherwise.
pub const DEFAULT_AUTH_PREFIX: &str = "/_auth";
/// Webex's "who am I" API, which carries the organisation id.
pub const DEFAULT_PEOPLE_URL: &str = "https://webexapis.com/v1/people/me";

/// Where forwarded requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// An origin (`https://origin.example.com`), reached with `fetch`.
    Url(HttpUrl),
    /// Another Worker, reached through the `UPSTREAM` service binding.
    Binding,
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub upstream: UpstreamTarget,
    /// `/_auth` by default: the Worker's own routes live below it.
    pub auth_prefix: String,
    pub policy: AccessPolicy,
    pub public_paths: PublicPaths,
    pub signing_key: EcSigningKey,
    /// Still published in the JWKS during a key rotation.
    pub previous_key: Option<EcPublicKey>,
    pub people_url: HttpUrl,
}

impl GatewayConfig {
    /// `Ok(None)` in standalone mode (neither `UPSTREAM_URL` nor the `UPSTREAM` binding).
    pub fn load(settings: &dyn Settings) -> Result<Option<Self>, ConfigError> {
        let upstream = match optional(settings, "UPSTREAM_URL") {
            Some(_) => UpstreamTarget::Url(upstream_url(settings)?),
            None if settings.has_binding(UPSTREAM_BINDING) => UpstreamTarget::Binding,
            None => return Ok(None),
        };
        let signing_key = signing_key(settings)?;
        Ok(Some(Self {
            upstream,
            auth_prefix: auth_prefix(settings)?,
            policy: policy(settings)?,
            public_paths: PublicPaths::parse(
                &optional(settings, "PUBLIC_PATHS").unwrap_or_default(),
            )
            .map_err(|problem| ConfigError::new("PUBLIC_PATHS", problem))?,
            previous_key: previous_key(settings, &signing_key.public)?,
            signing_key,
            people_url: endpoint(settings, "WEBEX_PEOPLE_URL", DEFAULT_PEOPLE_URL)?,
        }))
    }

    /// The origin the assertion is addressed to (`aud`): the upstream's, or this Worker's own
    /// when the upstream is a service binding.
    pub fn audience<'a>(&'a self, own_origin: &'a str) -> &'a str {
        match &self.upstream {
            UpstreamTarget::Url(url) => url.origin(),
            UpstreamTarget::Binding => own_origin,
        }
    }
}

fn upstream_url(settings: &dyn Settings) -> Result<HttpUrl, ConfigError> {
    let url = endpoint(settings, "UPSTREAM_URL", "")?;
    if url.as_str() != url.origin() && url.as_str() != format!("{}/", url.origin()) {
        return Err(ConfigError::new(
            "UPSTREAM_URL",
            "must be an origin only (https://host[:port]): the request's own path and query are appended",
        ));
    }
    Ok(url)
}

fn auth_prefix(settings: &dyn Settings) -> Result<String, ConfigError> {
    let raw = optional(settings, "AUTH_PREFIX").unwrap_or_else(|| DEFAULT_AUTH_PREFIX.to_owned());
    let prefix = raw.trim_end_matches('/');
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    };
    match prefix.strip_prefix('/') {
        Some(rest) if rest.split('/').all(plain) => Ok(prefix.to_owned()),
        _ => Err(ConfigError::new(
            "AUTH_PREFIX",
            "must be a path such as /_auth (letters, digits, - _ . ~ between slashes), not /",
        )),
    }
}

fn policy(settings: &dyn Settings) -> Result<AccessPolicy, ConfigError> {
    let any_user = match optional(settings, "ALLOW_ANY_WEBEX_USER").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ConfigError::new(
                "ALLOW_ANY_WEBEX_USER",
                "must be true or false",
            ))
        }
    };
    AccessPolicy::from_settings(
        optional(settings, "ALLOWED_EMAILS").as_deref(),
        optional(settings, "ALLOWED_EMAIL_DOMAINS").as_deref(),
        optional(settings, "ALLOWED_WEBEX_ORGS").as_deref(),
        any_user,
    )
    .ok_or_else(|| {
        ConfigError::new(
            "ALLOWED_EMAILS, ALLOWED_EMAIL_DOMAINS, ALLOWED_WEBEX_ORGS or ALLOW_ANY_WEBEX_USER",
            "must admit someone: anyone can create a Webex account, so gateway mode needs an allow-list (or ALLOW_ANY_WEBEX_USER=true to admit every account)",
        )
    })
}

fn signing_key(settings: &dyn Settings) -> Result<EcSigningKey, ConfigError> {
    let raw = optional(settings, "ASSERTION_SIGNING_KEY").ok_or_else(|| {
        ConfigError::new(
            "ASSERTION_SIGNING_KEY",
            "is not set: gateway mode signs the identity it forwards (a private EC P-256 JWK, as a secret)",
        )
    })?;
    EcSigningKey::from_jwk(&raw)
        .map_err(|problem| ConfigError::new("ASSERTION_SIGNING_KEY", problem))
}

/// The previous signing key's public part, still published while origins may hold
/// assertions it signed. Its `kid` must differ from the current key's: an origin picks the
/// key by `kid`.
fn previous_key(
    settings: &dyn Settings,
    current: &EcPublicKey,
) -> Result<Option<EcPublicKey>, ConfigError> {
    let problem = |text: String| ConfigError::new("ASSERTION_SIGNING_KEY_PREVIOUS", text);
    let Some(raw) = optional(settings, "ASSERTION_SIGNING_KEY_PREVIOUS") else {
        return Ok(None);
    };
    let previous = EcPublicKey::from_public_jwk(&raw).map_err(problem)?;
    if previous.kid == current.kid {
        return Err(problem(
            "has the kid of ASSERTION_SIGNING_KEY: give the key that signed before it".into(),
        ));
    }
    Ok(Some(previous))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::tests::MapSettings;
    use std::collections::HashMap;

    /// A P-256 key made for these tests (by jose's generateKeyPair).
    pub const SIGNING_KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"xJQfo7-3nl7wDJAOiDUUxlY8sy0PQxGPeWaFzMSexDE","y":"yWiFCgOoE4XGpf5zXgr4eJAvpto2lP2M4_uV9JOfAJk","d":"j2H01y9V8sm3Sp3if8QhCc8rHAu4bSkr8Zeb8yU1O58"}"#;

    fn gateway(extra: &[(&'static str, &str)]) -> MapSettings {
        let mut settings = HashMap::from([
            ("UPSTREAM_URL", "https://origin.example.com".to_owned()),
            ("ALLOWED_EMAIL_DOMAINS", "example.com".to_owned()),
            ("ASSERTION_SIGNING_KEY", SIGNING_KEY.to_owned()),
        ]);
        for (k, v) in extra {
            settings.insert(k, (*v).to_owned());
        }
        MapSettings(settings)
    }

    fn problem(extra: &[(&'static str, &str)]) -> &'static str {
        GatewayConfig::load(&gateway(extra)).unwrap_err().setting
    }

    #[test]
    fn standalone_unless_an_upstream_is_named() {
        assert!(GatewayConfig::load(&MapSettings(HashMap::new()))
            .unwrap()
            .is_none());
        let config = GatewayConfig::load(&gateway(&[])).unwrap().unwrap();
        assert_eq!(config.auth_prefix, "/_auth");
        assert_eq!(
            config.audience("https://w.example"),
            "https://origin.example.com"
        );
        assert_eq!(config.people_url.as_str(), DEFAULT_PEOPLE_URL);
    }

    #[test]
    fn each_bad_setting_is_named() {
        assert_eq!(
            problem(&[("UPSTREAM_URL", "http://origin.example.com")]),
            "UPSTREAM_URL"
        );
        assert_eq!(
            problem(&[("UPSTREAM_URL", "https://origin.example.com/app")]),
            "UPSTREAM_URL"
        );
        for prefix in ["/", "auth", "/a/../b", "/a?b", "/a%2f"] {
            assert_eq!(
                problem(&[("AUTH_PREFIX", prefix)]),
                "AUTH_PREFIX",
                "{prefix}"
            );
        }
        assert_eq!(problem(&[("PUBLIC_PATHS", "healthz")]), "PUBLIC_PATHS");
        assert_eq!(
            problem(&[("ASSERTION_SIGNING_KEY", "{}")]),
            "ASSERTION_SIGNING_KEY"
        );
        assert_eq!(
            problem(&[("ALLOW_ANY_WEBEX_USER", "yes")]),
            "ALLOW_ANY_WEBEX_USER"
        );
        let public_part = SIGNING_KEY.replace(
            r#","d":"j2H01y9V8sm3Sp3if8QhCc8rHAu4bSkr8Zeb8yU1O58""#,
            r#","kid":"old""#,
        );
        for bad in [
            "x",
            SIGNING_KEY,
            SIGNING_KEY.replace(r#","d""#, r#","kid":"k","d""#).as_str(),
        ] {
            assert_eq!(
                problem(&[("ASSERTION_SIGNING_KEY_PREVIOUS", bad)]),
                "ASSERTION_SIGNING_KEY_PREVIOUS",
                "{bad}"
            );
        }
        let same_kid = public_part.replace(r#""kid":"old""#, r#""kid":"k""#);
        let current_with_kid = SIGNING_KEY.replace(r#","d""#, r#","kid":"k","d""#);
        let mut both = gateway(&[("ASSERTION_SIGNING_KEY_PREVIOUS", same_kid.as_str())]);
        both.0.insert("ASSERTION_SIGNING_KEY", current_with_kid);
        let err = GatewayConfig::load(&both).unwrap_err();
        assert_eq!(
            err.setting, "ASSERTION_SIGNING_KEY_PREVIOUS",
            "the same kid twice"
        );
        assert!(GatewayConfig::load(&gateway(&[(
            "ASSERTION_SIGNING_KEY_PREVIOUS",
            public_part.as_str()
        )]))
        .is_ok());
        let mut no_list = gateway(&[]);
        no_list.0.remove("ALLOWED_EMAIL_DOMAINS");
        let err = GatewayConfig::load(&no_list).unwrap_err();
        assert!(err.setting.contains("ALLOW_ANY_WEBEX_USER"), "{err:?}");
        no_list.0.insert("ALLOW_ANY_WEBEX_USER", "true".into());
        assert!(GatewayConfig::load(&no_list).is_ok());
    }

    #[test]
    fn a_prefix_keeps_its_segments() {
        let config = GatewayConfig::load(&gateway(&[("AUTH_PREFIX", "/.well-known/auth/")]))
            .unwrap()
            .unwrap();
        assert_eq!(config.auth_prefix, "/.well-known/auth");
        let local = GatewayConfig::load(&gateway(&[("UPSTREAM_URL", "http://127.0.0.1:9600/")]))
            .unwrap()
            .unwrap();
        assert_eq!(local.audience("x"), "http://127.0.0.1:9600");
    }
}
