// Course knowledge end to end (issue #16), in the xblock-sdk workbench against the real gateway and the
// fake OpenAI-compatible server. The workbench is Studio for the course IBAL_WORKBENCH_COURSE_ID
// (tests/workbench_studio.py): Publish sends edx-platform's course_published signal, which the plugin
// app ibal_xblock.openedx receives (connected by edx-platform's plugins app from its plugin_app) and
// pushes the course to the gateway's index with the service client. The course OLX scenario course.2
// (tests/workbench_blocks.py): unit 1 explains where the Krebs cycle happens, unit 2 has a staff-only
// answer key, the chat is in unit 3. A learner in unit 3 asks about the Krebs cycle: the model is given
// unit 1's passage, numbered, never the answer key (course staff are given it); the reply cites [1] and
// shows it as a link to unit 1 (the LMS's jump_to, opening in the top window). Then in a live course
// room (CHAT_BACKEND=room, ROOM_ASSISTANT=openai) two learners see the @assistant reply stream to both.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe } from 'node:test';

import { screenshot } from './lib/browser.mjs';
import { PREFIX, assertLinesInOrder, assertNoTokens, frame, receivedFrames, storedTokens, ticketsOf } from './lib/checks.mjs';
import { ensureServiceClient, indexHashes, indexSearch, publishScenario, serviceToken, studioEnv } from './lib/course-index.mjs';
import { openLearner, startAssistantStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { readTicket } from './lib/tickets.mjs';
import { TEXT, assertReceivedBubble, recordReplies, replyStates, signInWithPopup, waitUntil } from './lib/widget.mjs';

const API_KEY = 'sk-e2e-fake-openai-key-kn0wl3d93';
const COURSE_ID = 'course-v1:IBAL+E2E+2026';
const SCENARIO = 'course.2';
// The same course, its chat block offering both the live room and the assistant (mode "both").
const ROOM_SCENARIO = 'course.3';
// A fresh service client secret for each run (the workbench and the gateway get it from the environment).
const SERVICE_SECRET = randomBytes(24).toString('hex');

// course.2, as tests/workbench_blocks.py writes it; its blocks are keyed by their url_name.
const usageId = (blockId, type = 'html') => `block-v1:IBAL+E2E+2026+type@${type}+block@${blockId}`;
const BLOCKS = ['krebs', 'glycolysis', 'answerkey', 'review'].map((b) => usageId(b));
const KREBS = 'The Krebs cycle happens in the mitochondrial matrix: each turn oxidises one acetyl group to two molecules of carbon dioxide.';
const KREBS_TITLE = 'Where the Krebs cycle happens';
const KREBS_PLACE = 'IBAL Biology 201 › Week 1: Cell energy › Cellular respiration › Unit 1: The Krebs cycle';
const UNIT_3_TEXT = 'Look back over the week and ask the assistant about anything still unclear.';
// The staff-only answer key (unit 2): what no learner's prompt may ever hold.
const STAFF_ONLY = 'Staff only: the Krebs cycle quiz answer is C, codeword AMBER-FALCON-17.';
const NEVER = ['AMBER-FALCON-17', 'quiz answer is C', 'Answer key'];

const QUESTION = 'Where does the Krebs cycle happen?';
// The fake model cites the first passage it was given.
const REPLY_TOKENS = ['The Krebs ', 'cycle ', 'happens ', 'in the ', 'mitochondrial ', 'matrix ', '[1].'];
const REPLY_TEXT = REPLY_TOKENS.join('');
const STAFF_STUDENT = 'dave';

/** The LMS URL of a block of the course: the workbench's own jump_to (its LMS_ROOT_URL). */
const jumpTo = (workbench, id) => `${workbench.url}/courses/${COURSE_ID}/jump_to/${id}`;

/** Every message the model was given in a completion request, as one text. */
const promptOf = (request) => request.body.messages.map((m) => m.content).join('\n');

/** The system message holding the course's passages. */
function passagesOf(request) {
  const found = request.body.messages.filter((m) => m.role === 'system' && m.content.includes('<course_passages>'));
  assert.equal(found.length, 1, `one system message holds the course's passages: ${JSON.stringify(request.body.messages.map((m) => m.content.slice(0, 80)))}`);
  return found[0].content;
}

/** The sources listed under the last assistant reply of a page: each link's text and attributes. */
async function sourceLinks(widget) {
  const reply = widget.root.locator('.ibal-messages > .ibal-msg-assistant').last();
  await reply.locator('.ibal-sources').waitFor({ state: 'visible' });
  const list = reply.getByRole('list', { name: 'Sources' });
  return list.locator('.ibal-source').evaluateAll((nodes) =>
    nodes.map((n) => ({
      tag: n.tagName.toLowerCase(),
      text: n.textContent.trim(),
      href: n.getAttribute('href'),
      target: n.getAttribute('target'),
      rel: n.getAttribute('rel'),
      title: n.getAttribute('title'),
    })),
  );
}

/** The growing partial states of the reply the page showed while it streamed. */
async function partialReplies(page) {
  const snaps = await replyStates(page);
  return snaps.filter((s) => s.streaming && s.text.length > 0 && s.text.length < REPLY_TEXT.length);
}

function assertStreamed(partial, who) {
  assert.ok(partial.length >= 3, `${who}: at least 3 partial states of the reply were shown, saw ${JSON.stringify(partial)}`);
  assert.ok(partial.every((s) => REPLY_TEXT.startsWith(s.text.trimEnd())), `${who}: each partial state is a prefix of the reply: ${JSON.stringify(partial)}`);
  assert.ok(partial.every((s, i) => i === 0 || s.text.length >= partial[i - 1].text.length), `${who}: the reply only grows`);
}

const isReply = (b) => b.classes.includes('ibal-msg-assistant') && !b.classes.includes('ibal-msg-streaming') && b.text === REPLY_TEXT;

describe("Course knowledge: a course published through Studio's signal, a learner in unit 3 given unit 1 with its source", () => {
  let stack;
  let llm;
  let token; // the service client's index token: compared, never printed
  let alice; // { rec, page, widget }
  let dave;
  const step = journey('knowledge', () => [alice?.page, dave?.page]);

  before(async () => {
    stack = await startAssistantStack('knowledge', API_KEY, {
      gapMs: 60,
      replyTokens: REPLY_TOKENS,
      workbenchEnv: { ...studioEnv(COURSE_ID, SERVICE_SECRET), IBAL_WORKBENCH_STAFF: STAFF_STUDENT },
    });
    llm = stack.llm;
  });
  after(() => stack?.stop());

  step('the gateway registers the service client as the Tutor plugin does; its index holds nothing of the course yet', async () => {
    assert.equal(await ensureServiceClient(stack.gateway, SERVICE_SECRET), 'client ibal-openedx created');
    token = await serviceToken(stack.gateway, SERVICE_SECRET);
    assert.deepEqual(await indexHashes(stack.gateway, token, COURSE_ID), {}, 'nothing indexed before the publish');
  });

  step('Studio publishes the course: course_published reaches the plugin app, which pushes every block to the gateway', async () => {
    assert.deepEqual(await publishScenario(stack.workbench, SCENARIO), { course_id: COURSE_ID, scenario: SCENARIO });
    const log = stack.workbench.proc.log();
    // The modulestore's signal reached the app's receiver, and the indexer (not a hand call) pushed the course.
    assert.match(log, /Sent course_published signal to <function course_published at [^>]+> with kwargs \{'course_key': CourseKey\('course-v1:IBAL\+E2E\+2026'\)\}\. Response was: None/);
    assert.ok(log.includes(`IBAL course index: ${COURSE_ID}: 4 blocks, 4 sent (4 stored, 0 unchanged), 0 removed`), `the workbench log tells what was pushed:\n${log.slice(-2000)}`);
    // Every component with text, the staff-only answer key included (the gateway decides who sees it); not the chat.
    assert.deepEqual(Object.keys(await indexHashes(stack.gateway, token, COURSE_ID)).sort(), [...BLOCKS].sort());
    // What a learner would be given for the question: unit 1's passage first, never the answer key.
    const results = await indexSearch(stack.gateway, token, COURSE_ID, QUESTION);
    assert.equal(results[0]?.usage_id, usageId('krebs'), `unit 1's passage ranks first: ${JSON.stringify(results.map((r) => r.usage_id))}`);
    assert.deepEqual([results[0].title, results[0].breadcrumb, results[0].url, results[0].text], [KREBS_TITLE, KREBS_PLACE, jumpTo(stack.workbench, usageId('krebs')), KREBS]);
    assert.ok(!results.some((r) => r.usage_id === usageId('answerkey')), 'a learner is never given the staff-only answer key');
  });

  step('alice opens unit 3 of the course (the chat), signs in and accepts the AI disclosure; her ticket names the course and unit 3 only', async () => {
    alice = await openLearner(stack, 'alice', SCENARIO);
    await alice.widget.expectStartState();
    // A learner's page (the course as rendered, not the scenario's source the workbench lists below it):
    // unit 1's text, not the staff-only answer key.
    const course = alice.page.locator('.olx-course');
    await course.getByText('The Krebs cycle happens in the mitochondrial matrix', { exact: false }).waitFor();
    assert.equal(await course.getByText('AMBER-FALCON-17', { exact: false }).count(), 0, 'no staff-only text on a learner page');
    await screenshot(alice.page, 'knowledge-01-unit-3');
    await signInWithPopup(alice.widget, alice.rec);
    await alice.widget.expectConnected('alice');
    await alice.widget.acceptDisclosure(TEXT.disclosure);
    const { claims } = readTicket((await ticketsOf(alice.rec)).at(-1));
    assert.equal(claims.course_id, COURSE_ID, 'the ticket names the course (IBAL_WORKBENCH_COURSE_ID)');
    assert.equal(claims.role, 'learner');
    assert.deepEqual([claims.unit.section, claims.unit.subsection, claims.unit.title], ['Week 1: Cell energy', 'Cellular respiration', 'Unit 3: Review']);
    assert.ok(claims.unit.text.includes(UNIT_3_TEXT), `the ticket holds unit 3's text: ${claims.unit.text}`);
    assert.ok(!claims.unit.text.includes('Krebs'), "unit 1's text is not in unit 3: only the course index can give it");
  });

  step("alice asks about the Krebs cycle: the model's prompt holds unit 1's passage, numbered, and no staff-only text", async () => {
    await alice.widget.send(QUESTION);
    await alice.widget.waitForBubble(isReply, `the reply should end complete (notice: "${await alice.widget.noticeText()}")`);
    assert.equal(llm.requests.length, 1, 'one completion request');
    const [request] = llm.requests;
    assert.deepEqual(request.body.messages.at(-1), { role: 'user', content: QUESTION }, 'the question comes last');
    const passages = passagesOf(request);
    assert.ok(passages.includes(`[1] ${KREBS_PLACE} › ${KREBS_TITLE}\n${KREBS}`), `unit 1's passage is [1]:\n${passages}`);
    assert.match(passages, /cite it by its number in square brackets, like \[1\]/);
    const unit = request.body.messages.find((m) => m.role === 'system' && m.content.includes('<unit_content>'));
    assert.ok(unit?.content.includes(UNIT_3_TEXT), "the unit's own content is unit 3's");
    assert.ok(!unit.content.includes('Krebs'), "unit 1's passage came from the course index, not from the unit");
    const prompt = promptOf(request);
    for (const text of NEVER) assert.ok(!prompt.includes(text), `the learner's prompt never holds ${JSON.stringify(text)}`);
    await screenshot(alice.page, 'knowledge-02-reply');
  });

  step('the reply shows source [1]: a link to unit 1 (the LMS jump_to of its passage) that opens in the top window', async () => {
    const end = receivedFrames(alice.rec, 'stream_end').at(-1);
    assert.deepEqual(
      end.sources.map(({ n, title, breadcrumb, url }) => ({ n, title, breadcrumb, url })),
      [{ n: 1, title: KREBS_TITLE, breadcrumb: KREBS_PLACE, url: jumpTo(stack.workbench, usageId('krebs')) }],
      'stream_end lists the one passage the reply cites',
    );
    const [link, ...more] = await sourceLinks(alice.widget);
    assert.deepEqual(more, [], 'one source');
    assert.deepEqual(
      { tag: link.tag, text: link.text, href: link.href, target: link.target, rel: link.rel },
      { tag: 'a', text: `[1] ${KREBS_TITLE} — ${KREBS_PLACE}`, href: jumpTo(stack.workbench, usageId('krebs')), target: '_top', rel: 'noopener' },
    );
    assert.ok(KREBS.startsWith(link.title.replace(/…$/, '').trimEnd()), `the passage's snippet is the link's title: ${link.title}`);
    await screenshot(alice.page, 'knowledge-03-source');
    // Followed, it is the LMS's jump_to, which leads to the course page holding unit 1.
    const source = alice.widget.root.locator('.ibal-msg-assistant').last().locator('a.ibal-source');
    const pages = alice.rec.pages.length;
    await Promise.all([alice.page.waitForURL(`${stack.workbench.url}/scenario/${SCENARIO}/`), source.click()]);
    assert.ok(alice.rec.navigations.includes(jumpTo(stack.workbench, usageId('krebs'))), `the top window went to the jump_to URL: ${alice.rec.navigations.join(' → ')}`);
    assert.equal(alice.rec.pages.length, pages, 'in the same window, no new one');
    await alice.page.locator('.olx-course').getByText('The Krebs cycle happens in the mitochondrial matrix', { exact: false }).waitFor();
    await screenshot(alice.page, 'knowledge-04-jump-to-unit-1');
  });

  step('course staff asking the same are given the answer key: the index holds it, and only the learner was kept from it', async () => {
    dave = await openLearner(stack, STAFF_STUDENT, SCENARIO);
    await dave.widget.expectStartState();
    await signInWithPopup(dave.widget, dave.rec);
    await dave.widget.expectConnected(STAFF_STUDENT);
    await dave.widget.acceptDisclosure(TEXT.disclosure);
    assert.equal(readTicket((await ticketsOf(dave.rec)).at(-1)).claims.role, 'staff');
    await dave.widget.send(QUESTION);
    await dave.widget.waitForBubble(isReply, 'the reply to dave should end complete');
    assert.equal(llm.requests.length, 2, 'a second completion request');
    const passages = passagesOf(llm.requests[1]);
    assert.ok(passages.includes(`${KREBS_PLACE.replace('Unit 1: The Krebs cycle', 'Unit 2: Glycolysis')} › Answer key\n${STAFF_ONLY}`), `staff are given the answer key:\n${passages}`);
    assert.ok(passages.includes(KREBS), "and unit 1's passage");
    await screenshot(dave.page, 'knowledge-05-staff');
  });

  step('the console logs the journey, and no console, gateway or workbench log line holds a token, the service secret or staff-only text', async () => {
    assertLinesInOrder(
      alice.rec.texts('page'),
      [`${PREFIX} Initializing chat block`, /^\[IbalXBlock\] Sending message: \{.*"type":"message"/, frame('stream_end')],
      "alice's console",
    );
    for (const who of [alice, dave]) {
      assert.deepEqual(who.rec.pageErrors, [], `${who.rec.label}: no uncaught errors`);
      assert.deepEqual(who.rec.httpErrors, [], `${who.rec.label}: no failed requests`);
    }
    const secrets = [
      ...(await storedTokens(alice.page, stack.gateway.url)),
      ...(await storedTokens(dave.page, stack.gateway.url)),
      ...stack.lms.log.issued.map((i) => i.token),
      ...(await ticketsOf(alice.rec)),
      ...(await ticketsOf(dave.rec)),
      API_KEY,
      SERVICE_SECRET,
      token,
    ];
    assertNoTokens([...alice.rec.texts(), ...dave.rec.texts()], secrets, 'the consoles');
    assertNoTokens(stack.gateway.log().split('\n'), secrets, 'the gateway log');
    assertNoTokens(stack.workbench.proc.log().split('\n'), secrets, 'the workbench log');
    for (const text of ['AMBER-FALCON-17', KREBS]) {
      assert.ok(!stack.gateway.log().includes(text), `no gateway log line holds ${JSON.stringify(text)}`);
      assert.ok(!stack.workbench.proc.log().includes(text), `no workbench log line holds ${JSON.stringify(text)}`);
    }
  });
});

describe('Course knowledge in the live room: @assistant answers two learners at once, from the published course', () => {
  let stack;
  let llm;
  let alice;
  let bob;
  const step = journey('knowledge-room', () => [alice?.page, bob?.page]);

  before(async () => {
    stack = await startAssistantStack('knowledge-room', API_KEY, {
      gapMs: 80,
      replyTokens: REPLY_TOKENS,
      env: { CHAT_BACKEND: 'room', ROOM_ASSISTANT: 'openai' },
      workbenchEnv: studioEnv(COURSE_ID, SERVICE_SECRET),
    });
    llm = stack.llm;
  });
  after(() => stack?.stop());

  step('the course is published through the signal to the room gateway', async () => {
    assert.equal(await ensureServiceClient(stack.gateway, SERVICE_SECRET), 'client ibal-openedx created');
    assert.deepEqual(await publishScenario(stack.workbench, ROOM_SCENARIO), { course_id: COURSE_ID, scenario: ROOM_SCENARIO });
    const token = await serviceToken(stack.gateway, SERVICE_SECRET);
    assert.deepEqual(Object.keys(await indexHashes(stack.gateway, token, COURSE_ID)).sort(), [...BLOCKS].sort());
  });

  step("alice and bob open unit 3, whose chat is the unit's live room, and join it", async () => {
    alice = await openLearner(stack, 'alice', ROOM_SCENARIO);
    bob = await openLearner(stack, 'bob', ROOM_SCENARIO);
    for (const [who, name] of [[alice, 'alice'], [bob, 'bob']]) {
      await who.widget.expectStartState();
      await signInWithPopup(who.widget, who.rec);
      await who.widget.expectConnected(name);
      // A room: no AI notice to accept first (it gates a learner's own conversation with the assistant).
      assert.equal(receivedFrames(who.rec, 'user_info').at(-1)?.backend, 'room', `${name} is in the live room`);
    }
    for (const who of [alice, bob]) {
      await waitUntil(async () => (await who.widget.presence.textContent()).trim() === '2 online', `${who.rec.label} should see "2 online"`);
    }
    await screenshot(bob.page, 'knowledge-room-01-joined');
  });

  step("alice calls @assistant: the reply streams to both widgets, cites [1] and links to unit 1; the model got unit 1's passage, no staff-only text", async () => {
    await Promise.all([recordReplies(alice.page), recordReplies(bob.page)]);
    const call = `@assistant ${QUESTION}`;
    await alice.widget.send(call);
    await bob.widget.waitForBubble((b) => b.classes.includes('ibal-msg-received') && b.text === call, "bob should see alice's call");
    const replies = await Promise.all(
      [alice, bob].map((who) => who.widget.waitForBubble(isReply, `${who.rec.label} should see the assistant's reply end complete`, { timeoutMs: 15000 })),
    );
    await Promise.all([screenshot(alice.page, 'knowledge-room-02-alice'), screenshot(bob.page, 'knowledge-room-03-bob')]);
    for (const [who, reply] of [[alice, replies[0]], [bob, replies[1]]]) {
      assertReceivedBubble(reply, 'Assistant');
      assertStreamed(await partialReplies(who.page), who.rec.label);
      const [link, ...more] = await sourceLinks(who.widget);
      assert.deepEqual(more, [], `${who.rec.label}: one source`);
      assert.deepEqual(
        { text: link.text, href: link.href, target: link.target },
        { text: `[1] ${KREBS_TITLE} — ${KREBS_PLACE}`, href: jumpTo(stack.workbench, usageId('krebs')), target: '_top' },
        `${who.rec.label}: the source links to unit 1`,
      );
    }
    // One reply for the room, written from the room and the passages any learner may see.
    assert.equal(replies[0].id, replies[1].id, 'the same reply in both widgets');
    assert.equal(llm.requests.length, 1, 'one completion request for the room');
    const [request] = llm.requests;
    assert.ok(passagesOf(request).includes(`[1] ${KREBS_PLACE} › ${KREBS_TITLE}\n${KREBS}`), "unit 1's passage is [1]");
    const prompt = promptOf(request);
    for (const text of NEVER) assert.ok(!prompt.includes(text), `the room's prompt never holds ${JSON.stringify(text)}`);
    assert.ok(prompt.includes(QUESTION), "the room's prompt holds alice's call");
  });

  step('no console or log line holds a token or the service secret; no errors', async () => {
    for (const who of [alice, bob]) {
      assert.deepEqual(who.rec.pageErrors, [], `${who.rec.label}: no uncaught errors`);
      assert.deepEqual(who.rec.httpErrors, [], `${who.rec.label}: no failed requests`);
    }
    const secrets = [
      ...(await storedTokens(alice.page, stack.gateway.url)),
      ...(await storedTokens(bob.page, stack.gateway.url)),
      ...stack.lms.log.issued.map((i) => i.token),
      ...(await ticketsOf(alice.rec)),
      ...(await ticketsOf(bob.rec)),
      API_KEY,
      SERVICE_SECRET,
    ];
    assertNoTokens([...alice.rec.texts(), ...bob.rec.texts()], secrets, 'the consoles');
    assertNoTokens(stack.gateway.log().split('\n'), secrets, 'the gateway log');
    assertNoTokens(stack.workbench.proc.log().split('\n'), secrets, 'the workbench log');
  });
});
