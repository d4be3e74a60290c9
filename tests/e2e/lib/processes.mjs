// Child processes (the gateway, the workbench): each in a process group of its own, its output in a
// log file under tests/output/e2e/logs, stopped by id at the end of the test file, also when a test
// fails or node is interrupted.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { LOG_DIR, PID_FILE } from './env.mjs';

const running = new Set();

/** Only what any program needs from this environment (no stray configuration variables). */
function baseEnv() {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

/** A TCP port on 127.0.0.1 that is free right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Starts `command args` with `env` added to this environment (to a minimal one with `cleanEnv`).
 * Returns a handle:
 * `{ name, pid, logPath, exited (a promise of {code, signal}), log(), stop() }`.
 */
export function startProcess(name, command, args, { env = {}, cwd, cleanEnv = false } = {}) {
  const logPath = path.join(LOG_DIR, `${name}.log`);
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(command, args, {
    cwd,
    env: { ...(cleanEnv ? baseEnv() : process.env), ...env },
    stdio: ['ignore', fd, fd],
    detached: true, // a process group of its own: stop() reaches the whole tree
  });
  fs.closeSync(fd);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      running.delete(handle);
      resolve(exitInfo);
    });
    child.on('error', (err) => {
      exitInfo = { code: -1, signal: null, error: err };
      running.delete(handle);
      resolve(exitInfo);
    });
  });
  if (PID_FILE && child.pid) {
    fs.appendFileSync(PID_FILE, `${child.pid}\n`);
  }
  const handle = {
    name,
    pid: child.pid,
    logPath,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    /** The process's output so far. */
    log() {
      try {
        return fs.readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
    /** SIGTERM to its group, SIGKILL after `graceMs`. */
    async stop(graceMs = 5000) {
      if (exitInfo || !child.pid) return;
      killGroup(child.pid, 'SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        killGroup(child.pid, 'SIGKILL');
        await exited;
      }
      // Whatever the leader left behind in its group.
      killGroup(child.pid, 'SIGKILL');
    },
  };
  running.add(handle);
  return handle;
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text, lines = 30) {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Polls `url` until it answers 2xx. Fails early, with the log tail, if `proc` exits first.
 */
export async function waitForHttp(url, { proc, timeoutMs = 30000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc?.exitInfo) {
      throw new Error(
        `${proc.name} exited (${JSON.stringify(proc.exitInfo)}) before ${url} answered; its log ${proc.logPath} ends with:\n${tail(proc.log())}`,
      );
    }
    try {
      // One request at a time, each given the time left: the workbench builds its scenario list on
      // its first request, unguarded, and a second first request arriving meanwhile (a probe retried
      // on a loaded machine) leaves it half-built for good, its later scenarios answering 404.
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())) });
      if (res.ok) {
        await res.arrayBuffer();
        return;
      }
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code || err.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})${proc ? `; ${proc.name} log ends with:\n${tail(proc.log())}` : ''}`);
}

/** Stops every process still running (reverse start order). */
export async function stopAll() {
  const handles = [...running].reverse();
  await Promise.all(handles.map((h) => h.stop()));
}

// Last resort when node goes away without the tests' after() hooks: kill by id, synchronously.
process.on('exit', () => {
  for (const h of running) killGroup(h.pid, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const h of running) killGroup(h.pid, 'SIGKILL');
    process.exit(130);
  });
}
