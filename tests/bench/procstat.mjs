// CPU time of the workerd processes under one `wrangler dev`, from /proc (Linux only).
//
// wrangler dev runs workerd as child processes: one serves the Worker, one (listening on the
// dev port) is wrangler's proxy in front of it. Both are on every request's path, so the
// benchmark counts both (and shows the split). wrangler's own node processes are sampled too,
// for context only.
//
// Two sources of CPU time: utime + stime from /proc/<pid>/stat, in clock ticks (usually 10 ms),
// which also count the threads that have exited; and the nanoseconds each thread has run,
// from /proc/<pid>/task/<tid>/schedstat, which are exact but vanish with their thread. An
// interval is measured in nanoseconds when no thread of the process exited during it, in
// ticks otherwise (and when the kernel has no schedstat).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

let ticksPerSecond = null;

/** `getconf CLK_TCK` (the unit of utime/stime in /proc/<pid>/stat), usually 100. */
export function clockTicksPerSecond() {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10);
    } catch {
      ticksPerSecond = NaN;
    }
    if (!(ticksPerSecond > 0)) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** { pid, comm, ppid, ticks (utime + stime) } of one process, or null if it is gone. */
export function readStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): field N is rest[N - 3]
  return {
    pid,
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]), // fields 14 (utime) and 15 (stime)
  };
}

function allProcesses() {
  const list = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) list.push(s);
  }
  return list;
}

function commandLine(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * `rootPid` and its descendants, each with a role: 'proxy' for a workerd listening on
 * `devPort` (wrangler's proxy in front of the Worker), 'worker' for any other workerd, and
 * 'wrangler' for the rest (wrangler's node processes, its esbuild service).
 */
export function processTree(rootPid, devPort) {
  const procs = allProcesses();
  const children = new Map();
  for (const p of procs) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p);
  }
  const root = procs.find((p) => p.pid === rootPid);
  if (!root) return [];
  const found = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift();
    queue.push(...(children.get(p.pid) || []));
    let role = 'wrangler';
    if (p.comm === 'workerd') {
      const entry = commandLine(p.pid).find((a) => a.startsWith('--socket-addr=entry='));
      const port = entry ? Number(entry.slice(entry.lastIndexOf(':') + 1)) : NaN;
      role = port === devPort ? 'proxy' : 'worker';
    }
    found.push({ pid: p.pid, role, ticks: p.ticks });
  }
  return found;
}

/**
 * Nanoseconds on CPU of each thread of `pid` (tid -> ns, the first field of
 * /proc/<pid>/task/<tid>/schedstat), or null when the kernel gives none: no schedstat files,
 * or all zero (a process that is running has run).
 */
export function readThreadsNs(pid) {
  let tids;
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const threads = new Map();
  let total = 0;
  for (const tid of tids) {
    let text;
    try {
      text = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
    } catch {
      continue; // exited since the listing: the next sample sees it missing
    }
    const ns = Number(text.split(' ')[0]);
    if (!Number.isFinite(ns)) return null;
    threads.set(tid, ns);
    total += ns;
  }
  return total > 0 ? threads : null;
}

/** A CPU sample of the processes of one `wrangler dev` (see processTree); use with cpuBetween. */
export function sampleCpu(rootPid, devPort) {
  const procs = processTree(rootPid, devPort);
  if (!procs.some((p) => p.role !== 'wrangler')) throw new Error(`no workerd process under wrangler (pid ${rootPid})`);
  for (const p of procs) p.threads = readThreadsNs(p.pid);
  return { at: performance.now(), procs };
}

/**
 * Nanoseconds process `p` ran between two samples, summed over its threads, or null when
 * they cannot tell: no schedstat in either sample, or a thread of the first sample gone by the
 * second (its time left the per-thread figures; the ticks still count it). Threads started in
 * between count from 0.
 */
function threadsNsBetween(p, later) {
  if (!p.threads || !later.threads) return null;
  let ns = 0;
  for (const [tid, before] of p.threads) {
    const after = later.threads.get(tid);
    if (after === undefined || after < before) return null;
    ns += after - before;
  }
  for (const [tid, after] of later.threads) {
    if (!p.threads.has(tid)) ns += after;
  }
  return ns;
}

/**
 * CPU milliseconds between two samples: `workerdMs` (every workerd: the figure the benchmark
 * uses), `byRole` (proxy, worker, wrangler), the number of workerd processes, and `source`:
 * 'schedstat' when every workerd process was measured in nanoseconds, 'ticks' when none was,
 * 'mixed' otherwise (`sources` counts the workerd processes of each).
 */
export function cpuBetween(before, after) {
  const msPerTick = 1000 / clockTicksPerSecond();
  const byRole = {};
  const sources = { schedstat: 0, ticks: 0 };
  let workerdMs = 0;
  let workerdProcesses = 0;
  for (const p of before.procs) {
    const later = after.procs.find((q) => q.pid === p.pid);
    const workerd = p.role !== 'wrangler';
    if (workerd) {
      if (!later) throw new Error(`workerd process ${p.pid} (${p.role}) went away during the measurement`);
      workerdProcesses += 1;
    }
    let ms = 0;
    if (later) {
      const ns = threadsNsBetween(p, later);
      ms = ns === null ? (later.ticks - p.ticks) * msPerTick : ns / 1e6;
      if (workerd) sources[ns === null ? 'ticks' : 'schedstat'] += 1;
    }
    byRole[p.role] = (byRole[p.role] || 0) + ms;
    if (workerd) workerdMs += ms;
  }
  return { workerdMs, byRole, workerdProcesses, source: sourceOf(sources), sources, wallMs: after.at - before.at, tickMs: msPerTick };
}

/** 'schedstat', 'ticks' or 'mixed', from counts of intervals (or processes) measured each way. */
export function sourceOf(sources) {
  if (sources.ticks === 0 && sources.schedstat > 0) return 'schedstat';
  if (sources.schedstat === 0) return 'ticks';
  return 'mixed';
}
