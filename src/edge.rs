//! The thin shell over the Workers runtime: turns a `worker::Request` into an [`Incoming`],
//! provides KV, Fetch and settings through the platform traits, turns the [`Reply`] into a
//! `worker::Response`, and logs one JSON line per request.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use futures_util::future::{select, Either, LocalBoxFuture};
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Delay, Env};

use crate::config::Settings;
use crate::error::AppError;
use crate::http::{split_request_url, Incoming, Reply};
use crate::oidc::jwks::RsaPublicKey;
use crate::platform::{
    self, Crypto, HttpClient, KeyValueStore, OutboundRequest, OutboundResponse, RateLimit,
    RateLimiter, StoreError, TransportError,
};
use crate::provider::KeyCache;
use crate::routes::{self, Context, InFlightRefreshes};

/// The KV namespace binding that holds login records and sessions.
pub const KV_BINDING: &str = "AUTH_KV";
/// The Workers Rate Limiting binding that limits `GET /login` per client address.
pub const LOGIN_RATE_LIMITER_BINDING: &str = "LOGIN_RATE_LIMITER";
/// Every subrequest gets this long before the login fails with a clear message.
const SUBREQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Provider responses are read up to this size and no further.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

thread_local! {
    /// The isolate-wide JWKS cache (one thread per isolate; vanishes if the isolate does).
    static KEYS: Rc<KeyCache> = Rc::new(KeyCache::default());
    /// The sessions this isolate is refreshing (one refresh per session at a time).
    static REFRESHING: Rc<InFlightRefreshes> = Rc::new(InFlightRefreshes::default());
    /// WebCrypto handles of the JWKS keys, imported once per isolate (by modulus).
    static IMPORTED: RefCell<Vec<(Vec<u8>, web_sys::CryptoKey)>> = const { RefCell::new(Vec::new()) };
}

/// At most this many imported keys are kept; a JWKS holds at most 16 usable keys.
const MAX_IMPORTED_KEYS: usize = 32;

/// The `fetch` handler. It works on the runtime's own `Request`/`Response` objects (web-sys)
/// rather than the `worker` crate's wrappers: nothing here formats a runtime error, which
/// keeps the wrappers' error text and URL parsing out of the module (see the README's
/// performance notes). Errors become reason codes, never messages.
pub async fn serve(req: web_sys::Request, env: Env) -> Result<JsValue, JsValue> {
    let started = js_sys::Date::now() as u64;
    let incoming = incoming(&req);
    let request_id = header(&req.headers(), "cf-ray").unwrap_or_else(local_request_id);
    let usage = Usage::default();
    let kv = Reflect::get(&env, &JsValue::from_str(KV_BINDING)).unwrap_or(JsValue::UNDEFINED);
    let reply = if kv.is_object() {
        let keys = KEYS.with(Rc::clone);
        let refreshing = REFRESHING.with(Rc::clone);
        let ctx = Context {
            kv: &WorkersKv { kv, usage: &usage },
            http: &WorkersFetch { usage: &usage },
            settings: &WorkerSettings(&env),
            keys: &keys,
            refreshing: &refreshing,
            crypto: &WebCrypto,
            login_limiter: &WorkersRateLimiter(
                Reflect::get(&env, &JsValue::from_str(LOGIN_RATE_LIMITER_BINDING))
                    .unwrap_or(JsValue::UNDEFINED),
            ),
            now: (started / 1000) as i64,
        };
        routes::handle(&incoming, &ctx).await
    } else {
        let missing = routes::error_reply(&AppError::Config(crate::config::ConfigError {
            setting: "AUTH_KV (KV namespace binding)",
            problem: "is not bound in wrangler.toml".into(),
        }));
        routes::with_transport_security(&incoming, missing)
    };
    let duration_ms = (js_sys::Date::now() as u64).saturating_sub(started);
    log_line(&incoming, &reply, &request_id, duration_ms, &usage);
    into_response(reply).map(JsValue::from)
}

