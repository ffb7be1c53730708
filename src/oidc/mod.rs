//! OpenID Connect relying-party logic, free of any Worker API: the authorization request,
//! the callback, the token and userinfo exchanges, and ID token verification.

pub mod authorization_response;
pub mod authorize;
pub mod client;
pub mod es256;
pub mod http_url;
pub mod id_token;
pub mod json;
pub mod jwks;
pub mod outbound;
pub mod secrets;
pub mod token;
pub mod userinfo;

#[cfg(test)]
pub(crate) mod test_keys;
