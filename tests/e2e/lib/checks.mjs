// Checks on what the browser printed and on what the tests observed around it.
import assert from 'node:assert/strict';

export const PREFIX = '[IbalXBlock]';

/**
 * Each of `expected` (a string: the start of a line; or a RegExp) must match a console line, in
 * this order (other lines may come between).
 */
export function assertLinesInOrder(lines, expected, what = 'console') {
  let from = 0;
  for (const want of expected) {
    const match = (l) => (want instanceof RegExp ? want.test(l) : l.startsWith(want));
    const at = lines.slice(from).findIndex(match);
    if (at < 0) {
      const anywhere = lines.findIndex(match);
      const where = anywhere < 0 ? 'it is missing' : `it is there (line ${anywhere}) but before line ${from}, out of order`;
      assert.fail(`${what}: expected a line ${want instanceof RegExp ? want : JSON.stringify(want)}; ${where}.\n${what} lines:\n${lines.map((l, i) => `  ${i}: ${l}`).join('\n')}`);
    }
    from += at + 1;
  }
}

/**
 * The popup's callback page logs where it posted the result, then closes at once, so its console
 * line may be lost with the page (Chromium does not always deliver it). What was captured must say
 * it posted to exactly the page origin; the opener's "Sign-in result received from the popup" is
 * the proof of delivery.
 */
export function assertPopupLines(lines, pageOrigin, what = 'popup console') {
  const posted = lines.filter((l) => l.startsWith(`${PREFIX} Sign-in result sent to `));
  for (const l of posted) assert.equal(l, `${PREFIX} Sign-in result sent to ${pageOrigin}`, `${what}: posted to the exact page origin`);
}

/** The console line of a received frame of `type` (the keys of a frame may come in any order). */
export function frame(type) {
  return new RegExp(`^\\[IbalXBlock\\] Received message: \\{.*"type":"${type}"`);
}

/** A JWT anywhere in a text (three base64url parts, the first an encoded JSON object). */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;

/**
 * No line contains any of `secrets` (whole tokens), nor anything shaped like a JWT; and every line
 * that names a token shows at most a short prefix followed by "…".
 */
export function assertNoTokens(lines, secrets, what = 'console') {
  const real = secrets.filter((s) => typeof s === 'string' && s.length >= 16);
  assert.ok(real.length > 0, `${what}: no tokens were collected to look for`);
  for (const line of lines) {
    for (const s of real) {
      assert.ok(!line.includes(s), `${what}: a line prints a whole token (${s.slice(0, 8)}…): ${line.slice(0, 300)}`);
    }
    assert.doesNotMatch(line, JWT_SHAPE, `${what}: a line prints a JWT: ${line.slice(0, 300)}`);
  }
  for (const line of lines) {
    const m = /(?:access[ _]token|refresh[ _]token)[^:]*: (\S+)/i.exec(line);
    if (m && line.startsWith(PREFIX)) {
      assert.match(m[1], /^[^…\s]{0,8}…$/, `${what}: a token must appear as a short prefix + "…": ${line}`);
    }
  }
}

/** The gateway tokens the widget keeps in localStorage (ibal-widget:token:<gateway origin>). */
export async function storedTokens(page, gatewayOrigin) {
  const raw = await page.evaluate((key) => localStorage.getItem(key), `ibal-widget:token:${gatewayOrigin}`);
  assert.ok(raw, `the widget caches its tokens under ibal-widget:token:${gatewayOrigin}`);
  const t = JSON.parse(raw);
  return [t.access_token, t.refresh_token].filter(Boolean);
}

/** The first line of a console-line text that starts with `start` (for detail checks). */
export function lineStarting(lines, start) {
  return lines.find((l) => l.startsWith(start));
}
