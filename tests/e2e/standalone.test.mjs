// The gateway's own page (GET /) with local accounts: the same widget, signed in through its local
// form instead of the Open edX popup; then the learner's own data from its My data menu: the export
// downloaded as a file, and the local account deleted.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe } from 'node:test';

import { launchBrowser, newRecordedContext, screenshot } from './lib/browser.mjs';
import { PREFIX, assertLinesInOrder, assertNoTokens, authFrames, exactLine, frame, receivedFrames, socketsOf, storedTokens } from './lib/checks.mjs';
import { stopAll } from './lib/processes.mjs';
import { startGateway } from './lib/stack.mjs';
import { journey } from './lib/steps.mjs';
import { ChatWidget, waitUntil } from './lib/widget.mjs';

const USERNAME = 'carol';
const PASSWORD = 'correct horse battery staple';
const MESSAGE = 'First message from the standalone page';

describe('standalone page of the gateway (LOCAL_ACCOUNTS=true, room chat)', () => {
  let gateway;
  let browser;
  let rec;
  let page;
  let widget;
  const step = journey('standalone', () => [page]);

  before(async () => {
    gateway = await startGateway('standalone', { env: { LOCAL_ACCOUNTS: 'true', CHAT_BACKEND: 'room' } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await gateway?.stop();
    await stopAll();
  });

  step('GET / shows the gateway as available and the widget in its start state', async () => {
    rec = await newRecordedContext(browser, { label: 'carol' });
    page = await rec.newPage();
    await page.goto(`${gateway.url}/`);
    await waitUntil(
      async () => (await page.locator('#ibal-health').textContent()).startsWith('available'),
      'the health badge should say available',
    );
    widget = new ChatWidget(page);
    await widget.expectStartState();
    await screenshot(page, 'standalone-01-start');
  });

  step('Start Chat shows the local form; Create account signs carol in; Connected', async () => {
    await widget.startButton.click();
    await widget.loginForm.waitFor({ state: 'visible' });
    await widget.loginForm.getByLabel('Username').fill(USERNAME);
    await widget.loginForm.getByLabel('Password').fill(PASSWORD);
    await screenshot(page, 'standalone-02-form');
    await widget.loginForm.getByRole('button', { name: 'Create account' }).click();
    await widget.expectConnected(USERNAME);
  });

  step("without a course there is no ticket: the socket is in the gateway's own context", async () => {
    const [socket] = socketsOf(rec);
    assert.equal(socket?.url, `${gateway.url.replace(/^http/, 'ws')}/ws/chat/`, 'the socket URL carries nothing');
    const [auth] = authFrames(rec);
    assert.equal(auth?.type, 'auth', 'the first frame is auth');
    assert.equal('ticket' in auth, false, 'the standalone page has no chat ticket to send');
    const [info] = receivedFrames(rec, 'user_info');
    assert.deepEqual(info?.context, { source: 'gateway', course_id: '', block_id: '', title: '' }, "user_info: the gateway's own context");
  });

  step('a message sent in the room is acknowledged by the gateway', async () => {
    const b = await widget.send(MESSAGE);
    assert.equal(b.text, MESSAGE);
    await screenshot(page, 'standalone-03-sent');
  });

  step('the console has the sign-in and chat lines, no whole token or password, no CSP violation', async () => {
    const lines = rec.texts('page');
    assertLinesInOrder(
      lines,
      [
        `${PREFIX} Chat widget ready for (no block id) (sign-in: local`,
        `${PREFIX} Start Chat button activated`,
        `${PREFIX} Creating the account ${USERNAME}`,
        `${PREFIX} Signed in as ${USERNAME}; access token: `,
        exactLine(`${PREFIX} Opening WebSocket connection to: ${gateway.url.replace('http', 'ws')}/ws/chat/`),
        `${PREFIX} WebSocket connection opened`,
        /^\[IbalXBlock\] Using access_token for WebSocket: [^…\s]{0,8}…$/,
        `${PREFIX} Authenticated on the chat as ${USERNAME}`,
        frame('message'),
      ],
      'the standalone console',
    );
    const csp = lines.filter((l) => /Content Security Policy|Refused to (load|execute|apply|connect)/i.test(l));
    assert.deepEqual(csp, [], 'the page CSP lets the widget run');
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the page');
    assert.deepEqual(rec.httpErrors, [], 'no failed requests');
    const secrets = [...(await storedTokens(page, gateway.url)), PASSWORD];
    assertNoTokens(rec.texts(), secrets, 'the standalone console');
    assertNoTokens(gateway.log().split('\n'), secrets, 'the gateway log');
  });

  step('My data › Download my data, confirmed: GET /api/v1/me/export with the token (200), saved as ibal-my-data.json', async () => {
    const [access] = await storedTokens(page, gateway.url);
    const myData = widget.root.getByRole('button', { name: 'My data', exact: true });
    const menu = widget.root.getByRole('group', { name: 'My data', exact: true });
    await myData.click();
    // A room is no one's conversation: nothing to delete there; a local account may be deleted.
    const actions = (await menu.getByRole('button').allTextContents()).map((t) => t.trim());
    assert.deepEqual(actions.filter((a) => !['Confirm', 'Cancel'].includes(a)), ['Download my data', 'Delete my account']);
    await menu.getByRole('button', { name: 'Download my data' }).click();
    const [response, download] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${gateway.url}/api/v1/me/export` && r.request().method() === 'GET'),
      page.waitForEvent('download'),
      menu.getByRole('button', { name: 'Confirm' }).click(),
    ]);
    assert.equal(response.status(), 200);
    assert.equal(await response.request().headerValue('authorization'), `Bearer ${access}`, 'with the access token');
    assert.equal(download.suggestedFilename(), 'ibal-my-data.json');
    const data = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.equal(data.user.username, USERNAME);
    assert.ok(data.room_messages.some((m) => m.content === MESSAGE), 'the export holds what carol wrote in the room');
    await waitUntil(
      async () => (await widget.root.locator('.ibal-data-status').textContent()).trim() === 'Your data was downloaded.',
      'the widget says so',
    );
    await screenshot(page, 'standalone-04-downloaded');
  });

  step('My data › Delete my account, confirmed: DELETE /api/v1/me (200); signed out and told so; the account is gone', async () => {
    const menu = widget.root.getByRole('group', { name: 'My data', exact: true });
    await menu.getByRole('button', { name: 'Delete my account' }).click();
    assert.equal((await widget.root.locator('.ibal-data-status').textContent()).trim(), 'Delete your account and all its data for good?');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${gateway.url}/api/v1/me` && r.request().method() === 'DELETE'),
      menu.getByRole('button', { name: 'Confirm' }).click(),
    ]);
    assert.equal(response.status(), 200);
    await widget.startButton.waitFor({ state: 'visible' });
    assert.equal((await widget.noticeMessage.textContent()).trim(), 'Your account was deleted.');
    assert.equal(await page.evaluate((key) => localStorage.getItem(key), `ibal-widget:token:${gateway.url}`), null, 'the token is forgotten');
    // Signing in as carol again fails: the account is no more.
    await widget.startButton.click();
    await widget.loginForm.waitFor({ state: 'visible' });
    await widget.loginForm.getByLabel('Username').fill(USERNAME);
    await widget.loginForm.getByLabel('Password').fill(PASSWORD);
    await widget.loginForm.getByRole('button', { name: 'Sign in' }).click();
    await waitUntil(async () => (await widget.noticeText()).startsWith('Sign-in failed'), 'the sign-in should be refused');
    await screenshot(page, 'standalone-05-account-deleted');
    assertLinesInOrder(
      rec.texts('page'),
      [exactLine(`${PREFIX} My data: export: done`), exactLine(`${PREFIX} My data: erase: done`), exactLine(`${PREFIX} Signing out`)],
      'the standalone console',
    );
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the page');
  });
});