fn header(headers: &web_sys::Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

fn incoming(req: &web_sys::Request) -> Incoming {
    // The runtime hands over an absolute, already normalised URL.
    let url = req.url();
    let (origin, path, query) = split_request_url(&url).unwrap_or_default();
    let headers = req.headers();
    Incoming {
        method: req.method(),
        path: path.to_owned(),
        query: query.to_owned(),
        origin: origin.to_owned(),
        cookie_header: header(&headers, "cookie").unwrap_or_default(),
        origin_header: header(&headers, "origin"),
        sec_fetch_site: header(&headers, "sec-fetch-site"),
        client_ip: header(&headers, "cf-connecting-ip"),
    }
}

/// Outside Cloudflare's edge (wrangler dev) there is no `cf-ray`: 64 random bits instead.
fn local_request_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Platform operations of one request, counted for the log line (and the benchmark).
#[derive(Default)]
struct Usage {
    kv_reads: Cell<u32>,
    kv_writes: Cell<u32>,
    subrequests: Cell<u32>,
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get() + 1);
}

/// One structured line per request: no query, no cookie, no header values, so no secret.
fn log_line(req: &Incoming, reply: &Reply, request_id: &str, duration_ms: u64, usage: &Usage) {
    let mut line = serde_json::json!({
        "event": "request",
        "method": req.method,
        "route": req.path.chars().take(64).collect::<String>(),
        "status": reply.status,
        "reason": reply.reason,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "kv_reads": usage.kv_reads.get(),
        "kv_writes": usage.kv_writes.get(),
        "subrequests": usage.subrequests.get(),
    });
    if let (Some(warning), serde_json::Value::Object(fields)) = (reply.warning, &mut line) {
        fields.insert("warning".into(), warning.into());
    }
    if reply.status >= 500 {
        worker::console_error!("{line}");
    } else if reply.status >= 400 || reply.warning.is_some() {
        worker::console_warn!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Only fails if the runtime cannot construct a response at all; the runtime then answers 500.
fn into_response(reply: Reply) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    let body = (!reply.body.is_empty()).then_some(reply.body.as_str());
    web_sys::Response::new_with_opt_str_and_init(body, &init)
}

struct WorkerSettings<'a>(&'a Env);

impl Settings for WorkerSettings<'_> {
    /// Vars and secrets are both plain strings on `env`. Read directly: the `worker` crate's
    /// accessors build an error message for every setting that is not set, on every request.
    fn get(&self, name: &str) -> Option<String> {
        Reflect::get(self.0, &JsValue::from_str(name))
            .ok()
            .and_then(|value| value.as_string())
    }
}

/// The KV namespace binding, called directly (`get`, `put`, `delete` of the Workers KV API):
/// the `worker` crate's builders serialise their options through serde on every call.
struct WorkersKv<'a> {
    kv: JsValue,
    usage: &'a Usage,
}

/// Calls `binding.method(...args)` and awaits the promise it returns.
async fn call_binding(binding: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, ()> {
    let function: js_sys::Function = Reflect::get(binding, &JsValue::from_str(method))
        .and_then(|f| f.dyn_into())
        .map_err(|_| ())?;
    let promise: js_sys::Promise = function
        .apply(binding, &args.iter().collect::<js_sys::Array>())
        .and_then(|p| p.dyn_into())
        .map_err(|_| ())?;
    JsFuture::from(promise).await.map_err(|_| ())
}

impl WorkersKv<'_> {
    async fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, StoreError> {
        call_binding(&self.kv, method, args)
            .await
            .map_err(|()| StoreError("kv call failed"))
    }
}

impl KeyValueStore for WorkersKv<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        bump(&self.usage.kv_reads);
        // `get(key)` resolves to the text, or null when the key does not exist.
        Ok(self.call("get", &[key.into()]).await?.as_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        let options = js_sys::Object::new();
        let ttl = JsValue::from_f64(ttl_secs.max(60) as f64);
        Reflect::set(&options, &JsValue::from_str("expirationTtl"), &ttl)
            .map_err(|_| StoreError("kv put failed"))?;
        self.call("put", &[key.into(), value.into(), options.into()])
            .await
            .map(|_| ())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        self.call("delete", &[key.into()]).await.map(|_| ())
    }
}

struct WorkersFetch<'a> {
    usage: &'a Usage,
}

