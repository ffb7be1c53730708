// A demo origin for gateway mode: what a site behind the Worker sees. Every page shows the
// identity headers it received and verifies `Webex-Assertion` against the gateway's JWKS with
// an independent library (jose), as a real origin would. The end-to-end tests use its JSON
// endpoints; `scripts/run.sh --gateway` runs it for a person to look at.
//
//   GET  /echo/...        JSON: method, path, headers, the verified assertion (or why not)
//   POST /upload          streams the body, answers its size and SHA-256
//   GET  /download?mb=N   streams N MiB
//   GET  /slow?ms=N       answers after N ms
//   GET  /set-cookie      tries to set the gateway's session cookie (and one of its own)
//   GET  /redirect        302 to /echo/after-redirect
//   WS   /ws              echoes each message
//   anything else         an HTML page with the identity
//
// Stand-alone: node tests/gateway/origin.mjs   (env ORIGIN_PORT, GATEWAY_ORIGIN)
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { pathToFileURL } from 'node:url';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { WebSocketServer } from 'ws';

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * @param {{port?: number, gatewayOrigin: string, authPrefix?: string}} options
 *   `gatewayOrigin`: the Worker's origin (the assertion's issuer; its JWKS is below authPrefix).
 */
export async function startOrigin({ port = 0, gatewayOrigin, authPrefix = '/_auth' }) {
  const requests = [];
  let jwks;
  let url;
  const verify = async (assertion) => {
    if (!assertion) return { verified: false, error: 'no Webex-Assertion header' };
    jwks ??= createRemoteJWKSet(new URL(`${gatewayOrigin}${authPrefix}/jwks.json`), { cacheMaxAge: 1000 });
    try {
      const { payload, protectedHeader } = await jwtVerify(assertion, jwks, {
        issuer: gatewayOrigin,
        audience: url,
        algorithms: ['ES256'],
        maxTokenAge: '2 minutes',
      });
      return { verified: true, claims: payload, kid: protectedHeader.kid };
    } catch (err) {
      return { verified: false, error: `${err.code || err.name}: ${err.message}` };
    }
  };

  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://origin.local');
    // Marks every answer as the origin's (the tests tell it from the Worker's own pages).
    res.setHeader('x-demo-origin', '1');
    requests.push({ method: req.method, path: u.pathname, search: u.search, headers: { ...req.headers } });
    try {
      if (u.pathname === '/upload') {
        const hash = crypto.createHash('sha256');
        let bytes = 0;
        for await (const chunk of req) {
          bytes += chunk.length;
          hash.update(chunk);
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
        return;
      }
      if (u.pathname === '/download') {
        const mb = Number(u.searchParams.get('mb') || '1');
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('content-length', String(mb * 1024 * 1024));
        for (let i = 0; i < mb * 16; i += 1) {
          if (!res.write(chunk)) await new Promise((resolve) => { res.once('drain', resolve); });
        }
        res.end();
        return;
      }
      if (u.pathname === '/slow') {
        await new Promise((resolve) => { setTimeout(resolve, Number(u.searchParams.get('ms') || '1000')); });
      }
      if (u.pathname === '/set-cookie') {
        res.setHeader('set-cookie', [
          '__Host-webex-session=planted-by-origin; Path=/; Secure; HttpOnly',
          '__Host-webex-login=planted-by-origin; Path=/; Secure; HttpOnly',
          'origin-pref=1; Path=/',
        ]);
      }
      if (u.pathname === '/redirect') {
        res.statusCode = 302;
        res.setHeader('location', '/echo/after-redirect');
        res.end();
        return;
      }
      for await (const _ of req) { /* drain */ }
      const assertion = await verify(req.headers['webex-assertion']);
      const identity = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k.startsWith('x-webex-') || k.startsWith('x-forwarded-')),
      );
      if (u.pathname.startsWith('/echo') || u.pathname === '/slow' || u.pathname === '/set-cookie') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({
          method: req.method, path: u.pathname, search: u.search, headers: req.headers, identity, assertion,
        }));
        return;
      }
      res.setHeader('content-type', 'text/html; charset=utf-8');
      const who = req.headers['x-webex-email'] ? decodeURIComponent(req.headers['x-webex-email']) : 'nobody (public path)';
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo origin</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto">
<h1 id="who">Hello, ${escapeHtml(who)}</h1>
<p>This page is served by the demo origin behind the gateway at ${escapeHtml(u.pathname)}.</p>
<p id="assertion">Webex-Assertion: ${assertion.verified ? `verified (kid ${escapeHtml(assertion.kid)}), for ${escapeHtml(assertion.claims.sub)}` : `not verified: ${escapeHtml(assertion.error)}`}</p>
<h2>Identity headers received</h2>
<pre id="identity">${escapeHtml(JSON.stringify(identity, null, 2))}</pre>
<form method="post" action="${escapeHtml(authPrefix)}/logout"><button type="submit">Sign out</button></form>
</body></html>`);
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
  // Delayed ACKs would add 40 ms to every keep-alive request that writes headers and body
  // separately.
  server.on('connection', (socket) => socket.setNoDelay(true));
  const wss = new WebSocketServer({ noServer: true });
  // `/ws?plant`: the 101 tries to set the gateway's session cookie (and one of its own).
  wss.on('headers', (headers, req) => {
    if (req.url.includes('plant')) {
      headers.push('Set-Cookie: __Host-webex-session=planted.x; Path=/; Secure; HttpOnly', 'Set-Cookie: origin-ws=1; Path=/');
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/ws')) {
      socket.destroy();
      return;
    }
    requests.push({ method: 'UPGRADE', path: req.url, headers: { ...req.headers } });
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}`));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// Stand-alone mode.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const origin = await startOrigin({
    port: Number.parseInt(process.env.ORIGIN_PORT || '9600', 10),
    gatewayOrigin: process.env.GATEWAY_ORIGIN || 'http://localhost:8787',
    authPrefix: process.env.AUTH_PREFIX || '/_auth',
  });
  console.log(`demo origin ready on ${origin.url}`);
  const shutdown = async () => {
    await origin.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
