// CPU time of the workerd processes under one `wrangler dev`, from /proc (Linux only).
//
// wrangler dev runs workerd as child processes: one serves the Worker, one (listening on the
// dev port) is wrangler's proxy in front of it. Both are on every request's path, so the
// benchmark counts both (and shows the split). wrangler's own node processes are sampled too,
// for context only.

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

/** A CPU sample of the processes of one `wrangler dev` (see processTree); use with cpuBetween. */
export function sampleCpu(rootPid, devPort) {
  const procs = processTree(rootPid, devPort);
  if (!procs.some((p) => p.role !== 'wrangler')) throw new Error(`no workerd process under wrangler (pid ${rootPid})`);
  return { at: performance.now(), procs };
}

/**
 * CPU milliseconds between two samples: `workerdMs` (every workerd: the figure the benchmark
 * uses), `byRole` (proxy, worker, wrangler) and the number of workerd processes.
 */
export function cpuBetween(before, after) {
  const msPerTick = 1000 / clockTicksPerSecond();
  const byRole = {};
  let workerdMs = 0;
  let workerdProcesses = 0;
  for (const p of before.procs) {
    const later = after.procs.find((q) => q.pid === p.pid);
    if (p.role !== 'wrangler') {
      if (!later) throw new Error(`workerd process ${p.pid} (${p.role}) went away during the measurement`);
      workerdProcesses += 1;
    }
    const ms = later ? (later.ticks - p.ticks) * msPerTick : 0;
    byRole[p.role] = (byRole[p.role] || 0) + ms;
    if (p.role !== 'wrangler') workerdMs += ms;
  }
  return { workerdMs, byRole, workerdProcesses, wallMs: after.at - before.at, tickMs: msPerTick };
}