impl HttpClient for WorkersFetch<'_> {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        bump(&self.usage.subrequests);
        let controller = web_sys::AbortController::new().map_err(|_| TransportError::Network)?;
        let signal = controller.signal();
        let exchange = async move {
            let response = JsFuture::from(start_fetch(&request, &signal)?)
                .await
                .map_err(|_| TransportError::Network)?;
            read_bounded(response.unchecked_into()).await
        };
        let exchange = pin!(exchange);
        let deadline = pin!(Delay::from(SUBREQUEST_TIMEOUT));
        match select(exchange, deadline).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => {
                controller.abort();
                Err(TransportError::Timeout)
            }
        }
    }

    async fn pause(&self, millis: u32) {
        Delay::from(Duration::from_millis(u64::from(millis))).await;
    }
}

fn start_fetch(
    request: &OutboundRequest,
    signal: &web_sys::AbortSignal,
) -> Result<js_sys::Promise, TransportError> {
    let headers = web_sys::Headers::new().map_err(|_| TransportError::Network)?;
    for (name, value) in &request.headers {
        headers
            .set(name, value)
            .map_err(|_| TransportError::Network)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(match request.method {
        platform::Method::Get => "GET",
        platform::Method::Post => "POST",
    });
    init.set_headers(&headers);
    if let Some(body) = &request.body {
        init.set_body(&JsValue::from_str(body));
    }
    init.set_signal(Some(signal));
    // Never follow a redirect: the 3xx itself comes back and `read_bounded` refuses it.
    Reflect::set(&init, &"redirect".into(), &"manual".into())
        .map_err(|_| TransportError::Network)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.fetch_with_str_and_init(request.url.as_str(), &init))
}

/// Reads at most [`MAX_RESPONSE_BYTES`]: a hostile provider cannot exhaust the isolate's memory.
async fn read_bounded(response: web_sys::Response) -> Result<OutboundResponse, TransportError> {
    let status = response.status();
    if let Err(redirected) = platform::refuse_redirect(status) {
        if let Some(body) = response.body() {
            let _ = body.cancel();
        }
        return Err(redirected);
    }
    let headers = response.headers();
    let content_type = header(&headers, "content-type");
    let declared = header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_RESPONSE_BYTES) {
        return Err(TransportError::TooLarge);
    }
    let mut body = Vec::new();
    if let Some(stream) = response.body() {
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|_| TransportError::Network)?;
            if Reflect::get(&chunk, &JsValue::from_str("done")).is_ok_and(|d| d.is_truthy()) {
                break;
            }
            let bytes: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))
                .map_err(|_| TransportError::Network)?
                .dyn_into()
                .map_err(|_| TransportError::Network)?;
            if body.len() + bytes.length() as usize > MAX_RESPONSE_BYTES {
                // Stop the provider's stream here instead of draining it.
                let _ = reader.cancel();
                return Err(TransportError::TooLarge);
            }
            // Copied straight into the body buffer, not through a temporary Vec.
            let start = body.len();
            body.resize(start + bytes.length() as usize, 0);
            bytes.copy_to(&mut body[start..]);
        }
    }
    Ok(OutboundResponse {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The `LOGIN_RATE_LIMITER` binding (Workers Rate Limiting), called directly:
/// `limit({ key })` resolves to `{ success }`. Undefined when the binding is missing.
struct WorkersRateLimiter(JsValue);

impl RateLimiter for WorkersRateLimiter {
    fn limit<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, RateLimit> {
        Box::pin(async move {
            if !self.0.is_object() {
                return RateLimit::Unavailable("rate_limiter_unbound");
            }
            let options = js_sys::Object::new();
            let _ = Reflect::set(&options, &"key".into(), &key.into());
            let outcome = call_binding(&self.0, "limit", &[options.into()]).await;
            match outcome.map(|o| Reflect::get(&o, &"success".into()).map(|s| s.as_bool())) {
                Ok(Ok(Some(true))) => RateLimit::Allowed,
                Ok(Ok(Some(false))) => RateLimit::Exceeded,
                _ => RateLimit::Unavailable("rate_limiter_failed"),
            }
        })
    }
}

/// The runtime's WebCrypto: native RSA and AES-GCM; imported RSA keys are reused.
struct WebCrypto;

impl Crypto for WebCrypto {
    fn verify_rs256<'a>(
        &'a self,
        key: &'a RsaPublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> LocalBoxFuture<'a, bool> {
        Box::pin(async move {
            let (Some(subtle), Some(crypto_key)) = (subtle_crypto(), imported_key(key).await)
            else {
                return false;
            };
            let Ok(promise) = subtle.verify_with_object_and_u8_array_and_u8_array(
                &rs256_algorithm(),
                &crypto_key,
                signature,
                message,
            ) else {
                return false;
            };
            JsFuture::from(promise)
                .await
                .is_ok_and(|valid| valid.as_bool() == Some(true))
        })
    }

    fn aes256gcm_seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        plaintext: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(aes_gcm(AesOperation::Encrypt, key, nonce, aad, plaintext))
    }

    fn aes256gcm_open<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        sealed: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(aes_gcm(AesOperation::Decrypt, key, nonce, aad, sealed))
    }
}

