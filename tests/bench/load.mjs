// Load generation and tallies for the benchmark: a closed loop (N workers, each running one
// operation after another until a deadline), client-side latencies per route, and the
// Worker's request log lines summed up per phase.

import { sleep } from '../e2e/harness.mjs';

/** Latency samples (ms) per label, with nearest-rank percentiles. */
export class Latencies {
  #samples = new Map();

  add(label, ms) {
    let list = this.#samples.get(label);
    if (!list) {
      list = [];
      this.#samples.set(label, list);
    }
    list.push(ms);
  }

  summary(label) {
    const list = this.#samples.get(label);
    if (!list || list.length === 0) return null;
    const sorted = Float64Array.from(list).sort();
    const pct = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
    const sum = sorted.reduce((a, b) => a + b, 0);
    return { count: sorted.length, mean: sum / sorted.length, p50: pct(50), p95: pct(95), p99: pct(99), max: sorted[sorted.length - 1] };
  }

  labels() {
    return [...this.#samples.keys()];
  }
}

/** First line of an error message, without long response bodies, for grouping. */
export function errorKey(err) {
  const msg = err instanceof Error ? (err.cause?.code ? `${err.message} (${err.cause.code})` : err.message) : String(err);
  return msg.split('\n')[0].slice(0, 160);
}

/**
 * Runs `op(workerIndex)` in `concurrency` closed loops until `durationMs` has passed or
 * `until()` is true; ops in flight at the end are awaited (and counted). An op that throws or
 * takes longer than `opTimeoutMs` is an error.
 * Resolves to { completed, failed, errors (message -> count), elapsedMs }.
 */
export async function closedLoop({ concurrency, durationMs, op, opTimeoutMs = 30_000, until = () => false }) {
  const start = performance.now();
  const deadline = start + durationMs;
  let completed = 0;
  let failed = 0;
  const errors = new Map();
  const fail = (err) => {
    failed += 1;
    const k = errorKey(err);
    errors.set(k, (errors.get(k) || 0) + 1);
  };
  const loop = async (i) => {
    while (performance.now() < deadline && !until()) {
      let timer;
      try {
        await Promise.race([
          op(i),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`operation took longer than ${opTimeoutMs} ms`)), opTimeoutMs);
          }),
        ]);
        completed += 1;
      } catch (err) {
        fail(err);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  return { completed, failed, errors, elapsedMs: performance.now() - start };
}

/**
 * Sums the Worker's one-JSON-line-per-request log (`{"event":"request", route, status,
 * kv_reads, kv_writes, subrequests, ...}`), fed line by line. Counts every request line seen;
 * between begin() and end() it also sums them up per route.
 */
export class RequestLogTally {
  lines = 0;
  /** Runtime errors wrangler printed (uncaught exceptions, traps), to explain a 500 without
   * a log line; the offline `Request.cf` warning is not one. */
  runtimeErrors = [];
  #phase = null;

  onLine(line) {
    if (!line.includes('"event"')) {
      if (/error|panick|uncaught|exception|unreachable/i.test(line)
          && !/Request\.cf|getaddrinfo|workers\.cloudflare\.com|onlookupall|callbackTrampoline/.test(line)
          && this.runtimeErrors.length < 20) {
        this.runtimeErrors.push(line.trim().slice(0, 300));
      }
      return;
    }
    const i = line.indexOf('{');
    if (i === -1) return;
    let o;
    try {
      o = JSON.parse(line.slice(i));
    } catch {
      return;
    }
    if (!o || o.event !== 'request') return;
    this.lines += 1;
    const p = this.#phase;
    if (!p) return;
    const key = `${o.method} ${o.route}`;
    let r = p.routes[key];
    if (!r) {
      r = { requests: 0, kvReads: 0, kvWrites: 0, subrequests: 0, statusErrors: 0, reasons: {} };
      p.routes[key] = r;
    }
    r.requests += 1;
    r.kvReads += Number(o.kv_reads) || 0;
    r.kvWrites += Number(o.kv_writes) || 0;
    r.subrequests += Number(o.subrequests) || 0;
    r.reasons[o.reason] = (r.reasons[o.reason] || 0) + 1;
    if (!(o.status < 400)) {
      r.statusErrors += 1;
      p.statusErrors.push(`${o.method} ${o.route} ${o.status} ${o.reason}`);
    }
  }

  begin() {
    this.#phase = { routes: {}, statusErrors: [] };
  }

  /** Ends the phase: { requests, kvReads, kvWrites, subrequests, statusErrors, routes }. */
  end() {
    const p = this.#phase;
    this.#phase = null;
    const total = { requests: 0, kvReads: 0, kvWrites: 0, subrequests: 0, statusErrors: p.statusErrors.length };
    for (const r of Object.values(p.routes)) {
      total.requests += r.requests;
      total.kvReads += r.kvReads;
      total.kvWrites += r.kvWrites;
      total.subrequests += r.subrequests;
    }
    return { ...total, routes: p.routes, statusErrorSamples: p.statusErrors.slice(0, 5) };
  }

  /** Waits until `expected` request lines have been seen (the log trails the responses). */
  async waitFor(expected, timeoutMs = 15_000) {
    const end = Date.now() + timeoutMs;
    while (this.lines < expected && Date.now() < end) await sleep(50);
    return this.lines >= expected;
  }
}
