// What the runtime charges for under `wrangler dev`, measured by tests/bench/runtime-costs.mjs:
// per path, one thing a request can do and nothing else. The two pages are a profile page as
// this Worker renders it (2.3 KB) and one as small as bench-peer's (1.0 KB), with the same
// headers.
const SHORT = JSON.stringify({ event: 'request', method: 'GET', route: '/', status: 200, duration_ms: 1 });
const LONG = JSON.stringify({ event: 'request', method: 'GET', route: '/', status: 200, reason: 'profile', duration_ms: 2, request_id: '9f8e7d6c5b4a3210', kv_reads: 1, kv_writes: 0, subrequests: 0 });
const OURS_PAGE = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Your profile \u00b7 Login with Webex</title><link rel=\"stylesheet\" href=\"/style.css?v=issJFgo52dDsVGKp\" integrity=\"sha256-issJFgo52dDsVGKpQ+55tzPRLOBbXC6dxqk6oJDOjx8=\"></head><body><header><div><span class=\"logo\" aria-hidden=\"true\"></span>Login with Webex</div></header><main><section class=\"card who\"><div><h1>Hello, Demo User</h1><p>Signed in until 2026-11-29 14:07:49 UTC, or until 2026-11-29 07:07:49 UTC if idle.</p></div><div class=\"actions\"><form method=\"post\" action=\"/refresh\"><button class=\"button secondary\" type=\"submit\">Refresh profile</button></form><form method=\"post\" action=\"/logout\"><button class=\"button secondary\" type=\"submit\">Sign out</button></form></div></section><section class=\"card\" id=\"id-token-claims\"><h2>ID token claims</h2><p>Verified: RS256 signature, issuer, audience, expiry and nonce.</p><div class=\"table-wrap\"><table><tbody><tr><th scope=\"row\">aud</th><td>e2e-client</td></tr><tr><th scope=\"row\">auth_time</th><td>1795932469<small>2026-11-29 06:07:49 UTC</small></td></tr><tr><th scope=\"row\">email</th><td>demo.user@example.com</td></tr><tr><th scope=\"row\">email_verified</th><td>true</td></tr><tr><th scope=\"row\">exp</th><td>1795939669<small>2026-11-29 08:07:49 UTC</small></td></tr><tr><th scope=\"row\">iat</th><td>1795932469<small>2026-11-29 06:07:49 UTC</small></td></tr><tr><th scope=\"row\">iss</th><td>http://127.0.0.1:9462/idb</td></tr><tr><th scope=\"row\">nonce</th><td>udmPVgvDwfISGNSuOeS6J6m93MOGKSMyb5M1BS2y4Tk</td></tr><tr><th scope=\"row\">sub</th><td>3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d</td></tr></tbody></table></div></section><section class=\"card\" id=\"userinfo\"><h2>UserInfo</h2><div class=\"table-wrap\"><table><tbody><tr><th scope=\"row\">email</th><td>demo.user@example.com</td></tr><tr><th scope=\"row\">email_verified</th><td>true</td></tr><tr><th scope=\"row\">family_name</th><td>User</td></tr><tr><th scope=\"row\">given_name</th><td>Demo</td></tr><tr><th scope=\"row\">locale</th><td>en_US</td></tr><tr><th scope=\"row\">name</th><td>Demo User</td></tr><tr><th scope=\"row\">sub</th><td>3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d</td></tr></tbody></table></div></section></main><footer>Signed in with OpenID Connect \u00b7 Authorization Code flow with PKCE</footer></body></html>";
const SMALL_PAGE = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Profile</title></head><body><h1>Profile</h1><h2>ID token claims</h2><table><tr><th>aud</th><td>e2e-client</td></tr><tr><th>auth_time</th><td>1795931064</td></tr><tr><th>email</th><td>demo.user@example.com</td></tr><tr><th>email_verified</th><td>true</td></tr><tr><th>exp</th><td>1795938264</td></tr><tr><th>iat</th><td>1795931064</td></tr><tr><th>iss</th><td>http://127.0.0.1:9462/idb</td></tr><tr><th>nonce</th><td>6fw7F4tXNNhAh31xFxc7e3rAEPua0qDfGrC1FcOKL2I</td></tr><tr><th>sub</th><td>3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d</td></tr></table><h2>Userinfo</h2><table><tr><th>email</th><td>demo.user@example.com</td></tr><tr><th>email_verified</th><td>true</td></tr><tr><th>family_name</th><td>User</td></tr><tr><th>given_name</th><td>Demo</td></tr><tr><th>locale</th><td>en_US</td></tr><tr><th>name</th><td>Demo User</td></tr><tr><th>sub</th><td>3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d</td></tr></table><form method=\"post\" action=\"/logout\"><button>Sign out</button></form></body></html>";
const HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
  'Content-Type': 'text/html; charset=utf-8',
};

/** Calls `f` from under `depth` more stack frames. */
function deep(depth, f) {
  return depth === 0 ? f() : deep(depth - 1, f) + 0;
}

export default {
  async fetch(request) {
    switch (new URL(request.url).pathname) {
      case '/log-short': console.log(SHORT); break;
      case '/log-long': console.log(LONG); break;
      case '/log-deep': deep(30, () => { console.log(SHORT); return 0; }); break;
      case '/log-microtask': queueMicrotask(() => console.log(LONG)); break;
      case '/page-ours': return new Response(OURS_PAGE, { headers: HEADERS });
      case '/page-small': return new Response(SMALL_PAGE, { headers: HEADERS });
      case '/page-ours-as-text': return new Response(OURS_PAGE, { headers: { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8' } });
      default: break;
    }
    return new Response('ok');
  },
};