fn subtle_crypto() -> Option<web_sys::SubtleCrypto> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    global.crypto().ok().map(|crypto| crypto.subtle())
}

/// `{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }`
fn rs256_algorithm() -> js_sys::Object {
    let algorithm = js_sys::Object::new();
    let _ = Reflect::set(&algorithm, &"name".into(), &"RSASSA-PKCS1-v1_5".into());
    let _ = Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into());
    algorithm
}

/// The isolate's imported handle for `key`, importing it (as a JWK, verify only) on first use.
async fn imported_key(key: &RsaPublicKey) -> Option<web_sys::CryptoKey> {
    let cached = IMPORTED.with(|imported| {
        imported
            .borrow()
            .iter()
            .find(|(modulus, _)| modulus == key.modulus())
            .map(|(_, handle)| handle.clone())
    });
    if cached.is_some() {
        return cached;
    }
    let jwk = js_sys::Object::new();
    for (name, value) in [
        ("kty", "RSA".to_owned()),
        ("n", Base64UrlUnpadded::encode_string(key.modulus())),
        ("e", Base64UrlUnpadded::encode_string(key.exponent())),
        ("alg", "RS256".to_owned()),
    ] {
        Reflect::set(&jwk, &name.into(), &value.into()).ok()?;
    }
    let usages = js_sys::Array::of1(&"verify".into());
    let promise = subtle_crypto()?
        .import_key_with_object("jwk", &jwk, &rs256_algorithm(), false, &usages)
        .ok()?;
    let handle: web_sys::CryptoKey = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    IMPORTED.with(|imported| {
        let mut imported = imported.borrow_mut();
        if imported.len() >= MAX_IMPORTED_KEYS {
            imported.clear();
        }
        imported.push((key.modulus().to_vec(), handle.clone()));
    });
    Some(handle)
}

#[derive(Clone, Copy)]
enum AesOperation {
    Encrypt,
    Decrypt,
}

/// One AES-256-GCM operation (128-bit tag appended to the ciphertext, as RustCrypto does).
/// The key is imported per call: each browser's records have their own key.
async fn aes_gcm(
    operation: AesOperation,
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    data: &[u8],
) -> Option<Vec<u8>> {
    let subtle = subtle_crypto()?;
    let usage = match operation {
        AesOperation::Encrypt => "encrypt",
        AesOperation::Decrypt => "decrypt",
    };
    let usages = js_sys::Array::of1(&usage.into());
    let raw_key = Uint8Array::from(&key[..]);
    let import = subtle
        .import_key_with_str("raw", &raw_key, "AES-GCM", false, &usages)
        .ok()?;
    let handle: web_sys::CryptoKey = JsFuture::from(import).await.ok()?.dyn_into().ok()?;
    let algorithm = js_sys::Object::new();
    Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into()).ok()?;
    Reflect::set(&algorithm, &"iv".into(), &Uint8Array::from(&nonce[..])).ok()?;
    Reflect::set(&algorithm, &"additionalData".into(), &Uint8Array::from(aad)).ok()?;
    let promise = match operation {
        AesOperation::Encrypt => subtle.encrypt_with_object_and_u8_array(&algorithm, &handle, data),
        AesOperation::Decrypt => subtle.decrypt_with_object_and_u8_array(&algorithm, &handle, data),
    }
    .ok()?;
    let result = JsFuture::from(promise).await.ok()?;
    Some(Uint8Array::new(&result).to_vec())
}
