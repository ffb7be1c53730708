// The two ends of every request, each one call from wasm: the request read into one string,
// and the response built from one. Done piece by piece from Rust, these were some forty
// calls across the wasm boundary per request (a header name in, its value out, ...).

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
  const h = new Headers();
  if (headers !== '') {
    const parts = headers.split('\n');
    for (let i = 0; i + 1 < parts.length; i += 2) h.append(parts[i], parts[i + 1]);
  }
  return new Response(body.length === 0 ? null : body.slice(), { status, headers: h });
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
