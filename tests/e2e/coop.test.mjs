// Sign-in when the course page sends `Cross-Origin-Opener-Policy: same-origin`, as Django's
// SecurityMiddleware does by default (SECURE_CROSS_ORIGIN_OPENER_POLICY): the popup, once on the
// gateway's origin, has no `window.opener` to post to. docs/protocol.md, "Signing in from a page on
// another origin", step 4: the gateway's callback page sends the popup to the block's relay page, on
// the course page's own origin, with the result in the URL fragment; the relay page takes it off the
// address bar, hands it to the widget over a BroadcastChannel and closes. The learner clicks nothing
// in the popup.
//
// The workbench sends no such header (it has no SecurityMiddleware): the course page, and the relay
// page with it, are loaded through a proxy that adds it, as the LMS would send it.
//
// Then an attacker, in a browser of their own, tries what the old sign-in hand-over allowed: fetching
// or releasing a sign-in result by its handle, and replaying the learner's callback. None of it
// yields a token.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { newRecordedContext, screenshot } from './lib/browser.mjs';
import { startCoopProxy } from './lib/coop-proxy.mjs';
import { freePort } from './lib/processes.mjs';
import {
  PREFIX,
  assertCourseSocket,
  assertLinesInOrder,
  assertNoTokens,
  assertPopupLoginUrl,
  exactLine,
  loggedUsageId,
  popupOpenedLine,
  printable,
  relayUrl,
  storedTokens,
  ticketsOf,
} from './lib/checks.mjs';
import { RELAY_PATH } from './lib/stack.mjs';
import { startXBlockStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { ChatWidget, waitUntil } from './lib/widget.mjs';

const SIGNED_IN = 'You are signed in. You can close this window.';
const MARKER = '#ibal-auth=';

describe('XBlock sign-in from a course page with Cross-Origin-Opener-Policy: same-origin (the popup loses its opener)', () => {
  let stack;
  let rec;
  let page;
  let popup;
  let widget;
  let proxy; // the course page's origin
  let nonce; // alice's sign-in attempt
  let callbackUrl; // where the LMS sent alice's popup back, with its code and state
  let attacker;
  const step = journey('coop', () => [page, popup, attacker?.pages[0]?.page]);

  before(async () => {
    const proxyPort = await freePort();
    stack = await startXBlockStack('coop', { CHAT_BACKEND: 'room', ALLOWED_ORIGINS: `http://127.0.0.1:${proxyPort}` });
    proxy = await startCoopProxy(stack.workbench.url, { port: proxyPort });
  });
  after(async () => {
    await proxy?.close();
    await stack?.stop();
  });

  /** The popup's own console lines (the gateway's callback page, then the relay page). */
  const popupLines = () => rec.consoleLines.filter((l) => l.page !== 'page').map((l) => l.text);

  step('the course page is served with COOP same-origin and shows Start Chat', async () => {
    rec = await newRecordedContext(stack.browser, {
      label: 'alice',
      cookies: [{ name: 'fake_lms_user', value: 'alice', url: stack.lms.url }],
    });
    stack.contexts.push(rec.context);
    page = await rec.newPage();
    const response = await page.goto(stack.workbench.scenarioUrl('alice').replace(stack.workbench.url, proxy.url));
    assert.equal((await response.allHeaders())['cross-origin-opener-policy'], 'same-origin');
    widget = new ChatWidget(page);
    await widget.expectStartState();
  });

  step("Start Chat: the popup signs in at the LMS, finds no opener, hands the result to the course page's relay page and closes; the widget connects by itself", async () => {
    const before = rec.navigations.length;
    const opened = rec.context.waitForEvent('page');
    await widget.startButton.click();
    popup = await opened;
    // Nothing is clicked in the popup: the widget gets the result and connects on its own.
    await widget.expectConnected('alice', { timeoutMs: 20000 });
    await waitUntil(() => popup.isClosed(), 'the relay page should close the popup by itself', { timeoutMs: 5000 }).catch(async (err) => {
      const text = await popup.locator('body').innerText().catch(() => '(closed)');
      throw new assert.AssertionError({ message: `${err.message}; the popup is at ${printable(popup.url())} and shows: ${text.slice(0, 400)}` });
    });
    await screenshot(page, 'coop-01-connected');

    // The popup's way: the gateway's login (with the block's relay page on the course page's
    // origin), the LMS, the gateway's callback, then the relay page, fetched without its fragment.
    const navs = rec.navigations.slice(before);
    const shown = navs.map((u) => new URL(u).pathname).join(' → ');
    assert.equal(navs.length, 4, `popup navigations: ${shown}`);
    nonce = assertPopupLoginUrl(navs[0], { gatewayUrl: stack.gateway.url, pageOrigin: proxy.url });
    assert.ok(navs[1].startsWith(`${stack.lms.url}/oauth2/authorize?`), `then the LMS: ${shown}`);
    assert.ok(navs[2].startsWith(`${stack.gateway.url}/oauth/openedx/callback?`), `then the gateway's callback: ${shown}`);
    callbackUrl = navs[2];
    assert.equal(navs[3], relayUrl(proxy.url), `then the relay page on the course page's origin: ${shown}`);

    // What a server saw of the relay page: its path, no result; and it came with the course
    // page's opener policy, as the LMS serves it.
    const served = proxy.log.filter((r) => r.url.startsWith(RELAY_PATH));
    assert.deepEqual(
      served.map((r) => [r.method, r.url, r.status, r.coop]),
      [['GET', RELAY_PATH, 200, 'same-origin']],
      'the proxy served the relay page once, without the sign-in result, with COOP same-origin',
    );
    assert.ok(!proxy.log.some((r) => r.url.includes('ibal-auth') || r.url.includes('access_token')), 'no request to the course origin carried the result');

    // The popup's address: the relay page with the result in its fragment, then the same page
    // without it (history.replaceState) before it closed.
    const addresses = rec.pageUrls.filter((u) => u.page !== 'page').map((u) => u.url);
    const withResult = addresses.filter((u) => u.startsWith(`${relayUrl(proxy.url)}${MARKER}`));
    assert.equal(withResult.length, 1, `the popup went to the relay page with the result in the fragment: ${addresses.map(printable).join(' → ')}`);
    const result = JSON.parse(decodeURIComponent(withResult[0].slice(relayUrl(proxy.url).length + MARKER.length)));
    const [access] = await storedTokens(page, stack.gateway.url);
    assert.equal(result.type, 'ibal:auth', 'the fragment holds a sign-in result');
    assert.equal(result.nonce, nonce, "the result repeats the attempt's nonce");
    assert.equal(result.username, 'alice');
    assert.ok(result.access_token === access, 'the relayed access token is the one the widget cached');
    assert.equal(addresses.at(-1), relayUrl(proxy.url), `the relay page took the result off the address bar before closing: ${addresses.map(printable).join(' → ')}`);

    // What the relay page showed, and that the address held no fragment any more by then.
    const reports = rec.relayReports.filter((r) => r.page !== 'page');
    const last = reports.at(-1);
    assert.ok(last, 'the relay page showed a status line');
    assert.deepEqual(last, { page: last.page, text: SIGNED_IN, hasFragment: false, url: relayUrl(proxy.url) }, 'the relay page says the learner is signed in, with a clean address');

    // The course page asked its block for a ticket (through the same proxy) and the chat is in the unit.
    await assertCourseSocket(rec, stack, { student: 'alice', usageId: loggedUsageId(rec.texts('page')), title: 'IBAL Chat' });
    await widget.send('Signed in through the relay page');
    await screenshot(page, 'coop-02-sent');
  });

  step("the popup's and the widget's console lines tell that story: no opener, relayed over the BroadcastChannel", async () => {
    const lines = rec.texts('page');
    assertLinesInOrder(
      lines,
      [
        `${PREFIX} Start Chat button activated`,
        popupOpenedLine(stack.gateway.url, proxy.url),
        // The widget heard it on the BroadcastChannel, not from the popup (which could not post).
        exactLine(`${PREFIX} Sign-in result received from the course page's relay`),
        `${PREFIX} Signed in as alice; access token: `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Chat ticket received from the course`,
        exactLine(`${PREFIX} Opening WebSocket connection to: ${stack.gateway.url.replace('http', 'ws')}/ws/chat/`),
        `${PREFIX} WebSocket connection opened`,
        `${PREFIX} Authenticated on the chat as alice`,
      ],
      "alice's console",
    );
    assert.ok(!lines.some((l) => l.startsWith(`${PREFIX} Sign-in result received from the popup`)), 'no message came from the popup itself');
    const fromPopup = popupLines();
    // The callback page leaves for the relay page at once after its line, which Chromium may then
    // not deliver (the navigation to the relay page is the proof of that step); the relay page waits
    // 100 ms before closing, so its line arrives.
    const going = `${PREFIX} Sign-in result going to the course page's relay`;
    const relayed = `${PREFIX} Sign-in result relayed to the course page`;
    assertLinesInOrder(fromPopup, [...(fromPopup.includes(going) ? [exactLine(going)] : []), exactLine(relayed)], "the popup's console");
    assert.deepEqual(
      fromPopup.filter((l) => l !== going && l !== relayed),
      [],
      'the popup printed nothing else (no token, no nonce, no error)',
    );
    assert.ok(!fromPopup.some((l) => l.startsWith(`${PREFIX} Sign-in result sent to`)), 'the popup had no opener to post to');
    assert.ok(![...lines, ...fromPopup].some((l) => l.includes(nonce)), 'no console line prints the nonce');
    // The result was never parked at the gateway for the widget to collect.
    const collected = rec.requestLines.filter((l) => /\/oauth\/openedx\/(result|release)\b/.test(l));
    assert.deepEqual(collected, [], 'no request to /oauth/openedx/result or /oauth/openedx/release was made');
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the pages');
    assert.deepEqual(rec.httpErrors, [], 'no failed requests');
    assert.ok(!stack.gateway.log().includes('the relay page is not on the page'), 'the gateway accepted the relay page (AUTH_RELAY_PATHS)');
  });

  step("an attacker's browser, without alice's session, gets no token: no result or release endpoint, and alice's callback does not replay", async () => {
    attacker = await newRecordedContext(stack.browser, { label: 'mallory' });
    stack.contexts.push(attacker.context);
    const { request } = attacker.context;
    const gw = stack.gateway.url;
    const [access, refresh] = await storedTokens(page, gw);
    const exchanges = stack.lms.log.token.filter((t) => t.ok).length;
    const leaks = (body) => body.includes(access) || body.includes(refresh) || /eyJ[A-Za-z0-9_-]{10,}\./.test(body);

    // The hand-over endpoints are gone, whatever the handle (alice's nonce, which a crafted link
    // would know, or the 43-character handles the old hand-over used).
    for (const handle of [nonce, 'A'.repeat(43)]) {
      const res = await request.get(`${gw}/oauth/openedx/result?handle=${encodeURIComponent(handle)}`);
      assert.equal(res.status(), 404, 'GET /oauth/openedx/result does not exist');
      assert.ok(!leaks(await res.text()), 'and gives away no token');
      const released = await request.post(`${gw}/oauth/openedx/release`, { form: { handle } });
      assert.ok([404, 405].includes(released.status()), `POST /oauth/openedx/release does not exist (got ${released.status()})`);
      assert.ok(!leaks(await released.text()), 'and gives away no token');
    }
    const byNonce = await request.get(`${gw}/oauth/openedx/result?nonce=${encodeURIComponent(nonce)}`);
    assert.equal(byNonce.status(), 404, 'nor by the nonce');
    assert.ok(!leaks(await byNonce.text()), 'and gives away no token');

    // Alice's callback (its code and state) in another browser: the state belongs to alice's
    // session, so the gateway refuses it before asking the LMS anything.
    const attackerPage = await attacker.newPage();
    const replay = await attackerPage.goto(callbackUrl);
    assert.equal(replay.status(), 400, "replaying alice's callback elsewhere is refused");
    const body = await replay.text();
    assert.ok(!leaks(body), 'the refusal holds no token');
    assert.match(await attackerPage.locator('body').innerText(), /Sign-in expired/, 'the attacker sees that the attempt is unknown');
    assert.equal(stack.lms.log.token.filter((t) => t.ok).length, exchanges, 'no code was exchanged for the attacker');
    assert.deepEqual(attacker.relayReports, [], "nothing reached a relay page in the attacker's browser");
    await screenshot(attackerPage, 'coop-03-attacker-replay');

    // Alice is still connected: none of this touched her chat.
    assert.equal(await widget.statusClass(), 'ibal-status-connected');
  });

  step('no console or log line holds a whole token or ticket', async () => {
    const tickets = await ticketsOf(rec);
    const secrets = [...(await storedTokens(page, stack.gateway.url)), ...stack.lms.log.issued.map((i) => i.token), ...tickets];
    assertNoTokens(rec.texts(), secrets, "alice's console");
    assertNoTokens(attacker.texts(), secrets, "the attacker's console");
    assertNoTokens(stack.gateway.log().split('\n'), secrets, 'the gateway log');
    assertNoTokens(stack.workbench.proc.log().split('\n'), [...tickets, ...stack.tickets.privateKeyLines], 'the workbench log');
  });
});
