//! The settings of one request, loaded lazily from the shared pieces in `config.rs` and, in
//! gateway mode, `gateway/settings.rs`. Here rather than in `config.rs` so that the settings
//! modules stay one-way: `gateway/settings.rs` builds on `config.rs`, and this builds on both.

use std::cell::OnceCell;

use crate::config::{
    load_client, load_session_policy, logout_url, ConfigError, Settings, PEOPLE_SCOPE,
};
#[cfg(not(feature = "gateway"))]
use crate::config::{optional, UPSTREAM_BINDING};
use crate::oidc::client::Client;
use crate::oidc::http_url::HttpUrl;
use crate::session::record::SessionPolicy;

#[cfg(feature = "gateway")]
pub use crate::gateway::settings::GatewayConfig;

/// A build without gateway mode (the default: `scripts/build.sh --gateway` adds it) has no
/// gateway settings: this type has no values.
#[cfg(not(feature = "gateway"))]
#[derive(Debug)]
pub enum GatewayConfig {}

/// The settings of one request, each part loaded (and validated) at most once, when a route
/// first needs it: a page view reads the session lifetimes and never parses the provider's
/// endpoints. Every route reads settings through this one value in its context.
pub struct RequestConfig<'a> {
    settings: &'a dyn Settings,
    /// This Worker's origin, the default base of `REDIRECT_URI`.
    origin: &'a str,
    gateway: OnceCell<Result<Option<GatewayConfig>, ConfigError>>,
    client: OnceCell<Result<Client, ConfigError>>,
    session: OnceCell<Result<SessionPolicy, ConfigError>>,
    logout_url: OnceCell<Result<Option<HttpUrl>, ConfigError>>,
}

impl<'a> RequestConfig<'a> {
    pub fn new(settings: &'a dyn Settings, origin: &'a str) -> Self {
        Self {
            settings,
            origin,
            gateway: OnceCell::new(),
            client: OnceCell::new(),
            session: OnceCell::new(),
            logout_url: OnceCell::new(),
        }
    }

    /// Gateway mode's settings, or `None` in standalone mode.
    pub fn gateway(&self) -> Result<Option<&GatewayConfig>, ConfigError> {
        let loaded = self.gateway.get_or_init(|| load_gateway(self.settings));
        loaded.as_ref().map(Option::as_ref).map_err(Clone::clone)
    }

    /// Where the Worker's own routes live: `""` in standalone mode, `AUTH_PREFIX` in gateway
    /// mode (an invalid gateway setting is reported by the dispatcher before any handler runs).
    pub fn auth_prefix(&self) -> &str {
        match self.gateway() {
            #[cfg(feature = "gateway")]
            Ok(Some(gateway)) => &gateway.auth_prefix,
            _ => "",
        }
    }

    /// Where to read the person's organisation (`WEBEX_PEOPLE_URL`), when an access policy
    /// needs it; `None` otherwise.
    #[cfg(feature = "gateway")]
    pub fn people_url(&self) -> Option<&HttpUrl> {
        match self.gateway() {
            Ok(Some(gateway)) if gateway.policy.needs_org() => Some(&gateway.people_url),
            _ => None,
        }
    }

    /// Only gateway mode's access policies ask for the organisation.
    #[cfg(not(feature = "gateway"))]
    pub fn people_url(&self) -> Option<&HttpUrl> {
        None
    }

    /// The relying party's client description (`WEBEX_*`, `REDIRECT_URI`).
    pub fn client(&self) -> Result<&Client, ConfigError> {
        let loaded = self.client.get_or_init(|| {
            self.gateway()?;
            let mut client = load_client(self.settings, self.origin, self.auth_prefix())?;
            // An organisation rule needs Webex's people API, which needs its own scope.
            if self.people_url().is_some() && !client.scopes.split(' ').any(|s| s == PEOPLE_SCOPE) {
                client.scopes = format!("{} {PEOPLE_SCOPE}", client.scopes);
            }
            Ok(client)
        });
        loaded.as_ref().map_err(Clone::clone)
    }

    /// The session lifetimes (`SESSION_TTL`, `SESSION_IDLE_TIMEOUT`).
    pub fn session_policy(&self) -> Result<&SessionPolicy, ConfigError> {
        let loaded = self
            .session
            .get_or_init(|| load_session_policy(self.settings));
        loaded.as_ref().map_err(Clone::clone)
    }

    /// `WEBEX_LOGOUT_URL`: where to send the browser after the local logout, if anywhere.
    pub fn logout_url(&self) -> Result<Option<&HttpUrl>, ConfigError> {
        let loaded = self.logout_url.get_or_init(|| logout_url(self.settings));
        loaded.as_ref().map(Option::as_ref).map_err(Clone::clone)
    }
}

#[cfg(feature = "gateway")]
fn load_gateway(settings: &dyn Settings) -> Result<Option<GatewayConfig>, ConfigError> {
    GatewayConfig::load(settings)
}

/// Without gateway mode in the build, naming an upstream is a configuration error that says
/// how to get it, rather than a site served unprotected.
#[cfg(not(feature = "gateway"))]
fn load_gateway(settings: &dyn Settings) -> Result<Option<GatewayConfig>, ConfigError> {
    if optional(settings, "UPSTREAM_URL").is_some() || settings.has_binding(UPSTREAM_BINDING) {
        return Err(ConfigError::new(
            "UPSTREAM_URL",
            "turns on gateway mode, which this build leaves out: build with scripts/build.sh --gateway",
        ));
    }
    Ok(None)
}
