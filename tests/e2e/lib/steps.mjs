// A journey is a sequence of steps: `step()` is node:test's `it()`, except that once a step fails the
// later ones are skipped (they would only fail for the same reason, burying the first cause), and
// the open pages are photographed at the failure (tests/output/e2e/<prefix>-FAILED-<n>.png).
import { it } from 'node:test';

import { screenshot } from './browser.mjs';

export function journey(prefix, openPages = () => []) {
  let broken = null;
  return function step(name, fn, { timeout = 60000 } = {}) {
    it(name, { timeout }, async (t) => {
      if (broken) {
        t.skip(`the step "${broken}" failed`);
        return;
      }
      try {
        await fn(t);
      } catch (err) {
        broken = name;
        const pages = openPages().filter((p) => p && !p.isClosed());
        await Promise.all(pages.map((p, i) => screenshot(p, `${prefix}-FAILED-${i}`).catch(() => {})));
        throw err;
      }
    });
  };
}
