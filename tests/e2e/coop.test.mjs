// Sign-in when the course page sends `Cross-Origin-Opener-Policy: same-origin`, as Django's
// SecurityMiddleware does by default (SECURE_CROSS_ORIGIN_OPENER_POLICY): the popup, once on the
// gateway's origin, has no `window.opener` to post to. docs/protocol.md, "Signing in", step 4: the
// popup says so, the learner confirms, the result is released to the sign-in handle, and the widget,
// which polls /oauth/openedx/result, finishes the sign-in by itself.
//
// The workbench sends no such header (it has no SecurityMiddleware): the course page is loaded
// through a proxy that adds it, as the LMS would send it.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { newRecordedContext, screenshot } from './lib/browser.mjs';
import { startCoopProxy } from './lib/coop-proxy.mjs';
import { freePort } from './lib/processes.mjs';
import { PREFIX, assertCourseSocket, assertLinesInOrder, assertNoTokens, exactLine, loggedUsageId, storedTokens, ticketsOf } from './lib/checks.mjs';
import { startXBlockStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { ChatWidget, waitUntil } from './lib/widget.mjs';

describe('XBlock sign-in from a course page with Cross-Origin-Opener-Policy: same-origin (the popup loses its opener)', () => {
  let stack;
  let rec;
  let page;
  let popup;
  let widget;
  let proxy; // the course page's origin
  const step = journey('coop', () => [page, popup]);

  before(async () => {
    const proxyPort = await freePort();
    stack = await startXBlockStack('coop', { CHAT_BACKEND: 'room', ALLOWED_ORIGINS: `http://127.0.0.1:${proxyPort}` });
    proxy = await startCoopProxy(stack.workbench.url, { port: proxyPort });
  });
  after(async () => {
    await proxy?.close();
    await stack?.stop();
  });

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

  step('Start Chat: the popup signs in at the LMS, finds no opener and asks the learner to continue', async () => {
    const opened = rec.context.waitForEvent('page');
    await widget.startButton.click();
    popup = await opened;
    const cont = popup.getByRole('button', { name: 'Continue to the chat' });
    await cont.waitFor({ state: 'visible', timeout: 15000 }).catch(async (err) => {
      const text = await popup.locator('body').innerText().catch(() => '(closed)');
      throw new assert.AssertionError({ message: `the popup should offer "Continue to the chat" (${err.message}); it shows: ${text.slice(0, 400)}` });
    });
    assert.ok(popup.url().startsWith(`${stack.gateway.url}/oauth/openedx/callback?`), `the popup is on the callback: ${popup.url()}`);
    assert.equal(await popup.locator('#ibal-no-opener').isVisible(), true, 'the popup explains that the course page cannot be reached');
    assert.equal(await widget.statusClass(), 'ibal-status-authenticating', 'the widget is still signing in');
    await screenshot(popup, 'coop-01-popup-continue');
    await screenshot(page, 'coop-02-widget-waiting');
  });

  step('Continue to the chat releases the result; the widget fetches it and connects as alice; a message is acknowledged', async () => {
    await popup.getByRole('button', { name: 'Continue to the chat' }).click();
    await waitUntil(
      async () => popup.isClosed() || (await popup.locator('#ibal-message').textContent()).startsWith('Done.'),
      'the popup should confirm the hand-over',
    );
    await widget.expectConnected('alice', { timeoutMs: 15000 });
    await waitUntil(() => popup.isClosed(), 'the popup should close itself after the hand-over', { timeoutMs: 5000 });
    // The course page asked its block for a ticket (through the same proxy) and the chat is in the unit.
    await assertCourseSocket(rec, stack, { student: 'alice', usageId: loggedUsageId(rec.texts('page')), title: 'IBAL Chat' });
    await widget.send('Signed in through the hand-over');
    await screenshot(page, 'coop-03-connected');
  });

  step('the console tells the story, without a whole token or ticket', async () => {
    const lines = rec.texts('page');
    assertLinesInOrder(
      lines,
      [
        `${PREFIX} Start Chat button activated`,
        `${PREFIX} Opening OAuth2 authorize popup: ${stack.gateway.url}/oauth/openedx/login?`,
        `${PREFIX} Sign-in result fetched from the gateway`,
        `${PREFIX} Signed in as alice; access token: `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Chat ticket received from the course`,
        exactLine(`${PREFIX} Opening WebSocket connection to: ${stack.gateway.url.replace('http', 'ws')}/ws/chat/`),
        `${PREFIX} WebSocket connection opened`,
        `${PREFIX} Authenticated on the chat as alice`,
      ],
      "alice's console",
    );
    const popupLines = rec.consoleLines.filter((l) => l.page !== 'page').map((l) => l.text);
    assert.ok(!popupLines.some((l) => l.startsWith(`${PREFIX} Sign-in result sent to`)), 'the popup had no opener to post to');
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the pages');
    // While the result is pending the widget's polls are answered 404 {"error":{"code":"pending"}}.
    const unexpected = rec.httpErrors.filter((e) => !e.startsWith(`404 GET ${stack.gateway.url}/oauth/openedx/result?handle=`));
    assert.deepEqual(unexpected, [], 'no failed requests besides the pending polls');
    const tickets = await ticketsOf(rec);
    const secrets = [...(await storedTokens(page, stack.gateway.url)), ...stack.lms.log.issued.map((i) => i.token), ...tickets];
    assertNoTokens(rec.texts(), secrets, "alice's console");
    assertNoTokens(stack.gateway.log().split('\n'), secrets, 'the gateway log');
    assertNoTokens(stack.workbench.proc.log().split('\n'), [...tickets, ...stack.tickets.privateKeyLines], 'the workbench log');
  });
});
