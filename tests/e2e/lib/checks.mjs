// Checks on what the browser printed and on what the tests observed around it.
import assert from 'node:assert/strict';

import { RELAY_PATH } from './stack.mjs';
import { readTicket } from './tickets.mjs';

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
 * it posted to exactly the page origin, and never that it went to the relay page (the opener was
 * there); the opener's "Sign-in result received from the popup" is the proof of delivery.
 */
export function assertPopupLines(lines, pageOrigin, what = 'popup console') {
  const posted = lines.filter((l) => l.startsWith(`${PREFIX} Sign-in result sent to `));
  for (const l of posted) assert.equal(l, `${PREFIX} Sign-in result sent to ${pageOrigin}`, `${what}: posted to the exact page origin`);
  assert.ok(!lines.some((l) => l.includes('relay')), `${what}: with an opener, the result does not go through the relay page`);
}

/** A URL fit to print: its fragment (the relay's holds the sign-in result) cut to "#…". */
export function printable(url) {
  const at = String(url).indexOf('#');
  return at < 0 ? String(url) : `${String(url).slice(0, at)}#…`;
}

/** Where the workbench serves the XBlock's sign-in relay page for a course page on `pageOrigin`. */
export function relayUrl(pageOrigin) {
  return `${pageOrigin}${RELAY_PATH}`;
}

/**
 * The URL the widget opened its sign-in popup at: the gateway's /oauth/openedx/login with exactly
 * the page origin, a fresh nonce (18 random bytes, base64url) and the block's relay page on that
 * origin; nothing else (no sign-in handle: no result is kept for anyone to fetch). Returns the nonce.
 */
export function assertPopupLoginUrl(url, { gatewayUrl, pageOrigin }) {
  const login = new URL(url);
  assert.equal(`${login.origin}${login.pathname}`, `${gatewayUrl}/oauth/openedx/login`, 'the popup opens at the gateway');
  assert.deepEqual([...login.searchParams.keys()], ['origin', 'nonce', 'relay'], `the popup's parameters: ${url}`);
  assert.equal(login.searchParams.get('origin'), pageOrigin, 'the popup names the page origin');
  const nonce = login.searchParams.get('nonce');
  assert.match(nonce ?? '', /^[A-Za-z0-9_-]{24}$/, "the popup carries the attempt's nonce (18 random bytes, base64url)");
  assert.equal(login.searchParams.get('relay'), relayUrl(pageOrigin), "the popup names the block's relay page, on the page origin");
  return nonce;
}

/**
 * The widget's console line for opening the popup: the URL up to its nonce, so that neither the
 * nonce nor the relay page is printed.
 */
export function popupOpenedLine(gatewayUrl, pageOrigin) {
  return exactLine(`${PREFIX} Opening OAuth2 authorize popup: ${gatewayUrl}/oauth/openedx/login?origin=${encodeURIComponent(pageOrigin)}`);
}

/**
 * The console line of a received frame of `type` (the keys of a frame may come in any order). The
 * widget cuts a long frame short in the console (after 400 characters) and the gateway writes the
 * keys in alphabetical order, so a long `history` shows its "has_more" and messages, not its "type".
 */
