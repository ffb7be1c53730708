//! Settings, read from Worker vars and secrets. Every problem names the setting to fix,
//! because a 500 page that says "misconfigured" helps nobody. This module is what both modes
//! build on (where settings come from, how a problem is named, the shared readers) plus the
//! relying party's own settings; `gateway/settings.rs` adds gateway mode's, and
//! `app/config.rs` loads them once per request. It imports neither.

/// The name of the service binding that can stand in for `UPSTREAM_URL`.
pub const UPSTREAM_BINDING: &str = "UPSTREAM";
use crate::oidc::client::{Client, TokenAuth};
use crate::oidc::http_url::{is_loopback, HttpUrl};
use crate::session::record::SessionPolicy;
use serde_json::Value;

pub const DEFAULT_AUTHORIZE_URL: &str = "https://webexapis.com/v1/authorize";
pub const DEFAULT_TOKEN_URL: &str = "https://webexapis.com/v1/access_token";
pub const DEFAULT_USERINFO_URL: &str = "https://webexapis.com/v1/userinfo";
pub const DEFAULT_JWKS_URL: &str = "https://webexapis.com/v1/verification";
pub const DEFAULT_SCOPES: &str = "openid email profile";
/// Webex's `iss` depends on the user's identity cluster and differs from the discovery
/// document's `issuer`, so an explicit allow-list is the only sound check.
pub const DEFAULT_ISSUERS: &[&str] = &[
    "https://idbroker.webex.com/idb",
    "https://idbroker-b-us.webex.com/idb",
    "https://idbroker-eu.webex.com/idb",
    "https://idbroker-ca.webex.com/idb",
    "https://idbroker-sg.webex.com/idb",
    "https://idbroker-in.webex.com/idb",
    "https://idbroker-ae.webex.com/idb",
    "https://idbroker-au.webex.com/idb",
];

/// Where the settings come from: Worker vars/secrets in production, a map in tests.
/// The text a var stands for when wrangler hands it over as JSON (a TOML number, boolean,
/// array or table): a number as JSON writes it (`3600`; a fraction stays one, and a setting that
/// takes whole seconds refuses it by name), `true`/`false`, an array of strings joined with
/// commas as the list settings are written, anything else as its JSON text.
pub fn setting_text(json: &str) -> String {
    match serde_json::from_str(json) {
        Ok(Value::Number(number)) => number.to_string(),
        Ok(Value::Bool(flag)) => flag.to_string(),
        Ok(Value::Array(items)) if items.iter().all(|item| item.as_str().is_some()) => {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            items.join(",")
        }
        _ => json.to_owned(),
    }
}

pub trait Settings {
    fn get(&self, name: &str) -> Option<String>;

    /// True when `name` is a binding (a service binding, say) rather than a string setting.
    fn has_binding(&self, _name: &str) -> bool {
        false
    }
}

/// `SESSION_TTL` (default 8 h) and `SESSION_IDLE_TIMEOUT` (default 1 h).
pub fn load_session_policy(settings: &dyn Settings) -> Result<SessionPolicy, ConfigError> {
    Ok(SessionPolicy {
        ttl_secs: duration_setting(settings, "SESSION_TTL", 8 * 3600)?,
        idle_timeout_secs: duration_setting(settings, "SESSION_IDLE_TIMEOUT", 3600)?,
    })
}

/// A setting that is missing or unusable: the page and the log name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }
}

/// The scope that lets the Worker read the person's organisation (`GET /v1/people/me`).
pub const PEOPLE_SCOPE: &str = "spark:people_read";

