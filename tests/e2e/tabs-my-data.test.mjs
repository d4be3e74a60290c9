// A block offering both the live course room and the assistant (mode "both": the workbench scenario
// of a unit with an HTML component), on an assistant gateway (CHAT_BACKEND=openai, the fake
// OpenAI-compatible server), and the learner's own data from the widget's My data menu, against the
// real gateway: each tab is a socket whose auth frame names its channel and gets that conversation;
// deleting the conversation starts a new one; the export downloads from the course page, another origin
// than the gateway's (the learner's own-data API answers the preflight of ALLOWED_ORIGINS).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe } from 'node:test';

import { screenshot } from './lib/browser.mjs';
import { PREFIX, assertLinesInOrder, assertNoTokens, exactLine, storedTokens, ticketsOf } from './lib/checks.mjs';
import { REPLY_RENDERED } from './lib/fake-openai.mjs';
import { openLearner, startAssistantStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { TEXT, signInWithPopup, waitUntil } from './lib/widget.mjs';

const API_KEY = 'sk-e2e-fake-openai-key-t4b5d4t4';
// ibal_xblock.py workbench_scenarios: the chat block there has mode="both".
const SCENARIO = 'ibalxblock.4';
const QUESTION = 'What do chloroplasts do?';
const ROOM_MESSAGE = 'Hello from the course room';

describe('XBlock tabs (mode both) and My data: download the export, delete the conversation', () => {
  let stack;
  let rec;
  let page;
  let widget;
  let conversation; // the assistant conversation's id
  const step = journey('tabs', () => [page]);

  /** The frames of socket `index` (in the order opened), parsed. */
  const frames = (index, dir) => rec.sockets[index][dir].map((t) => JSON.parse(t));
  /** Waits for socket `index`'s `user_info` and returns it. */
  const userInfo = (index) =>
    waitUntil(() => rec.sockets[index] && frames(index, 'received').find((f) => f.type === 'user_info'), `user_info on socket #${index}`);
  /** The tabs: [name, aria-selected]. */
  const tabs = () =>
    widget.root.getByRole('tab').evaluateAll((nodes) => nodes.map((n) => [n.textContent.trim(), n.getAttribute('aria-selected')]));
  const tab = (name) => widget.root.getByRole('tab', { name, exact: true });
  const focused = (locator) => locator.evaluate((e) => e === document.activeElement);
  const myData = () => widget.root.getByRole('button', { name: 'My data', exact: true });
  const menu = () => widget.root.getByRole('group', { name: 'My data', exact: true });
  const dataStatus = () => widget.root.locator('.ibal-data-status');

  before(async () => {
    stack = await startAssistantStack('tabs', API_KEY, { gapMs: 30 });
  });
  after(() => stack?.stop());

  step('a tablist, the Assistant tab selected; its socket asks for the assistant channel', async () => {
    ({ rec, page, widget } = await openLearner(stack, 'alice', SCENARIO));
    await widget.expectStartState('Click Start Chat to begin');
    assert.deepEqual(await tabs(), [['Course room', 'false'], ['Assistant', 'true']]);
    assert.equal(await widget.root.getByRole('tabpanel', { name: 'Assistant' }).count(), 1, 'the panel is named after its tab');
    await signInWithPopup(widget, rec);
    await widget.expectConnected('alice');
    assert.equal(frames(0, 'sent')[0].channel, 'assistant');
    const info = await userInfo(0);
    assert.equal(info.backend, 'openai', 'the assistant answers');
    conversation = info.conversation_id;
    await widget.acceptDisclosure(TEXT.disclosure);
    await widget.send(QUESTION);
    await widget.waitForBubble((b) => b.classes.includes('ibal-msg-assistant') && b.text === REPLY_RENDERED && !b.classes.includes('ibal-msg-streaming'), 'the reply');
    await screenshot(page, 'tabs-01-assistant');
  });

  step('the Course room tab: a new socket with channel "room", the room\'s conversation (empty), a message there', async () => {
    await tab('Course room').click();
    await waitUntil(() => rec.sockets.length === 2 && frames(1, 'sent').length > 0, 'a second socket and its auth frame');
    assert.equal(frames(1, 'sent')[0].channel, 'room');
    const info = await userInfo(1);
    assert.equal(info.backend, 'room');
    assert.notEqual(info.conversation_id, conversation, 'another conversation');
    await widget.expectConnected('alice');
    assert.deepEqual(await tabs(), [['Course room', 'true'], ['Assistant', 'false']]);
    assert.ok(await focused(tab('Course room')), 'the focus on the selected tab');
    assert.equal(await widget.bubbles.count(), 0, "the assistant's messages are not the room's");
    await widget.send(ROOM_MESSAGE);
    assert.equal(await page.evaluate(() => sessionStorage.getItem(Object.keys(sessionStorage).find((k) => k.startsWith('ibal-widget:tab:')))), 'room');
    await screenshot(page, 'tabs-02-room');
  });

  step('ArrowRight goes back to the Assistant tab: its conversation comes back', async () => {
    await tab('Course room').press('ArrowRight');
    await waitUntil(() => rec.sockets.length === 3 && frames(2, 'sent').length > 0, 'a third socket and its auth frame');
    assert.equal(frames(2, 'sent')[0].channel, 'assistant');
    assert.equal((await userInfo(2)).conversation_id, conversation, 'the same assistant conversation');
    await widget.waitForBubble((b) => b.text === QUESTION, 'the history of the assistant conversation');
    assert.ok(!(await widget.bubbleFacts()).some((b) => b.text === ROOM_MESSAGE), 'not the room message');
    assert.deepEqual(await tabs(), [['Course room', 'false'], ['Assistant', 'true']]);
    assert.ok(await focused(tab('Assistant')));
  });

  step('My data › Delete this conversation, confirmed: DELETE /api/v1/conversations/{id} (204); the chat goes on in a new one', async () => {
    await myData().click();
    assert.equal(await myData().getAttribute('aria-expanded'), 'true');
    const actions = (await menu().getByRole('button').allTextContents()).map((t) => t.trim());
    assert.deepEqual(actions.slice(0, 2), ['Download my data', 'Delete this conversation']);
    assert.ok(!actions.includes('Delete my account'), 'not for an account of the LMS');
    await menu().getByRole('button', { name: 'Delete this conversation' }).click();
    assert.ok(await focused(menu().getByRole('button', { name: 'Cancel' })), 'the focus on Cancel');
    assert.equal((await dataStatus().textContent()).trim(), 'Delete this conversation for good?');
    const url = `${stack.gateway.url}/api/v1/conversations/${conversation}`;
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === url && r.request().method() === 'DELETE'),
      menu().getByRole('button', { name: 'Confirm' }).click(),
    ]);
    assert.equal(response.status(), 204);
    await waitUntil(() => rec.sockets.length === 4 && frames(3, 'sent').length > 0, 'a new socket and its auth frame');
    const info = await userInfo(3);
    assert.notEqual(info.conversation_id, conversation, 'a new conversation');
    await widget.expectConnected('alice');
    assert.equal(await widget.bubbles.count(), 0, 'the deleted messages are gone');
    assert.equal((await dataStatus().textContent()).trim(), 'The conversation was deleted.');
    // Escape closes the menu and gives the focus back to My data.
    await menu().getByRole('button', { name: 'Download my data' }).press('Escape');
    await menu().waitFor({ state: 'hidden' });
    assert.ok(await focused(myData()));
    await screenshot(page, 'tabs-04-deleted');
  });

  step('the console logs the tabs and My data, never a token', async () => {
    assertLinesInOrder(
      rec.texts('page'),
      [
        exactLine(`${PREFIX} Chat button activated: room`),
        exactLine(`${PREFIX} Chat button activated: data`),
        exactLine(`${PREFIX} Chat button activated: forget`),
        exactLine(`${PREFIX} Chat button activated: confirm`),
        exactLine(`${PREFIX} My data: forget: done`),
      ],
      "alice's console",
    );
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the pages');
    assert.deepEqual(rec.httpErrors, [], 'no failed requests');
    const secrets = [...(await storedTokens(page, stack.gateway.url)), ...stack.lms.log.issued.map((i) => i.token), API_KEY, ...(await ticketsOf(rec))];
    assertNoTokens(rec.texts(), secrets, "alice's console");
  });

  step(
    'My data › Download my data, confirmed, from the course page: GET /api/v1/me/export with the token, saved as ibal-my-data.json',
    async () => {
      await myData().click();
      await menu().getByRole('button', { name: 'Download my data' }).click();
      assert.equal((await dataStatus().textContent()).trim(), 'Download all your data from the chat, as a file?');
      const downloaded = page.waitForEvent('download', { timeout: 5000 }).catch(() => null);
      await menu().getByRole('button', { name: 'Confirm' }).click();
      const said = await waitUntil(async () => {
        const text = (await dataStatus().textContent()).trim();
        return text !== 'Please wait…' && text;
      }, 'the widget says how it went');
      assert.equal(said, 'Your data was downloaded.', 'the export reached the course page');
      const download = await downloaded;
      assert.equal(download?.suggestedFilename(), 'ibal-my-data.json');
      const data = JSON.parse(await readFile(await download.path(), 'utf8'));
      assert.equal(data.user.username, 'alice');
    },
  );
});
