// Where things are: the repository, the output folder, the tools the tests use. Every path can be
// overridden from the environment (scripts/test-e2e.sh sets none of them by default).
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(E2E_DIR, '..', '..');

/** Screenshots and process logs, kept after the run (gitignored: /tests/output/). */
export const OUTPUT_DIR = process.env.E2E_OUTPUT_DIR || path.join(REPO, 'tests', 'output', 'e2e');
export const LOG_DIR = path.join(OUTPUT_DIR, 'logs');

export const GATEWAY_BIN = process.env.IBAL_GATEWAY_BIN || path.join(REPO, 'target', 'debug', 'ibal-gateway');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const XBLOCK_PYTHON = process.env.XBLOCK_PYTHON || path.join(REPO, '.venv', 'xblock', 'bin', 'python');
export const RUN_WORKBENCH = path.join(REPO, 'xblock-widget', 'xblock', 'run-workbench.sh');

/** A file listing the id of every process the tests start, one per line; the shell script kills
 * what is still alive when the run ends (even if node itself was killed). */
export const PID_FILE = process.env.E2E_PID_FILE || '';

/** Slow everything down for watching (E2E_SLOWMO=250); 0 by default. */
export const SLOWMO = Number(process.env.E2E_SLOWMO || 0);

fs.mkdirSync(LOG_DIR, { recursive: true });

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ibal-e2e-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
