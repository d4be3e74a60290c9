// The IBAL XBlock journey in the xblock-sdk workbench with the live course room (CHAT_BACKEND=room):
// alice and bob, each in a browser context of their own, sign in through the Open edX popup and
// chat in the same unit; dave, course staff, joins them and his messages carry the staff badge;
// carol, in another unit, has a room of her own; erin opens the same unit from a workbench that signs
// learners in with the course's chat ticket (SIGN_IN=lms): no popup, and she chats with the others.
// Every socket is in its unit only through a chat ticket the block minted; the URL names nothing.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { screenshot } from './lib/browser.mjs';
import {
  PREFIX,
  assertCourseSocket,
  assertLinesInOrder,
  assertNoTokens,
  assertPopupLines,
  assertPopupLoginUrl,
  exactLine,
  frame,
  loggedUsageId,
  popupOpenedLine,
  receivedFrames,
  storedTokens,
  ticketsOf,
} from './lib/checks.mjs';
import { openLearner as openLearnerIn, startXBlockStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { readTicket } from './lib/tickets.mjs';
import { ChatWidget, assertReceivedBubble, signInWithPopup, waitUntil } from './lib/widget.mjs';

const FIRST = 'Hello from Alice! Is anyone working on exercise 3?';
const REPLY = 'Hi Alice, yes: <b>not bold</b> & still text';
const LIVE = 'Great, see you in the lab.';
const STAFF = 'Course staff here: the lab opens at 2 pm.';
const WHILE_CAROL = 'Thanks Dave, we will be there.';
const CAROL = 'Is anyone in this other unit?';
const BARRIER = 'See you at 2 then.';
const ERIN = 'Erin here, signed in by the course itself.';
const ERIN_REPLY = 'Welcome Erin!';

// The workbench scenarios (ibal_xblock.py workbench_scenarios): the room's unit, and another unit.
const ROOM_SCENARIO = 'ibalxblock.0';
const ROOM_TITLE = 'IBAL Chat';
const OTHER_SCENARIO = 'ibalxblock.1';
const OTHER_TITLE = 'Ask the course assistant';
const OTHER_WELCOME = 'Hello! Ask me anything about this unit.';
// The workbench student the workbench treats as course staff (tests/workbench_settings.py).
const STAFF_STUDENT = 'dave';

describe('XBlock journey in the workbench, live course room (CHAT_BACKEND=room)', () => {
  let stack;
  let alice; // { rec, page, widget }
  let bob;
  let dave;
  let carol;
  let erin;
  let roomBlock; // the usage id of the room's unit
  const step = journey('room', () => [alice?.page, bob?.page, dave?.page, carol?.page, erin?.page]);

  before(async () => {
    stack = await startXBlockStack(
      'room',
      { CHAT_BACKEND: 'room' },
      { workbenchEnv: { IBAL_WORKBENCH_STAFF: STAFF_STUDENT }, workbenches: { lms: { SIGN_IN: 'lms' } } },
    );
  });
  after(async () => {
    await stack?.stop();
  });

  function openLearner(username, { scenario = ROOM_SCENARIO, workbench = stack.workbench } = {}) {
    return openLearnerIn(stack, username, scenario, workbench);
  }

  async function expectOnline(who, n) {
    await waitUntil(
      async () => (await who.widget.presence.textContent()).trim() === `${n} online`,
      `${who.rec.label} should see "${n} online"`,
    );
  }

  /** The texts of the messages a learner's page received live or in history (frames, not the DOM). */
  function messagesSeen(who) {
    return [
      ...receivedFrames(who.rec, 'message').map((m) => m.content),
      ...receivedFrames(who.rec, 'history').flatMap((h) => h.messages.map((m) => m.content)),
    ];
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
    assertPopupLoginUrl(navs[0], { gatewayUrl: gateway.url, pageOrigin: workbench.url });
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

    // Then the block minted a ticket for alice in this unit, and the socket is in the unit by it.
    roomBlock = loggedUsageId(alice.rec.texts('page'));
    assert.equal(alice.rec.tickets.length, 1, 'one ticket for one connection');
    assert.equal(alice.rec.tickets[0].usageId, roomBlock, "the ticket came from this block's handler");
    await assertCourseSocket(alice.rec, stack, { student: 'alice', usageId: roomBlock, title: ROOM_TITLE });
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
    assert.equal(got.badge, null, "a learner's message has no role badge");

    // Same unit, same room: both tickets, hence both sockets, name the same block.
    assert.equal(loggedUsageId(bob.rec.texts('page')), roomBlock, 'bob opened the same block');
    const { info } = await assertCourseSocket(bob.rec, stack, { student: 'bob', usageId: roomBlock, title: ROOM_TITLE });
    assert.equal(info.backend, 'room');
    const [aliceInfo] = receivedFrames(alice.rec, 'user_info');
    assert.equal(info.conversation_id, aliceInfo.conversation_id, 'both learners are in the same conversation: the room of the unit');

    // The room counts both.
    for (const who of [alice, bob]) await expectOnline(who, 2);
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

  step('dave, course staff, joins the unit: his ticket and user_info say "staff", and his message carries the "Course staff" badge for alice and bob', async () => {
    dave = await openLearner('dave');
    await dave.widget.expectStartState();
    await signInWithPopup(dave.widget, dave.rec);
    await dave.widget.expectConnected('dave');
    const { claims, info } = await assertCourseSocket(dave.rec, stack, {
      student: 'dave',
      usageId: roomBlock,
      role: 'staff',
      title: ROOM_TITLE,
    });
    assert.equal(claims.global_staff ?? false, false, 'course staff is not global staff');
    assert.equal(info.operator, false, "course staff is not one of the gateway's operators");
    // The learners stay learners: their tickets said so, and their messages carry no badge.
    for (const who of [alice, bob]) {
      const [ticket] = await ticketsOf(who.rec);
      assert.equal(readTicket(ticket).claims.role, 'learner', `${who.rec.label}'s ticket names a learner`);
    }
    const history = await dave.widget.waitForBubble((b) => b.text === FIRST, "dave should see the room's history");
    assert.equal(history.badge, null, "alice's message has no badge in dave's view");
    const [hist] = receivedFrames(dave.rec, 'history');
    assert.deepEqual(
      hist.messages.filter((m) => m.content === FIRST || m.content === REPLY).map((m) => [m.sender, m.sender_role]),
      [
        ['alice', 'learner'],
        ['bob', 'learner'],
      ],
      'stored messages keep their sender role',
    );
    for (const who of [alice, bob, dave]) await expectOnline(who, 3);

    await dave.widget.send(STAFF);
    for (const who of [alice, bob]) {
      const b = await who.widget.waitForBubble((x) => x.text === STAFF, `${who.rec.label} should receive dave's message live`);
      assertReceivedBubble(b, 'dave');
      assert.deepEqual(b.badge, { role: 'staff', text: 'Course staff' }, `${who.rec.label} sees dave's staff badge`);
      const live = receivedFrames(who.rec, 'message').find((m) => m.content === STAFF);
      assert.equal(live?.sender_role, 'staff', `the message frame ${who.rec.label} received says the sender is staff`);
    }
    const learnerBubbles = (await alice.widget.bubbleFacts()).filter((b) => b.text !== STAFF);
    assert.ok(learnerBubbles.every((b) => b.badge === null), "in alice's view only dave's message has a badge");
    await screenshot(alice.page, 'room-08-staff-badge');
  });

  step('carol, in another unit, has a room of her own: an empty history, her own block in user_info, and nothing crosses between the rooms', async () => {
    carol = await openLearner('carol', { scenario: OTHER_SCENARIO });
    await carol.widget.expectStartState(OTHER_WELCOME);
    await signInWithPopup(carol.widget, carol.rec);
    await carol.widget.expectConnected('carol');
    const otherBlock = loggedUsageId(carol.rec.texts('page'));
    assert.notEqual(otherBlock, roomBlock, 'another unit is another block');
    assert.equal(carol.rec.tickets[0]?.usageId, otherBlock, "carol's ticket came from her block's handler");
    const { info } = await assertCourseSocket(carol.rec, stack, { student: 'carol', usageId: otherBlock, title: OTHER_TITLE });
    const [aliceInfo] = receivedFrames(alice.rec, 'user_info');
    assert.notEqual(info.conversation_id, aliceInfo.conversation_id, "carol's room is another conversation");

    const histories = receivedFrames(carol.rec, 'history');
    assert.equal(histories.length, 1, 'one history frame');
    assert.deepEqual(histories[0].messages, [], "carol's room starts empty: none of the other unit's messages");
    assert.equal(await carol.widget.bubbles.count(), 0, 'carol sees no message');
    await expectOnline(carol, 1);
    for (const who of [alice, bob, dave]) await expectOnline(who, 3);

    // The first room talks while carol is connected; carol talks in hers. A last message of the first
    // room, sent after carol's was acknowledged, is the barrier: had carol's crossed over, it would
    // have reached alice and dave before it (one socket, in order).
    await alice.widget.send(WHILE_CAROL);
    await bob.widget.waitForBubble((b) => b.text === WHILE_CAROL, "bob receives alice's message");
    await dave.widget.waitForBubble((b) => b.text === WHILE_CAROL, "dave receives alice's message");
    await carol.widget.send(CAROL);
    await bob.widget.send(BARRIER);
    await alice.widget.waitForBubble((b) => b.text === BARRIER, "alice receives bob's message");
    await dave.widget.waitForBubble((b) => b.text === BARRIER, "dave receives bob's message");
    await sleep(300); // and a moment more for anything late
    for (const who of [alice, bob, dave]) {
      assert.ok(!messagesSeen(who).includes(CAROL), `${who.rec.label} never receives carol's message from the other unit`);
      assert.ok(!(await who.widget.bubbleFacts()).some((b) => b.text === CAROL), `${who.rec.label} does not show carol's message`);
    }
    const carolSaw = (await carol.widget.bubbleFacts()).map((b) => `${b.classes.includes('ibal-msg-sent') ? 'sent' : 'received'}:${b.text}`);
    assert.deepEqual(carolSaw, [`sent:${CAROL}`], 'carol sees only her own message');
    assert.deepEqual(messagesSeen(carol), [CAROL], 'no frame of the first room reached carol');
    await screenshot(carol.page, 'room-09-carol-other-unit');
  });

  step('erin opens the same unit where the course signs learners in (SIGN_IN=lms): no popup, the ticket exchanged at /oauth2/token, then she chats with bob', async () => {
    const lmsWorkbench = stack.workbenches.lms;
    erin = await openLearner('erin', { workbench: lmsWorkbench });
    await erin.widget.expectStartState();
    assert.equal(loggedUsageId(erin.rec.texts('page')), roomBlock, 'the same unit, served by the other workbench');
    const authorizations = stack.lms.log.authorize.length;
    await erin.widget.startButton.click();
    await erin.widget.expectConnected('erin');
    assert.deepEqual(
      erin.rec.pages.map((p) => p.name),
      ['page'],
      'no popup (no other page) was opened',
    );
    assert.ok(!erin.rec.navigations.some((u) => u.includes('/oauth/openedx/login')), 'nothing went to the popup sign-in');
    assert.equal(stack.lms.log.authorize.length, authorizations, "the LMS's OAuth2 authorize was not asked");

    // Two tickets: the first exchanged for erin's access token, a fresh one for the socket.
    const tickets = await ticketsOf(erin.rec);
    assert.equal(tickets.length, 2, `one ticket to sign in, one to connect; got ${tickets.length}`);
    assert.ok(tickets[0] !== tickets[1], 'the socket gets a ticket of its own');
    assert.notEqual(readTicket(tickets[0]).claims.jti, readTicket(tickets[1]).claims.jti, 'every ticket has its own jti');
    const exchanges = erin.rec.requests.filter((r) => r.method === 'POST' && r.url === `${stack.gateway.url}/oauth2/token`);
    assert.equal(exchanges.length, 1, 'one token request');
    const form = new URLSearchParams(exchanges[0].postData ?? '');
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.equal(form.get('subject_token_type'), 'urn:ibal:params:oauth:token-type:chat-ticket');
    assert.equal(form.get('client_id'), 'ibal-widget');
    assert.ok(form.get('subject_token') === tickets[0], 'the first ticket is the one exchanged');
    const cached = JSON.parse(await erin.page.evaluate((key) => localStorage.getItem(key), `ibal-widget:token:${stack.gateway.url}`));
    assert.ok(typeof cached?.access_token === 'string' && cached.access_token.length > 0, 'an access token is cached');
    assert.ok(!cached.refresh_token, 'LMS sign-in gives no refresh token: the course gives a new ticket instead');

    const { claims } = await assertCourseSocket(erin.rec, stack, { student: 'erin', usageId: roomBlock, title: ROOM_TITLE });
    assert.ok(claims.jti === readTicket(tickets[1]).claims.jti, 'the socket was opened with the second ticket');

    // The same unit's room: its history, everyone online, and live messages both ways.
    const history = await erin.widget.waitForBubble((b) => b.text === FIRST, "erin should see the room's history");
    assertReceivedBubble(history, 'alice');
    const staffMsg = await erin.widget.waitForBubble((b) => b.text === STAFF, "erin should see dave's message in the history");
    assert.deepEqual(staffMsg.badge, { role: 'staff', text: 'Course staff' }, "dave's badge comes back with the history");
    assert.ok(!messagesSeen(erin).includes(CAROL), "the other unit's message is not in this room's history");
    for (const who of [alice, bob, dave, erin]) await expectOnline(who, 4);
    await erin.widget.send(ERIN);
    const atBob = await bob.widget.waitForBubble((b) => b.text === ERIN, "bob should receive erin's message live");
    assertReceivedBubble(atBob, 'erin');
    await bob.widget.send(ERIN_REPLY);
    assertReceivedBubble(await erin.widget.waitForBubble((b) => b.text === ERIN_REPLY, "erin should receive bob's answer live"), 'bob');
    await screenshot(erin.page, 'room-10-erin-lms-sign-in');
  });

  step('the red Close Chat returns alice to the start state with the messages cleared; the others stay', async () => {
    await alice.widget.closeButton.click();
    await alice.widget.expectStartState();
    assert.ok(await alice.widget.startButton.evaluate((el) => document.activeElement === el), 'after Close Chat, the focus is on Start Chat');
    await expectOnline(bob, 3);
    assert.equal(await bob.widget.statusClass(), 'ibal-status-connected');
    await screenshot(alice.page, 'room-11-alice-closed');
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
    await screenshot(page, 'room-12-two-chats');
    await page.close();
  });

  step('the console shows the documented [IbalXBlock] lines, and never a whole token or ticket', async () => {
    const { gateway, lms, workbench, workbenches } = stack;
    const socketLine = exactLine(`${PREFIX} Opening WebSocket connection to: ${gateway.url.replace('http', 'ws')}/ws/chat/`);
    const ticketLines = [`${PREFIX} Chat ticket fetched (expires in 300 s)`, `${PREFIX} Chat ticket received from the course`];
    const connected = (name) => [
      ...ticketLines,
      socketLine,
      `${PREFIX} WebSocket connection opened`,
      /^\[IbalXBlock\] Using access_token for WebSocket: \S+, with the course's chat ticket$/,
      frame('user_info'),
      `${PREFIX} Authenticated on the chat as ${name}`,
      frame('history'),
      /^\[IbalXBlock\] Sending message: \{.*"type":"message"/,
      frame('message'),
    ];
    for (const who of [alice, bob, dave, carol]) {
      const name = who.rec.label;
      const lines = who.rec.texts('page');
      assertLinesInOrder(
        lines,
        [
          `${PREFIX} Initializing chat block ${name === 'carol' ? '' : roomBlock}`,
          `${PREFIX} Chat widget loaded; mounting`,
          /^\[IbalXBlock\] Chat widget ready for \S+ \(sign-in: popup,/,
          `${PREFIX} Chat widget mounted`,
          `${PREFIX} Start Chat button activated`,
          popupOpenedLine(gateway.url, workbench.url),
          exactLine(`${PREFIX} Sign-in result received from the popup`),
          `${PREFIX} Signed in as ${name}; access token: `,
          ...connected(name),
        ],
        `${name}'s console`,
      );
      const popupLines = who.rec.consoleLines.filter((l) => l.page !== 'page').map((l) => l.text);
      assertPopupLines(popupLines, workbench.url, `${name}'s popup console`);
    }
    assertLinesInOrder(
      erin.rec.texts('page'),
      [
        `${PREFIX} Initializing chat block ${roomBlock}`,
        `${PREFIX} Chat widget loaded; mounting`,
        `${PREFIX} Chat widget ready for ${roomBlock} (sign-in: lms,`,
        `${PREFIX} Chat widget mounted`,
        `${PREFIX} Start Chat button activated`,
        exactLine(`${PREFIX} Signing in with the course's chat ticket (LMS sign-in)`),
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Signed in as erin; access token: `,
        ...connected('erin'),
      ],
      "erin's console",
    );
    assert.ok(!erin.rec.texts().some((l) => l.includes('popup')), "erin's console never mentions a popup");
    // Each sign-in attempt had a nonce of its own, and the console printed none of them.
    const nonces = [alice, bob, dave, carol].map((who) => {
      const login = who.rec.navigations.find((u) => u.startsWith(`${gateway.url}/oauth/openedx/login?`));
      assert.ok(login, `${who.rec.label}'s popup went to the gateway's login`);
      const nonce = assertPopupLoginUrl(login, { gatewayUrl: gateway.url, pageOrigin: workbench.url });
      assert.ok(!who.rec.texts().some((l) => l.includes(nonce)), `${who.rec.label}'s console does not print the sign-in nonce`);
      return nonce;
    });
    assert.equal(new Set(nonces).size, nonces.length, 'every sign-in attempt has a fresh nonce');
    // The block's relay page was accepted by the gateway (AUTH_RELAY_PATHS names the workbench's).
    assert.ok(!gateway.log().includes('the relay page is not on the page'), "the gateway accepted every popup's relay page");
    assertLinesInOrder(alice.rec.texts('page'), [`${PREFIX} Close Chat button activated`, `${PREFIX} Closing the WebSocket connection`], "alice's console");
    const everyone = [alice, bob, dave, carol, erin];
    for (const who of everyone) {
      assert.deepEqual(who.rec.pageErrors, [], `${who.rec.label}: no uncaught errors in the pages`);
      assert.deepEqual(who.rec.httpErrors, [], `${who.rec.label}: no failed requests`);
    }

    const tickets = (await Promise.all(everyone.map((who) => ticketsOf(who.rec)))).flat();
    const secrets = [
      ...(await Promise.all(everyone.map((who) => storedTokens(who.page, gateway.url)))).flat(),
      ...lms.log.issued.map((i) => i.token),
      ...tickets,
    ];
    for (const who of everyone) assertNoTokens(who.rec.texts(), secrets, `${who.rec.label}'s console`);
    assertNoTokens(gateway.log().split('\n'), secrets, 'the gateway log');
    for (const wb of [workbench, workbenches.lms]) {
      assertNoTokens(wb.proc.log().split('\n'), [...tickets, ...stack.tickets.privateKeyLines], `the workbench log (${wb.url})`);
    }
  });
});