export function frame(type) {
  if (type === 'history') return /^\[IbalXBlock\] Received message: \{(?:.*"type":"history"|"has_more":)/;
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
      // The prefix may be followed by the sentence's punctuation ("…, with the course's chat ticket").
      assert.match(m[1], /^[^…\s]{0,8}…[,;.]?$/, `${what}: a token must appear as a short prefix + "…": ${line}`);
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

/** The chat tickets a recorded context received from the block's handler (after their bodies were read). */
export async function ticketsOf(rec) {
  await rec.settled();
  const tickets = rec.tickets.map((t) => t.ticket);
  assert.ok(tickets.every((t) => typeof t === 'string' && t.length > 0), `${rec.label}: every chat_ticket answer holds a ticket`);
  return tickets;
}

/** The WebSockets a page of a recorded context opened, in order. */
export function socketsOf(rec, page = 'page') {
  return rec.sockets.filter((s) => s.page === page);
}

function parsed(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Every frame of `type` the page received, over all its sockets, parsed (they may hold tokens: do not print whole). */
export function receivedFrames(rec, type, page = 'page') {
  return socketsOf(rec, page).flatMap((s) => s.received.map(parsed).filter((f) => f?.type === type));
}

/** The first frame each of the page's sockets sent (the `auth` frame), parsed. Holds a token and a ticket. */
export function authFrames(rec, page = 'page') {
  return socketsOf(rec, page)
    .filter((s) => s.sent.length > 0)
    .map((s) => parsed(s.sent[0]));
}

/**
 * The `context` object of the last `user_info` line of a console (`[IbalXBlock] Received message:
 * {"type":"user_info",…,"context":{…},…}`): what the widget printed, redacted and possibly cut short.
 */
export function loggedContext(lines) {
  const line = lines.filter((l) => frame('user_info').test(l)).at(-1);
  assert.ok(line, 'the console shows a received user_info frame');
  // Its members up to the course team's controls (starters, disclosure, exam), which may be cut off.
  const m = /"context":\{([^{}]*?)(?=,"(?:starters|disclosure|exam)"|\})/.exec(line);
  assert.ok(m, `the logged user_info frame shows its context: ${line}`);
  return JSON.parse(`{${m[1]}}`);
}

/** The usage id the XBlock printed for its block ("[IbalXBlock] Initializing chat block <usage id> with widget …"). */
export function loggedUsageId(lines) {
  const line = lineStarting(lines, `${PREFIX} Initializing chat block `);
  assert.ok(line, 'the console shows the block being initialised');
  return line.slice(`${PREFIX} Initializing chat block `.length).split(' ')[0];
}

/** A RegExp matching exactly `text` as a whole console line. */
export function exactLine(text) {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

/** The main page of a recorded context. */
function mainPage(rec) {
  const entry = rec.pages.find((p) => p.name === 'page');
  assert.ok(entry, `${rec.label}: the context has a page`);
  return entry.page;
}

/**
 * The last chat socket of a learner's page was opened in the course, with a ticket, as the XBlock
 * promises: the socket URL names no course (no query); its first frame is `auth` with the cached
 * access token and a ticket the block's handler minted; the ticket is signed for this gateway,
 * this student, this block, this role; the gateway's `user_info` answers with the ticket's context
 * and role, and the console's (redacted) user_info line names the same block.
 * `expect`: { student, usageId, role, title, instructions }. Resolves with the ticket's claims and
 * the user_info frame. Tokens and tickets are compared, never printed.
 */
export async function assertCourseSocket(rec, stack, expect) {
  const { student, usageId, role = 'learner', title, instructions = '' } = expect;
  const who = rec.label;
  const gatewayOrigin = new URL(stack.gateway.url).origin;
  const tickets = await ticketsOf(rec);
  assert.ok(tickets.length > 0, `${who}: the block's chat_ticket handler was asked for a ticket`);
  const socket = socketsOf(rec).at(-1);
  assert.ok(socket, `${who}: the page opened a chat socket`);
  assert.equal(socket.url, `${stack.gateway.url.replace(/^http/, 'ws')}/ws/chat/`, `${who}: the socket URL carries no course, block or token`);

  const auth = parsed(socket.sent[0] ?? '');
  assert.equal(auth?.type, 'auth', `${who}: the first frame on the socket is auth`);
  const [stored] = await storedTokens(mainPage(rec), stack.gateway.url);
  assert.ok(typeof auth.token === 'string' && auth.token === stored, `${who}: the auth frame carries the cached access token`);
  assert.ok(typeof auth.ticket === 'string' && tickets.includes(auth.ticket), `${who}: the auth frame carries a ticket the block's handler minted`);

  const { header, claims } = readTicket(auth.ticket);
  assert.deepEqual({ alg: header.alg, kid: header.kid }, { alg: 'RS256', kid: stack.tickets.kid }, `${who}: the ticket's header`);
  assert.deepEqual(
    {
      iss: claims.iss,
      aud: claims.aud,
      sub: claims.sub,
      preferred_username: claims.preferred_username,
      course_id: claims.course_id,
      usage_id: claims.usage_id,
      role: claims.role,
      title: claims.title,
      instructions: claims.instructions ?? '',
    },
    {
      iss: stack.tickets.issuer,
      aud: gatewayOrigin,
      // The workbench has no LMS user: its student id stands for both.
      sub: student,
      preferred_username: student,
      course_id: '',
      usage_id: usageId,
      role,
      title,
      instructions,
    },
    `${who}: the ticket's claims`,
  );
  assert.equal(claims.exp - claims.iat, 300, `${who}: the ticket lives TICKET_TTL (default 300 s)`);
  assert.ok(claims.exp * 1000 > Date.now() - 60_000, `${who}: the ticket was fresh`);
  assert.match(claims.jti ?? '', /^[0-9a-f]{32}$/, `${who}: the ticket has a random jti`);

  const info = socket.received.map(parsed).find((f) => f?.type === 'user_info');
  assert.ok(info, `${who}: the gateway answered the auth frame with user_info`);
  assert.equal(info.username, student, `${who}: user_info names the signed-in user`);
  assert.equal(info.role, role, `${who}: user_info's course role is the ticket's`);
  // (The course team's controls beside them, starters, disclosure, exam, are the callers' to check.)
  const { source, course_id: courseId, block_id: blockId, title: shownTitle } = info.context;
  assert.deepEqual(
    { source, course_id: courseId, block_id: blockId, title: shownTitle },
    { source: 'ticket', course_id: '', block_id: usageId, title },
    `${who}: user_info's context is the ticket's block`,
  );
  const logged = loggedContext(rec.texts('page'));
  assert.equal(logged.block_id, usageId, `${who}: the console's user_info line names the block`);
  assert.equal(logged.source, 'ticket', `${who}: the console's user_info line says the context comes from a ticket`);
  return { claims, info };
}