/// The relying party's client description from the `WEBEX_*` settings and `REDIRECT_URI`.
/// `origin` is this Worker's origin (scheme://host[:port]); with `prefix` (`AUTH_PREFIX` in
/// gateway mode, else empty) it makes the default redirect URI.
pub fn load_client(
    settings: &dyn Settings,
    origin: &str,
    prefix: &str,
) -> Result<Client, ConfigError> {
    let callback_path = format!("{prefix}/oauth");
    let redirect_default = format!("{origin}{callback_path}");
    Ok(Client {
        client_id: required(settings, "WEBEX_CLIENT_ID")?,
        client_secret: required(settings, "WEBEX_CLIENT_SECRET")?,
        redirect_uri: redirect_uri(settings, &redirect_default, &callback_path)?,
        authorize_url: endpoint(settings, "WEBEX_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL)?,
        token_url: endpoint(settings, "WEBEX_TOKEN_URL", DEFAULT_TOKEN_URL)?,
        userinfo_url: endpoint(settings, "WEBEX_USERINFO_URL", DEFAULT_USERINFO_URL)?,
        jwks_url: endpoint(settings, "WEBEX_JWKS_URL", DEFAULT_JWKS_URL)?,
        issuers: issuers(settings)?,
        scopes: scopes(settings)?,
        token_auth: token_auth(settings)?,
    })
}

/// The callback is served at `callback_path` (`/oauth`, or `/_auth/oauth` in gateway mode): a
/// redirect URI elsewhere would send every login to a 404 (or to the origin), so it is refused
/// with the setting named instead.
fn redirect_uri(
    settings: &dyn Settings,
    default: &str,
    callback_path: &str,
) -> Result<HttpUrl, ConfigError> {
    let url = endpoint(settings, "REDIRECT_URI", default)?;
    if url.path() != callback_path {
        return Err(ConfigError::new(
            "REDIRECT_URI",
            format!("must end in {callback_path}, where this Worker serves the callback"),
        ));
    }
    Ok(url)
}

pub(crate) fn optional(settings: &dyn Settings, name: &str) -> Option<String> {
    settings
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn required(settings: &dyn Settings, name: &'static str) -> Result<String, ConfigError> {
    optional(settings, name).ok_or_else(|| ConfigError::new(name, "is not set"))
}

/// `https://` anywhere; plain `http://` only for a provider or Worker on this machine.
pub(crate) fn endpoint(
    settings: &dyn Settings,
    name: &'static str,
    default: &str,
) -> Result<HttpUrl, ConfigError> {
    let raw = optional(settings, name).unwrap_or_else(|| default.to_owned());
    let url = HttpUrl::parse(&raw).map_err(|problem| ConfigError::new(name, problem.describe()))?;
    if url.is_https() || is_loopback(url.as_url()) {
        Ok(url)
    } else {
        Err(ConfigError::new(
            name,
            "must use https:// (http:// only for localhost, 127.0.0.1 or [::1])",
        ))
    }
}

/// A duration setting: seconds (`3600`) or a number with `s`, `m`, `h` or `d` (`8h`).
pub fn duration_setting(
    settings: &dyn Settings,
    name: &'static str,
    default_secs: i64,
) -> Result<i64, ConfigError> {
    let Some(raw) = optional(settings, name) else {
        return Ok(default_secs);
    };
    let (digits, unit) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c),
        _ => (raw.as_str(), 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => 0,
    };
    match digits.trim().parse::<i64>() {
        Ok(n) if n > 0 && scale > 0 && n <= 366 * 86_400 / scale => Ok(n * scale),
        _ => Err(ConfigError::new(
            name,
            "must be a positive duration such as 3600, 45m or 8h (at most a year)",
        )),
    }
}

/// `WEBEX_LOGOUT_URL`: where to send the browser after the local logout, if anywhere.
pub(crate) fn logout_url(settings: &dyn Settings) -> Result<Option<HttpUrl>, ConfigError> {
    if optional(settings, "WEBEX_LOGOUT_URL").is_none() {
        return Ok(None);
    }
    endpoint(settings, "WEBEX_LOGOUT_URL", "").map(Some)
}

fn issuers(settings: &dyn Settings) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = optional(settings, "WEBEX_ISSUERS") else {
        return Ok(DEFAULT_ISSUERS.iter().map(|s| s.to_string()).collect());
    };
    let list: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err(ConfigError::new("WEBEX_ISSUERS", "lists no issuer"));
    }
    Ok(list)
}

