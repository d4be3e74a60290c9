// The IBAL XBlock journey in the xblock-sdk workbench with the live course room (CHAT_BACKEND=room):
// two learners, alice and bob, each in a browser context of their own, sign in through the Open edX
// popup and chat in the same unit.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { newRecordedContext, screenshot } from './lib/browser.mjs';
import { PREFIX, assertLinesInOrder, assertNoTokens, assertPopupLines, frame, lineStarting, storedTokens } from './lib/checks.mjs';
import { startXBlockStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { ChatWidget, assertReceivedBubble, signInWithPopup, waitUntil } from './lib/widget.mjs';

const FIRST = 'Hello from Alice! Is anyone working on exercise 3?';
const REPLY = 'Hi Alice, yes: <b>not bold</b> & still text';
const LIVE = 'Great, see you in the lab.';

describe('XBlock journey in the workbench, live course room (CHAT_BACKEND=room)', () => {
  let stack;
  let alice; // { rec, page, widget }
  let bob;
  const step = journey('room', () => [alice?.page, bob?.page]);

  before(async () => {
    stack = await startXBlockStack('room', { CHAT_BACKEND: 'room' });
  });
  after(async () => {
    await stack?.stop();
  });

  async function openLearner(username) {
    const rec = await newRecordedContext(stack.browser, {
      label: username,
      cookies: [{ name: 'fake_lms_user', value: username, url: stack.lms.url }],
    });
    stack.contexts.push(rec.context);
    const page = await rec.newPage();
    await page.goto(stack.workbench.scenarioUrl(username));
    return { rec, page, widget: new ChatWidget(page) };
  }

  step('the workbench page shows the IBAL XBlock: green Start Chat and "Click Start Chat to begin"', async () => {
    alice = await openLearner('alice');
    await alice.widget.expectStartState();
    await screenshot(alice.page, 'room-01-start');
  });

  step('Start Chat opens the popup at /oauth/openedx/login; the LMS signs alice in; the popup posts back and closes; Connected as alice', async () => {
    const { gateway, lms, workbench } = stack;
    const navs = await signInWithPopup(alice.widget, alice.rec);
    await alice.widget.expectConnected('alice');
    assert.ok(await alice.widget.input.evaluate((el) => document.activeElement === el), 'once connected, the focus is in the message box');
    await screenshot(alice.page, 'room-02-alice-connected');

    // The popup's way: the gateway's login, the LMS's authorize, the gateway's callback.
    assert.ok(navs.length >= 3, `popup navigations: ${navs.join(' → ')}`);
    const login = new URL(navs[0]);
    assert.equal(`${login.origin}${login.pathname}`, `${gateway.url}/oauth/openedx/login`, 'the popup opens at the gateway');
    assert.equal(login.searchParams.get('origin'), workbench.url, 'the popup names the page origin');
    assert.match(login.searchParams.get('handle') ?? '', /^[A-Za-z0-9_-]{43}$/, 'the popup carries the sign-in handle');
    const authorize = new URL(navs[1]);
    assert.equal(`${authorize.origin}${authorize.pathname}`, `${lms.url}/oauth2/authorize`);
    const q = Object.fromEntries(authorize.searchParams);
    assert.equal(q.response_type, 'code');
    assert.equal(q.client_id, lms.clientId);
    assert.equal(q.redirect_uri, `${gateway.url}/oauth/openedx/callback`);
    assert.equal(q.code_challenge_method, 'S256');
    assert.match(q.code_challenge ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(q.state && q.state.length >= 16, 'a state of some length');
    assert.deepEqual((q.scope ?? '').split(' ').sort(), ['email', 'profile']);
    const callback = new URL(navs[2]);
    assert.equal(`${callback.origin}${callback.pathname}`, `${gateway.url}/oauth/openedx/callback`);
    assert.equal(callback.searchParams.get('state'), q.state);

    // The code was exchanged once, for an asymmetric JWT, with the PKCE verifier.
    const exchanges = lms.log.token.filter((t) => t.ok);
    assert.equal(exchanges.length, 1, `one successful code exchange: ${JSON.stringify(lms.log.token)}`);
    assert.equal(exchanges[0].grant_type, 'authorization_code');
    assert.equal(exchanges[0].token_type, 'jwt');
    assert.equal(exchanges[0].asymmetric_jwt, '1');
    assert.equal(exchanges[0].redirect_uri, `${gateway.url}/oauth/openedx/callback`);
  });

  step('alice types a message and presses Enter: a blue sent bubble with a timestamp', async () => {
    const b = await alice.widget.send(FIRST);
    assert.equal(b.text, FIRST);
    await screenshot(alice.page, 'room-03-alice-sent');
  });

  step("bob, in another context, joins the same unit's room and sees alice's message as a white received bubble", async () => {
    bob = await openLearner('bob');
    await bob.widget.expectStartState();
    await signInWithPopup(bob.widget, bob.rec);
    await bob.widget.expectConnected('bob');
    const got = await bob.widget.waitForBubble((b) => b.text === FIRST, "bob should see alice's message (history of the room)");
    assertReceivedBubble(got, 'alice');

    // Same unit, same room: both sockets name the same block.
    const socketUrl = (who) => lineStarting(who.rec.texts('page'), `${PREFIX} Opening WebSocket connection to:`);
    const blockOf = (line) => new URL(line.split(': ').pop()).searchParams.get('block_id');
    assert.ok(blockOf(socketUrl(alice)), 'the socket URL carries the block id');
    assert.equal(blockOf(socketUrl(bob)), blockOf(socketUrl(alice)), 'both learners chat in the same block');

    // The room counts both.
    for (const who of [alice, bob]) {
      await waitUntil(async () => (await who.widget.presence.textContent()).includes('2'), `${who.rec.label} should see 2 online`);
    }
    await screenshot(bob.page, 'room-04-bob-joined');
  });

  step('bob answers: alice sees "bob is typing…", then his message live, as text, in a white bubble; alice answers and bob sees it live', async () => {
    await bob.widget.input.click();
    await bob.widget.input.pressSequentially('Hi', { delay: 20 });
    await waitUntil(async () => (await alice.widget.typing.textContent()).trim() === 'bob is typing…', 'alice should see that bob is typing');
    await bob.widget.send(REPLY);
    await waitUntil(async () => (await alice.widget.typing.textContent()).trim() === '', "a message ends bob's typing indicator");
    const seen = await alice.widget.waitForBubble((b) => b.text === REPLY, "alice should receive bob's message live");
    assertReceivedBubble(seen, 'bob');
    assert.ok(!/<b>/i.test(seen.html), `message text is inserted as text, not HTML: ${seen.html}`);

    await alice.widget.send(LIVE);
    const back = await bob.widget.waitForBubble((b) => b.text === LIVE, "bob should receive alice's message live");
    assertReceivedBubble(back, 'alice');

    const order = (facts) => facts.map((b) => `${b.classes.includes('ibal-msg-sent') ? 'sent' : 'received'}:${b.text}`);
    assert.deepEqual(order(await alice.widget.bubbleFacts()), [`sent:${FIRST}`, `received:${REPLY}`, `sent:${LIVE}`]);
    assert.deepEqual(order(await bob.widget.bubbleFacts()), [`received:${FIRST}`, `sent:${REPLY}`, `received:${LIVE}`]);
    await screenshot(alice.page, 'room-05-alice-view');
    await screenshot(bob.page, 'room-06-bob-view');
  });

  step('Shift+Enter makes a new line; a long message scrolls both message logs to the bottom', async () => {
    const lines = Array.from({ length: 24 }, (_, i) => `line ${i + 1} of my notes`);
    await alice.widget.input.click();
    for (const [i, line] of lines.entries()) {
      if (i > 0) await alice.widget.input.press('Shift+Enter');
      await alice.page.keyboard.insertText(line);
    }
    assert.equal(await alice.widget.bubbles.count(), 3, 'Shift+Enter does not send');
    await alice.widget.input.press('Enter');
    const text = lines.join('\n');
    await alice.widget.waitForBubble((b) => b.id && b.classes.includes('ibal-msg-sent') && b.text === text, 'the multi-line message is sent whole');
    await bob.widget.waitForBubble((b) => b.text === text, 'bob receives the multi-line message');
    for (const who of [alice, bob]) {
      await waitUntil(
        () => who.widget.log.evaluate((el) => el.scrollHeight > el.clientHeight && el.scrollHeight - el.scrollTop - el.clientHeight < 4),
        `${who.rec.label}'s message log should overflow and be scrolled to the bottom`,
      );
    }
    await screenshot(bob.page, 'room-07-bob-scrolled');
  });

  step('the red Close Chat returns alice to the start state with the messages cleared; bob stays', async () => {
    await alice.widget.closeButton.click();
    await alice.widget.expectStartState();
    assert.ok(await alice.widget.startButton.evaluate((el) => document.activeElement === el), 'after Close Chat, the focus is on Start Chat');
    await waitUntil(async () => (await bob.widget.presence.textContent()).includes('1'), 'bob should see 1 online after alice left');
    assert.equal(await bob.widget.statusClass(), 'ibal-status-connected');
    await screenshot(alice.page, 'room-08-alice-closed');
  });

  step('the workbench unit with two IBAL chats mounts both, with one stylesheet for the page', async () => {
    const page = await alice.rec.newPage();
    await page.goto(stack.workbench.scenarioUrl('alice', 'ibalxblock.2'));
    const widgets = page.locator('.ibal-widget');
    await waitUntil(async () => (await widgets.count()) === 2, 'two widgets should mount');
    const titles = await widgets.locator('.ibal-title').allTextContents();
    assert.deepEqual(titles.map((t) => t.trim()), ['Course room', 'Course assistant']);
    await new ChatWidget(page, widgets.nth(0)).expectStartState();
    await new ChatWidget(page, widgets.nth(1)).expectStartState('Ask the assistant');
    assert.equal(await page.locator('link[data-ibal-widget-css]').count(), 1, 'the widget stylesheet is linked once per page');
    await screenshot(page, 'room-09-two-chats');
    await page.close();
  });

  step('the console shows the documented [IbalXBlock] lines, and never a whole token', async () => {
    const { gateway, lms, workbench } = stack;
    for (const who of [alice, bob]) {
      const name = who.rec.label;
      const lines = who.rec.texts('page');
      assertLinesInOrder(
        lines,
        [
          `${PREFIX} Initializing chat block`,
          `${PREFIX} Chat widget loaded; mounting`,
          `${PREFIX} Chat widget ready for`,
          `${PREFIX} Chat widget mounted`,
          `${PREFIX} Start Chat button activated`,
          `${PREFIX} Opening OAuth2 authorize popup: ${gateway.url}/oauth/openedx/login?`,
          `${PREFIX} Sign-in result received from the popup`,
          `${PREFIX} Signed in as ${name}; access token: `,
          `${PREFIX} Opening WebSocket connection to: ${gateway.url.replace('http', 'ws')}/ws/chat/?`,
          `${PREFIX} WebSocket connection opened`,
          `${PREFIX} Using access_token for WebSocket: `,
          frame('user_info'),
          `${PREFIX} Authenticated on the chat as ${name}`,
          frame('history'),
          /^\[IbalXBlock\] Sending message: \{.*"type":"message"/,
          frame('message'),
        ],
        `${name}'s console`,
      );
      const popupLines = who.rec.consoleLines.filter((l) => l.page !== 'page').map((l) => l.text);
      assertPopupLines(popupLines, workbench.url, `${name}'s popup console`);
      assert.deepEqual(who.rec.pageErrors, [], `${name}: no uncaught errors in the pages`);
      assert.deepEqual(who.rec.httpErrors, [], `${name}: no failed requests`);
    }
    assertLinesInOrder(alice.rec.texts('page'), [`${PREFIX} Close Chat button activated`, `${PREFIX} Closing the WebSocket connection`], "alice's console");

    const secrets = [
      ...(await storedTokens(alice.page, gateway.url)),
      ...(await storedTokens(bob.page, gateway.url)),
      ...lms.log.issued.map((i) => i.token),
    ];
    for (const who of [alice, bob]) assertNoTokens(who.rec.texts(), secrets, `${who.rec.label}'s console`);
    assertNoTokens(gateway.log().split('\n'), secrets, 'the gateway log');
  });
});
