// The real pieces: the gateway binary and the xblock-sdk workbench serving the IbalXBlock.
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { GATEWAY_BIN, RUN_WORKBENCH, XBLOCK_PYTHON, tempDir } from './env.mjs';
import { freePort, startProcess, waitForHttp } from './processes.mjs';

/**
 * Where the workbench serves the IbalXBlock's sign-in relay page (public/relay.html): the runtime's
 * local resource URL, which the block gives the widget as `auth_relay_url`. The gateway's default
 * AUTH_RELAY_PATHS are Open edX's paths, so every stack names this one instead.
 */
export const RELAY_PATH = '/resource/ibalxblock/public/relay.html';

function requireFile(file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
}

/**
 * Starts `ibal-gateway serve` on `port` (free when omitted) with a fresh SQLite database.
 * `env` adds to/overrides the base configuration. Resolves once `GET /health` answers and the
 * binary is known to serve the widget. `restart()` stops it (SIGTERM) and starts it again on the
 * same port, database and configuration.
 */
export async function startGateway(name, { port, env = {} } = {}) {
  requireFile(GATEWAY_BIN, 'run scripts/test-e2e.sh (it builds the widget, then cargo build -p ibal-gateway)');
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const tmp = tempDir(name);
  const config = {
    BIND_ADDR: `127.0.0.1:${port}`,
    PUBLIC_URL: url,
    DATABASE_URL: `sqlite://${tmp.dir}/ibal.db`,
    DATA_DIR: tmp.dir,
    SECRET_KEY: randomBytes(32).toString('hex'),
    DEBUG: 'true',
    LOG_FORMAT: 'json',
    RUST_LOG: 'info,sqlx=warn,hyper=warn',
    // Harmless where no page has a relay (the standalone page); an XBlock journey needs it for the
    // gateway to hand a sign-in to the workbench's relay page when the opener is gone.
    AUTH_RELAY_PATHS: RELAY_PATH,
    ...env,
  };
  let runs = 0;
  const launch = async () => {
    runs += 1;
    const proc = startProcess(runs === 1 ? `${name}-gateway` : `${name}-gateway-${runs}`, GATEWAY_BIN, ['serve'], {
      cwd: tmp.dir, // no .env of the developer's is read
      cleanEnv: true, // nor any gateway variable exported in this shell
      env: config,
    });
    try {
      await waitForHttp(`${url}/health`, { proc, timeoutMs: 30000 });
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return proc;
  };

  const gateway = { url, port, proc: null, procs: [], health: null, info: null };
  try {
    gateway.proc = await launch();
    gateway.procs.push(gateway.proc);
    gateway.health = await (await fetch(`${url}/health`)).json();
    gateway.info = await (await fetch(`${url}/api/v1/info`)).json();
    const widget = await fetch(`${url}/static/widget/${gateway.info.version}/ibal_widget.js`);
    const body = await widget.text();
    if (!widget.ok) {
      throw new Error(
        `${GATEWAY_BIN} does not serve the widget (GET /static/widget/${gateway.info.version}/ibal_widget.js → ${widget.status} ${body.slice(0, 200)}): ` +
          'build it with scripts/build-widget.sh, then cargo build -p ibal-gateway (scripts/test-e2e.sh does both)',
      );
    }
  } catch (err) {
    await gateway.proc?.stop();
    tmp.remove();
    throw err;
  }
  /** Every run's log, in order. */
  gateway.log = () => gateway.procs.map((p) => p.log()).join('\n');
  /** Stops the gateway (SIGTERM: a graceful shutdown); resolves with how it exited. */
  gateway.shutdown = async () => {
    await gateway.proc.stop(10000);
    return gateway.proc.exitInfo;
  };
  /** Starts it again after shutdown(), same port, database and configuration. */
  gateway.startAgain = async () => {
    gateway.proc = await launch();
    gateway.procs.push(gateway.proc);
  };
  gateway.stop = async () => {
    await gateway.proc?.stop();
    tmp.remove();
  };
  /**
   * Runs another command of the binary (`clients ensure …`) on the same database and configuration,
   * with `env` added; resolves with `{ code, stdout, stderr }`.
   */
  gateway.run = (args, { env: extra = {} } = {}) =>
    new Promise((resolve) => {
      const env = { PATH: process.env.PATH ?? '', ...config, ...extra };
      execFile(GATEWAY_BIN, args, { cwd: tmp.dir, env, timeout: 30000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (err.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  return gateway;
}

/**
 * Starts the xblock-sdk workbench (xblock-widget/xblock/run-workbench.sh) with GATEWAY_URL. `env`
 * adds the block's other settings (TICKET_PRIVATE_KEY, TICKET_KEY_ID, TICKET_ISSUER, SIGN_IN…, read
 * by tests/workbench_settings.py) and IBAL_WORKBENCH_STAFF (the students the workbench treats as
 * course staff). A value may be a function of the workbench's URL (`LMS_ROOT_URL: (url) => url`).
 */
export async function startWorkbench(name, { gatewayUrl, port, env = {} } = {}) {
  requireFile(XBLOCK_PYTHON, 'create the XBlock virtualenv (scripts/test-e2e.sh does)');
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  env = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, typeof value === 'function' ? value(url) : value]));
  const tmp = tempDir(`${name}-workbench`);
  const proc = startProcess(`${name}-workbench`, 'bash', [RUN_WORKBENCH, XBLOCK_PYTHON, `127.0.0.1:${port}`], {
    env: {
      // The block's settings come from here only, not from this shell (an empty value is unset).
      WS_URL: '',
      WIDGET_VERSION: '',
      TICKET_PRIVATE_KEY: '',
      TICKET_KEY_ID: '',
      TICKET_ISSUER: '',
      TICKET_TTL: '',
      SIGN_IN: '',
      IBAL_WORKBENCH_STAFF: '',
      IBAL_WORKBENCH_COURSE_ID: '',
      LMS_ROOT_URL: '',
      SERVICE_URL: '',
      SERVICE_CLIENT_ID: '',
      SERVICE_CLIENT_SECRET: '',
      ...env,
      GATEWAY_URL: gatewayUrl,
      IBAL_WORKBENCH_VAR_DIR: tmp.dir,
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    },
  });
  try {
    await waitForHttp(`${url}/`, { proc, timeoutMs: 60000 });
  } catch (err) {
    await proc.stop();
    tmp.remove();
    throw err;
  }
  return {
    url,
    port,
    proc,
    /** The page of the `<ibalxblock/>` scenario, as workbench student `student`. */
    scenarioUrl(student = 'student_1', scenario = 'ibalxblock.0') {
      return `${url}/scenario/${scenario}/?student=${encodeURIComponent(student)}`;
    },
    async stop() {
      await proc.stop();
      tmp.remove();
    },
  };
}
