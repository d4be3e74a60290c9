// The IBAL XBlock journey in the xblock-sdk workbench with the course assistant
// (CHAT_BACKEND=openai against a fake OpenAI-compatible server that streams its reply). The block has
// a title and instructions for the assistant from the course team: they reach the model's system
// prompt through the chat ticket the block signs, never through the page. The learner signs out at
// the end: the login ends at the gateway, and the next Start Chat needs a new sign-in.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { screenshot } from './lib/browser.mjs';
import {
  PREFIX,
  assertCourseSocket,
  assertLinesInOrder,
  assertNoTokens,
  assertPopupLines,
  assertPopupLoginUrl,
  authFrames,
  exactLine,
  frame,
  loggedUsageId,
  popupOpenedLine,
  storedTokens,
  ticketsOf,
} from './lib/checks.mjs';
import { REPLY_RENDERED, REPLY_TEXT } from './lib/fake-openai.mjs';
import { openLearner, startAssistantStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { ChatWidget, TEXT, assertColour, assertReceivedBubble, recordReplies, replyStates, signInWithPopup, waitUntil } from './lib/widget.mjs';

const API_KEY = 'sk-e2e-fake-openai-key-4b1d9c';
const QUESTION = 'What does photosynthesis produce?';
const FOLLOW_UP = 'And where does it happen?';
// The workbench scenario with a title, a welcome message and assistant instructions
// (ibal_xblock.py workbench_scenarios).
const SCENARIO = 'ibalxblock.3';
const TITLE = 'Photosynthesis helper';
const WELCOME = 'Ask me about photosynthesis.';
const INSTRUCTIONS = 'Answer in two sentences at most.\nNever give the answers to the graded quiz.';
// The operator's prompt (CHAT_SYSTEM_PROMPT), with the placeholders the gateway fills in.
const PROMPT = 'You are the course assistant of course [{course_id}], unit [{block_id}].';

describe('XBlock journey in the workbench, course assistant (CHAT_BACKEND=openai, streamed reply)', () => {
  let stack;
  let llm;
  let rec;
  let page;
  let widget;
  let block; // the block's usage id
  let signedOut = []; // the tokens of the login alice signed out of (compared, never printed)
  const step = journey('assistant', () => [page]);

  /** The system messages of a completion request. */
  const systemOf = (body) => body.messages.filter((m) => m.role === 'system').map((m) => m.content);

  /**
   * The system messages the model must get, in docs/assistant-prompt.md's order: the operator's prompt,
   * where the learner is (the block's signed title), the course team's signed instructions, then the
   * tutoring style (the block's default, "guide").
   */
  const assertSystemPrompt = (system, what) => {
    assert.equal(system[0], PROMPT.replace('{course_id}', '').replace('{block_id}', block), `${what}: the operator's prompt first`);
    const place = system.findIndex((m) => m.includes(`This chat is titled "${TITLE}".`));
    const instructions = system.indexOf(`Instructions from the course team for this chat:\n${INSTRUCTIONS}`);
    const tutoring = system.findIndex((m) => m.startsWith('How to tutor in this course:\n'));
    assert.ok(place > 0 && instructions > place && tutoring > instructions, `${what}: in order: ${JSON.stringify(system)}`);
  };

  before(async () => {
    stack = await startAssistantStack('assistant', API_KEY, { gapMs: 80, env: { CHAT_SYSTEM_PROMPT: PROMPT } });
    llm = stack.llm;
  });
  after(() => stack?.stop());

  step('the workbench page shows the block with its title, its welcome message and the green Start Chat', async () => {
    ({ rec, page, widget } = await openLearner(stack, 'alice', SCENARIO));
    await widget.expectStartState(WELCOME);
    assert.equal((await widget.root.locator('.ibal-title').textContent()).trim(), TITLE);
    block = loggedUsageId(rec.texts('page'));
    // The instructions travel only inside the signed ticket: the block's HTML and the settings it
    // gives its JavaScript do not hold them. (The workbench prints the scenario's XML elsewhere on
    // the page, instructions included: a workbench feature, not the block's.)
    const blockHtml = await page.locator('[data-block-type="ibalxblock"]').evaluate((el) => el.outerHTML);
    assert.match(blockHtml, /xblock_json_init_args|json\/xblock-args/, "the block's element holds its JavaScript settings");
    for (const line of INSTRUCTIONS.split('\n')) assert.ok(!blockHtml.includes(line), `the block's HTML does not carry the instructions: "${line}"`);
    await screenshot(page, 'assistant-01-start');
  });

  step('Start Chat → popup → Open edX sign-in → Connected as alice', async () => {
    const navs = await signInWithPopup(widget, rec);
    assertPopupLoginUrl(navs[0], { gatewayUrl: stack.gateway.url, pageOrigin: stack.workbench.url });
    await widget.expectConnected('alice');
    const { info } = await assertCourseSocket(rec, stack, { student: 'alice', usageId: block, title: TITLE, instructions: INSTRUCTIONS });
    assert.equal(info.backend, 'openai');
    assert.equal(info.context.title, TITLE, 'the gateway knows the title from the ticket');
    assert.deepEqual(info.context.disclosure, { text: TEXT.disclosure, version: info.context.disclosure.version, accepted: false });
    await screenshot(page, 'assistant-02-connected');
  });

  step('the AI disclosure comes first: "I understand" opens the message box and is recorded once', async () => {
    await widget.acceptDisclosure(TEXT.disclosure);
    await screenshot(page, 'assistant-02b-disclosure-accepted');
  });

  step('the question becomes a blue sent bubble; the reply streams in token by token and ends complete in a white bubble', async () => {
    // Record every state of the assistant's bubble while it streams.
    await recordReplies(page);

    const sent = await widget.send(QUESTION);
    assert.equal(sent.text, QUESTION);

    // Mid-stream: a bubble marked as being written, holding part of the reply. Read from the
    // in-page record, not by polling the DOM from here: the whole stream takes about a second, and
    // a busy machine can let it pass between two polls.
    await waitUntil(
      async () => (await replyStates(page)).some((s) => s.streaming && s.text.length > 0),
      `the reply should start streaming (notice: "${await widget.noticeText()}")`,
    );
    await screenshot(page, 'assistant-03-question-sent');

    const reply = await widget.waitForBubble(
      (b) => b.classes.includes('ibal-msg-assistant') && !b.classes.includes('ibal-msg-streaming') && b.text === REPLY_RENDERED,
      'the reply should end complete',
    );
    assertReceivedBubble(reply, 'Assistant');
    assert.equal(reply.busy, 'false', 'the finished reply is no longer aria-busy');
    assert.equal(reply.state, null, `no "Writing…"/"Stopped"/"Incomplete" tag on a complete reply: ${reply.state}`);
    assert.match(reply.html, /<strong>glucose<\/strong>/, `Markdown is rendered: ${reply.html}`);
    await screenshot(page, 'assistant-04-reply-complete');

    // Token by token: several growing prefixes of the reply were on screen while it streamed.
    const snaps = await replyStates(page);
    const partial = snaps.filter((s) => s.streaming && s.text.length > 0 && s.text.length < REPLY_RENDERED.length);
    function grows(list) {
      return list.every((s, i) => i === 0 || s.text.length >= list[i - 1].text.length);
    }
    assert.ok(partial.length >= 3, `at least 3 partial states of the reply were shown, saw ${partial.length}: ${JSON.stringify(snaps)}`);
    assert.ok(partial.every((s) => REPLY_RENDERED.startsWith(s.text.trimEnd())), `each partial state is a prefix of the reply: ${JSON.stringify(partial)}`);
    assert.ok(grows(partial), `the reply only grows: ${JSON.stringify(partial)}`);
    assert.ok(partial.every((s) => s.busy === 'true'), 'a streaming reply is aria-busy');

    // What the LLM was asked.
    assert.equal(llm.requests.length, 1, 'one completion request');
    const body = llm.requests[0].body;
    assert.equal(body.stream, true);
    assert.equal(body.model, 'fake-model');
    assert.deepEqual(body.messages.at(-1), { role: 'user', content: QUESTION });
    assert.equal(llm.requests[0].authorization, `Bearer ${API_KEY}`);
    // The system messages: the operator's with this unit filled in, then the block's title and the
    // course team's instructions, as the block signed them in the ticket.
    assert.equal(body.messages[0].role, 'system', 'the system messages come first');
    assertSystemPrompt(systemOf(body), 'the first request');
  });

  step('the red Close Chat returns to the start state with the messages cleared', async () => {
    await widget.closeButton.click();
    await widget.expectStartState(WELCOME);
    await screenshot(page, 'assistant-05-closed');
  });

  step('Start Chat again reconnects with the kept token (no popup) and the conversation comes back', async () => {
    let popups = 0;
    page.on('popup', () => popups++);
    await widget.startButton.click();
    await widget.expectConnected('alice');
    const facts = await waitUntil(async () => {
      const f = await widget.bubbleFacts();
      return f.length >= 2 && f;
    }, 'the history should come back');
    assert.deepEqual(
      facts.map((b) => [b.classes.includes('ibal-msg-sent') ? 'sent' : 'received', b.text]),
      [
        ['sent', QUESTION],
        ['received', REPLY_RENDERED],
      ],
    );
    assert.equal(popups, 0, 'no popup when a valid token is kept');
    await screenshot(page, 'assistant-06-resumed');
  });

  step('the gateway restarts: Disconnected, then the widget reconnects by itself and the chat goes on', async () => {
    const { gateway } = stack;
    const exit = await gateway.shutdown();
    assert.equal(exit.code, 0, `the gateway stops cleanly on SIGTERM: ${JSON.stringify(exit)}`);
    await waitUntil(async () => (await widget.statusClass()) === 'ibal-status-disconnected', 'the status should turn to Disconnected', {
      timeoutMs: 10000,
    });
    assert.match((await widget.statusText.textContent()).trim(), /^Disconnected/);
    assertColour(await ChatWidget.css(widget.status, 'color'), 'grey', 'the Disconnected status');
    await screenshot(page, 'assistant-07-disconnected');
    assert.equal(await widget.bubbles.count(), 2, 'the messages stay on screen while disconnected');

    await gateway.startAgain();
    await widget.expectConnected('alice', { timeoutMs: 30000 });
    const again = await widget.send(FOLLOW_UP);
    assert.equal(again.text, FOLLOW_UP);
    await widget.waitForBubble(
      (b, i, all) => i === all.length - 1 && b.classes.includes('ibal-msg-assistant') && !b.classes.includes('ibal-msg-streaming') && b.text === REPLY_RENDERED,
      'the follow-up question should get a complete reply after the restart',
    );
    const facts = await widget.bubbleFacts();
    assert.equal(facts.length, 4, `question, reply, follow-up, reply: ${facts.map((b) => b.text).join(' | ')}`);
    assert.equal(llm.requests.length, 2, 'a second completion request');
    const history = llm.requests[1].body.messages;
    assert.deepEqual(history.slice(-3), [
      { role: 'user', content: QUESTION },
      { role: 'assistant', content: REPLY_TEXT },
      { role: 'user', content: FOLLOW_UP },
    ], 'the conversation so far goes to the LLM');
    assert.deepEqual(systemOf(llm.requests[1].body), systemOf(llm.requests[0].body), 'after the restart, the new ticket gives the same system prompt');
    // Every connection asked the block for a fresh ticket: the first, after Close/Start, after the restart.
    const tickets = await ticketsOf(rec);
    const sent = authFrames(rec).map((a) => a.ticket);
    assert.equal(sent.length, 3, 'three sockets authenticated: the first, after Close and Start Chat, after the restart');
    assert.equal(new Set(sent).size, 3, 'each socket was opened with a ticket of its own');
    assert.ok(sent.every((t) => tickets.includes(t)), "each of them minted by the block's handler");
    await screenshot(page, 'assistant-08-after-restart');
  });

  step('Sign out: POST /api/v1/auth/logout with the bearer token (204); the start state says "You are signed out."; the cached token is gone and the old tokens no longer work', async () => {
    const { gateway } = stack;
    const key = `ibal-widget:token:${gateway.url}`;
    const cached = JSON.parse(await page.evaluate((k) => localStorage.getItem(k), key));
    assert.ok(cached?.access_token && cached?.refresh_token, 'a popup sign-in caches an access and a refresh token');
    signedOut = [cached.access_token, cached.refresh_token];
    const api = (token) => fetch(`${gateway.url}/api/v1/conversations`, { headers: { Authorization: `Bearer ${token}` } });
    const before = await api(cached.access_token);
    assert.equal(before.status, 200, 'before signing out, the access token opens the conversation API');
    await before.arrayBuffer();

    assert.equal(await widget.signOutButton.isVisible(), true, 'Sign out is offered while connected');
    const logoutUrl = `${gateway.url}/api/v1/auth/logout`;
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === logoutUrl),
      widget.signOutButton.click(),
    ]);
    assert.equal(response.request().method(), 'POST', 'sign-out is a POST');
    assert.equal(response.status(), 204, 'the gateway ended the login');
    const authorization = await response.request().headerValue('authorization');
    assert.ok(authorization === `Bearer ${cached.access_token}`, 'the sign-out request carries the access token as Authorization: Bearer');
    assert.equal(rec.requests.filter((r) => r.url === logoutUrl).length, 1, 'one sign-out request');

    await widget.expectStartState(WELCOME);
    await waitUntil(
      async () => (await widget.notice.isVisible()) && (await widget.noticeMessage.textContent()).trim() === TEXT.signedOut,
      `the widget should say "${TEXT.signedOut}" (notice: "${await widget.noticeText()}")`,
    );
    assert.ok(await widget.startButton.evaluate((el) => document.activeElement === el), 'after signing out, the focus is on Start Chat');
    assert.equal(await page.evaluate((k) => localStorage.getItem(k), key), null, 'the cached token was removed from localStorage');
    await waitUntil(() => rec.sockets.every((ws) => ws.closed), "signing out closes the widget's socket");
    await screenshot(page, 'assistant-09-signed-out');

    // The gateway revoked the login: its access token, not yet expired, is refused...
    const after = await api(cached.access_token);
    assert.equal(after.status, 401, 'the signed-out access token no longer opens the API');
    assert.equal((await after.json()).error?.code, 'session_revoked', 'the API says the sign-in has ended');
    // ...and its refresh token gets no new one.
    const refresh = await fetch(`${gateway.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cached.refresh_token, client_id: 'ibal-widget' }),
    });
    const refused = await refresh.json();
    assert.equal(refresh.status, 400, 'the signed-out refresh token is refused');
    assert.equal(refused.error, 'invalid_grant');
    assert.equal(refused.access_token, undefined, 'no token comes back for it');
  });

  step('Start Chat after signing out needs a new sign-in: the popup opens again; Connected as alice with new tokens and her conversation', async () => {
    const navs = await signInWithPopup(widget, rec);
    assertPopupLoginUrl(navs[0], { gatewayUrl: stack.gateway.url, pageOrigin: stack.workbench.url });
    await widget.expectConnected('alice');
    const [access, refresh] = await storedTokens(page, stack.gateway.url);
    assert.ok(access && refresh, 'the new sign-in cached a new token pair');
    assert.ok(!signedOut.includes(access) && !signedOut.includes(refresh), 'the new tokens are not the signed-out ones');
    // The same learner in the same unit: the conversation from before the sign-out comes back.
    await waitUntil(async () => (await widget.bubbleFacts()).length === 4, 'the conversation (two questions, two replies) should come back');
    const facts = await widget.bubbleFacts();
    assert.deepEqual(facts.map((b) => b.text), [QUESTION, REPLY_RENDERED, FOLLOW_UP, REPLY_RENDERED]);
    await screenshot(page, 'assistant-10-signed-in-again');
  });

  step('Close Chat again: back to the start state', async () => {
    await widget.closeButton.click();
    await widget.expectStartState(WELCOME);
  });

  step('the console shows the documented [IbalXBlock] lines, and never a whole token or ticket', async () => {
    const { gateway, lms, workbench } = stack;
    const lines = rec.texts('page');
    assertLinesInOrder(
      lines,
      [
        `${PREFIX} Initializing chat block`,
        `${PREFIX} Chat widget loaded; mounting`,
        `${PREFIX} Chat widget ready for`,
        `${PREFIX} Chat widget mounted`,
        `${PREFIX} Start Chat button activated`,
        popupOpenedLine(gateway.url, workbench.url),
        exactLine(`${PREFIX} Sign-in result received from the popup`),
        `${PREFIX} Signed in as alice; access token: `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Chat ticket received from the course`,
        exactLine(`${PREFIX} Opening WebSocket connection to: ${gateway.url.replace('http', 'ws')}/ws/chat/`),
        `${PREFIX} WebSocket connection opened`,
        /^\[IbalXBlock\] Using access_token for WebSocket: \S+, with the course's chat ticket$/,
        frame('user_info'),
        `${PREFIX} Authenticated on the chat as alice`,
        frame('history'),
        /^\[IbalXBlock\] Sending message: \{.*"type":"message"/,
        frame('message'),
        frame('stream_start'),
        frame('stream_delta'),
        frame('stream_end'),
        `${PREFIX} Close Chat button activated`,
        `${PREFIX} Closing the WebSocket connection`,
        `${PREFIX} Start Chat button activated`,
        `${PREFIX} Access token found in localStorage: `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Chat ticket received from the course`,
        `${PREFIX} WebSocket connection opened`,
        `${PREFIX} Authenticated on the chat as alice`,
        /^\[IbalXBlock\] WebSocket connection closed \(code \d+/,
        `${PREFIX} Reconnecting in `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Chat ticket received from the course`,
        `${PREFIX} WebSocket connection opened`,
        `${PREFIX} Authenticated on the chat as alice`,
        exactLine(`${PREFIX} Sign out button activated`),
        exactLine(`${PREFIX} Closing the WebSocket connection`),
        exactLine(`${PREFIX} Signing out`),
        exactLine(`${PREFIX} Forgetting the stored access token`),
        `${PREFIX} Start Chat button activated`,
        popupOpenedLine(gateway.url, workbench.url),
        exactLine(`${PREFIX} Sign-in result received from the popup`),
        `${PREFIX} Signed in as alice; access token: `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} WebSocket connection opened`,
        `${PREFIX} Authenticated on the chat as alice`,
        `${PREFIX} Close Chat button activated`,
      ],
      "alice's console",
    );
    // After signing out nothing was kept: the next Start Chat found no token to reuse.
    const signedOutAt = lines.findIndex((l) => l === `${PREFIX} Signing out`);
    assert.ok(
      !lines.slice(signedOutAt).some((l) => l.startsWith(`${PREFIX} Access token found in localStorage`)),
      'after signing out, Start Chat does not find a cached token',
    );
    assert.ok(!lines.some((l) => l.startsWith(`${PREFIX} Sign-out was not confirmed`)), 'the gateway confirmed the sign-out');
    const deltas = lines.filter((l) => frame('stream_delta').test(l)).length;
    assert.ok(deltas >= 3, `the reply arrived in several stream_delta frames, got ${deltas}`);
    const popupLines = rec.consoleLines.filter((l) => l.page !== 'page').map((l) => l.text);
    assertPopupLines(popupLines, workbench.url, 'the popup console');
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the pages');
    assert.deepEqual(rec.httpErrors, [], 'no failed requests');

    const tickets = await ticketsOf(rec);
    const secrets = [...(await storedTokens(page, gateway.url)), ...signedOut, ...lms.log.issued.map((i) => i.token), API_KEY, ...tickets];
    assertNoTokens(rec.texts(), secrets, "alice's console");
    // Nor what she asked or was answered: the console shows frames with their text left out.
    for (const said of [QUESTION, FOLLOW_UP, REPLY_TEXT]) {
      assert.ok(!rec.texts().some((l) => l.includes(said)), `no console line holds ${JSON.stringify(said)}`);
      assert.ok(!gateway.log().includes(said), `no gateway log line holds ${JSON.stringify(said)}`);
    }
    assertNoTokens(gateway.log().split('\n'), secrets, 'the gateway log');
    assertNoTokens(workbench.proc.log().split('\n'), [...tickets, ...stack.tickets.privateKeyLines], 'the workbench log');
  });
  // docs/protocol.md, close codes: "1001 going away: the gateway is restarting; reconnect with
  // backoff". A gateway stopped with SIGTERM (an orchestrator's restart) should say so to every
  // open chat socket instead of dropping the connection (1006, "abnormal closure").
  step('a gateway stopped with SIGTERM closes the open chat sockets with 1001 "going away" (docs/protocol.md)', async () => {
    const closed = rec.texts('page').filter((l) => l.startsWith(`${PREFIX} WebSocket connection closed (code `));
    assert.ok(closed.length >= 1, 'the widget logged the close of its socket when the gateway stopped');
    assert.match(
      closed[0],
      /\(code 1001\b/,
      `when the gateway restarted (SIGTERM, graceful shutdown) the widget's socket was closed with: "${closed[0]}". ` +
        'Expected close code 1001 (going away) as docs/protocol.md promises; 1006 means the gateway dropped the ' +
        'TCP connection without a WebSocket close frame',
    );
  });
});