fn scopes(settings: &dyn Settings) -> Result<String, ConfigError> {
    let raw = optional(settings, "WEBEX_SCOPES").unwrap_or_else(|| DEFAULT_SCOPES.to_owned());
    let scopes: Vec<&str> = raw.split_whitespace().collect();
    if !scopes.contains(&"openid") {
        return Err(ConfigError::new("WEBEX_SCOPES", "must include openid"));
    }
    Ok(scopes.join(" "))
}

fn token_auth(settings: &dyn Settings) -> Result<TokenAuth, ConfigError> {
    match optional(settings, "WEBEX_TOKEN_AUTH").as_deref() {
        None | Some("client_secret_basic") => Ok(TokenAuth::ClientSecretBasic),
        Some("client_secret_post") => Ok(TokenAuth::ClientSecretPost),
        Some(_) => Err(ConfigError::new(
            "WEBEX_TOKEN_AUTH",
            "must be client_secret_basic or client_secret_post",
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub struct MapSettings(pub HashMap<&'static str, String>);

    impl Settings for MapSettings {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    #[test]
    fn vars_given_as_json_read_as_the_text_they_stand_for() {
        assert_eq!(setting_text("3600"), "3600");
        assert_eq!(
            setting_text("1.5"),
            "1.5",
            "a fraction stays one, to be refused"
        );
        assert_eq!(setting_text("true"), "true");
        assert_eq!(
            setting_text(r#"["a@example.com","b@example.com"]"#),
            "a@example.com,b@example.com"
        );
        assert_eq!(setting_text(r#"["a",5]"#), r#"["a",5]"#);
        let jwk = r#"{"kty":"EC","crv":"P-256"}"#;
        assert_eq!(setting_text(jwk), jwk);
        // As the session settings see them: whole seconds read, a fraction refused by name.
        let with = |name: &'static str, value: &str| {
            let mut settings = minimal();
            settings.0.insert(name, setting_text(value));
            let ttl = load_session_policy(&settings).map(|p| p.ttl_secs);
            ttl.map_err(|e| e.setting)
        };
        assert_eq!(with("SESSION_TTL", "7200"), Ok(7200));
        assert_eq!(with("SESSION_TTL", "7200.5"), Err("SESSION_TTL"));
    }

    pub fn minimal() -> MapSettings {
        MapSettings(HashMap::from([
            ("WEBEX_CLIENT_ID", "client-1".to_owned()),
            ("WEBEX_CLIENT_SECRET", "s3cret".to_owned()),
        ]))
    }

    #[test]
    fn defaults_point_at_webex() {
        let config = load_client(&minimal(), "https://login.example.com", "").unwrap();
        assert_eq!(
            config.redirect_uri.as_str(),
            "https://login.example.com/oauth"
        );
        assert_eq!(config.token_url.as_str(), DEFAULT_TOKEN_URL);
        assert_eq!(config.issuers.len(), DEFAULT_ISSUERS.len());
        assert_eq!(config.scopes, "openid email profile");
        assert_eq!(config.token_auth, TokenAuth::ClientSecretBasic);
    }

    #[test]
    fn missing_client_id_names_the_setting() {
        let mut s = minimal();
        s.0.remove("WEBEX_CLIENT_ID");
        assert_eq!(
            load_client(&s, "https://x.example", "")
                .unwrap_err()
                .setting,
            "WEBEX_CLIENT_ID"
        );
    }

    #[test]
    fn blank_secret_counts_as_missing() {
        let mut s = minimal();
        s.0.insert("WEBEX_CLIENT_SECRET", "  ".into());
        assert_eq!(
            load_client(&s, "https://x.example", "")
                .unwrap_err()
                .setting,
            "WEBEX_CLIENT_SECRET"
        );
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let mut s = minimal();
        s.0.insert(
            "WEBEX_TOKEN_URL",
            "http://127.0.0.1:9400/v1/access_token".into(),
        );
        assert!(load_client(&s, "https://x.example", "").is_ok());
        s.0.insert("WEBEX_TOKEN_URL", "http://evil.example/token".into());
        assert_eq!(
            load_client(&s, "https://x.example", "")
                .unwrap_err()
                .setting,
            "WEBEX_TOKEN_URL"
        );
        assert!(load_client(&minimal(), "http://example.com", "").is_err());
        assert!(load_client(&minimal(), "http://localhost:8787", "").is_ok());
        s.0.insert(
            "WEBEX_TOKEN_URL",
            "http://[::1]:9400/v1/access_token".into(),
        );
        assert!(load_client(&s, "http://[::1]:8787", "").is_ok());
        s.0.insert(
            "WEBEX_TOKEN_URL",
            "http://[::2]:9400/v1/access_token".into(),
        );
        assert!(load_client(&s, "https://x.example", "").is_err());
        assert!(load_client(&minimal(), "http://[::2]:8787", "").is_err());
    }

    #[test]
    fn scopes_must_include_openid() {
        let mut s = minimal();
        s.0.insert("WEBEX_SCOPES", "email profile".into());
        assert_eq!(
            load_client(&s, "https://x.example", "")
                .unwrap_err()
                .setting,
            "WEBEX_SCOPES"
        );
    }

    #[test]
    fn issuer_list_is_split_and_trimmed() {
        let mut s = minimal();
        s.0.insert(
            "WEBEX_ISSUERS",
            " https://a.example/idb , https://b.example/idb,".into(),
        );
        let config = load_client(&s, "https://x.example", "").unwrap();
        assert_eq!(
            config.issuers,
            vec!["https://a.example/idb", "https://b.example/idb"]
        );
    }

    #[test]
    fn token_auth_is_validated() {
        let mut s = minimal();
        s.0.insert("WEBEX_TOKEN_AUTH", "client_secret_post".into());
        assert_eq!(
            load_client(&s, "https://x.example", "").unwrap().token_auth,
            TokenAuth::ClientSecretPost
        );
        s.0.insert("WEBEX_TOKEN_AUTH", "private_key_jwt".into());
        assert!(load_client(&s, "https://x.example", "").is_err());
    }

    #[test]
    fn durations_accept_units_and_refuse_nonsense() {
        let mut s = minimal();
        assert_eq!(duration_setting(&s, "SESSION_TTL", 28_800), Ok(28_800));
        for (raw, secs) in [
            ("90", 90),
            ("45s", 45),
            ("30m", 1800),
            ("8h", 28_800),
            ("2d", 172_800),
        ] {
            s.0.insert("SESSION_TTL", raw.into());
            assert_eq!(duration_setting(&s, "SESSION_TTL", 1), Ok(secs), "{raw}");
        }
        for raw in ["0", "-5", "h", "5x", "1e9", "99999999d", "é"] {
            s.0.insert("SESSION_TTL", raw.into());
            assert_eq!(
                duration_setting(&s, "SESSION_TTL", 1).unwrap_err().setting,
                "SESSION_TTL",
                "{raw}"
            );
        }
    }

    #[test]
    fn logout_url_is_optional_and_validated() {
        let mut s = minimal();
        assert_eq!(logout_url(&s), Ok(None));
        s.0.insert(
            "WEBEX_LOGOUT_URL",
            "https://idbroker.webex.com/idb/oauth2/v1/logout".into(),
        );
        assert!(logout_url(&s).unwrap().is_some());
        s.0.insert("WEBEX_LOGOUT_URL", "javascript:alert(1)".into());
        assert_eq!(logout_url(&s).unwrap_err().setting, "WEBEX_LOGOUT_URL");
    }

    #[test]
    fn debug_redacts_the_secret() {
        let config = load_client(&minimal(), "https://x.example", "").unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
