// The JavaScript side of the shell, each piece one call from wasm where piece by piece from
// Rust it was many calls across the boundary: the two ends of every request (the request read
// into one string, the response built from one; some forty calls before), the log line, a
// subrequest to its end, and awaiting a promise.

// `method \n url \n` then, per name in `names` (newline-separated), `=value` or `-` when
// absent. Header values and URLs never hold a newline.
export function describe(request, names) {
  const headers = request.headers;
  let out = `${request.method}\n${request.url}`;
  for (const name of names.split('\n')) {
    const value = headers.get(name);
    out += value === null ? '\n-' : `\n=${value}`;
  }
  return out;
}

// `headers`: `name \n value \n name \n value ...` (the caller refuses newlines in either).
// `body`: a view of the module's memory, copied before the module runs again.
export function respond(status, headers, body) {
  return new Response(body.length === 0 ? null : body.slice(), { status, headers: headersFrom(headers) });
}

// `Headers` from `name \n value \n ...` (edge/mod.rs writes them; no newline in either).
function headersFrom(lines) {
  const headers = new Headers();
  if (lines !== '') {
    const parts = lines.split('\n');
    for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
  }
  return headers;
}

// The request's log line, written from a microtask of its own, right after the module
// returns. Under `wrangler dev` an inspector session records every console call with the
// JavaScript stack of its caller; called from wasm, that stack runs through the module's
// frames, whose positions V8 looks up each time. The line is the same and still one per
// request; only the stack it is written from is short.
export function log(level, line) {
  queueMicrotask(() => {
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else console.log(line);
  });
}

// Awaiting a promise from wasm (promise.rs): one long-lived callback, told the slot and the
// outcome, instead of two closures made and freed per await.
export function settle(promise, slot, settled) {
  promise.then((value) => settled(slot, true, value), (reason) => settled(slot, false, reason));
}

// `target[method]` called with its first `count` arguments, its promise settled as above; a
// throw, a missing method or a result that is not a promise settles as rejected.
export function callAndSettle(target, method, count, a, b, c, slot, settled) {
  let promise;
  try {
    const args = count === 0 ? [] : count === 1 ? [a] : count === 2 ? [a, b] : [a, b, c];
    promise = target[method](...args);
    if (!(promise instanceof Promise)) promise = Promise.reject(new TypeError(`${method}: not a promise`));
  } catch (error) {
    promise = Promise.reject(error);
  }
  settle(promise, slot, settled);
}

// One subrequest to the provider, from the request to the end of its body (edge/fetch.rs).
// The runtime's own deadline (AbortSignal.timeout) aborts the fetch or the body's reading.
// Redirects are never followed: a 3xx comes back with its status and no body. A body is read
// up to maxBytes and no further: refused at once when Content-Length declares more, otherwise
// read chunk by chunk and its stream cancelled as soon as it grows too large. The bytes are
// always counted, never taken from Content-Length: the runtime inflates gzip and brotli (the
// header is then the compressed size), and a Transfer-Encoding overrides it. Fulfils with
// `status \n body` (UTF-8, invalid bytes replaced); rejects with 'timeout', 'too_large' or
// 'network'.
export function fetchBounded(url, method, headerLines, body, timeoutMs, maxBytes) {
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (error) => {
    throw error === 'too_large' ? error : signal.aborted ? 'timeout' : 'network';
  };
  try {
    const init = { method, headers: headersFrom(headerLines), signal, redirect: 'manual' };
    if (body !== undefined) init.body = body;
    return fetch(url, init).then((response) => readBounded(response, maxBytes)).catch(failed);
  } catch {
    return Promise.reject('network');
  }
}

async function readBounded(response, maxBytes) {
  const status = response.status;
  if (status >= 300 && status < 400) {
    if (response.body) response.body.cancel().catch(() => {});
    return `${status}\n`;
  }
  const declared = response.headers.get('content-length');
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) > maxBytes) {
    if (response.body) response.body.cancel().catch(() => {});
    throw 'too_large';
  }
  const chunks = [];
  let length = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > maxBytes) {
        // Stop the provider's stream here instead of draining it.
        reader.cancel().catch(() => {});
        throw 'too_large';
      }
      chunks.push(value);
    }
  }
  if (chunks.length === 1) return `${status}\n${new TextDecoder().decode(chunks[0])}`;
  const whole = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return `${status}\n${new TextDecoder().decode(whole)}`;
}
