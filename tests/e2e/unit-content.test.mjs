// What the course assistant is told about the learner's unit, in the xblock-sdk workbench against the
// real gateway (CHAT_BACKEND=openai, the fake OpenAI-compatible server that keeps every request):
// the course OLX scenario course.0 (tests/workbench_blocks.py) has an HTML reading, a staff-only HTML
// component, a video with an English and a French transcript, a CAPA problem (a correct choice, a
// choicehint, a solution) and the chat. The model's system messages hold the reading and the English
// transcript, never the French one, the staff-only note nor the problem's answer, hint or solution.
// In course.1 (a timed exam subsection) the widget says the assistant is off, and a message sent on
// the socket anyway is refused with `exam_mode`: nothing reaches the model.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { screenshot } from './lib/browser.mjs';
import { PREFIX, assertLinesInOrder, assertNoTokens, exactLine, frame, storedTokens, ticketsOf } from './lib/checks.mjs';
import { REPLY_RENDERED } from './lib/fake-openai.mjs';
import { openLearner, startAssistantStack } from './lib/scenario.mjs';
import { readTicket } from './lib/tickets.mjs';
import { journey } from './lib/steps.mjs';
import { TEXT, signInWithPopup, waitUntil } from './lib/widget.mjs';

const API_KEY = 'sk-e2e-fake-openai-key-un17c0n7';
const QUESTION = 'What happens to water in the video?';
const EXAM_QUESTION = 'What is the answer to exam question one?';
// course.0's components, as tests/workbench_blocks.py writes them.
const READING = 'Chlorophyll absorbs light & splits water, releasing oxygen.';
const TRANSCRIPT_EN = 'Photons excite electrons in photosystem two.\nWater is split to replace them.';
const TRANSCRIPT_FR = 'Les photons excitent les électrons du photosystème deux.';
const QUESTION_TEXT = 'Which gas do the light reactions release?';
// What the learner must never be given, nor the model.
const NEVER = {
  'the staff-only note': 'quiz answer is B',
  'the staff-only title': 'Notes for staff',
  'the choicehint': 'Right: water',
  'the solution': 'The solution: oxygen comes from water',
  'the correct-answer marker': 'correct',
  'the French transcript (an English learner)': TRANSCRIPT_FR,
};
// The widget's exam notice (xblock-widget/src/i18n.rs err_exam_mode).
const EXAM_NOTICE = 'The assistant is turned off during this exam.';

describe('XBlock assistant: the unit content in the prompt, exam mode', () => {
  let stack;
  let llm;
  let rec;
  let page;
  let widget;
  let unitMessage; // the system message holding the unit's content
  const step = journey('unit', () => [page]);

  const systemOf = (body) => body.messages.filter((m) => m.role === 'system').map((m) => m.content);

  before(async () => {
    stack = await startAssistantStack('unit', API_KEY, { gapMs: 40 });
    llm = stack.llm;
  });
  after(() => stack?.stop());

  step('course.0: alice signs in from the unit; the AI disclosure is shown', async () => {
    ({ rec, page, widget } = await openLearner(stack, 'alice', 'course.0'));
    await widget.expectStartState('Click Start Chat to begin');
    // The learner's page: the reading, the video's title, the problem's title; no staff-only note.
    const body = page.locator('.olx-vertical');
    await body.getByText('Chlorophyll absorbs light', { exact: false }).waitFor();
    assert.equal(await page.locator('.olx-video').count(), 1, 'the video is on the page');
    assert.equal(await body.getByText('quiz answer is B', { exact: false }).count(), 0, 'no staff-only note for a learner');
    await screenshot(page, 'unit-01-start');
    await signInWithPopup(widget, rec);
    await widget.expectConnected('alice');
    await screenshot(page, 'unit-02-disclosure');
  });

  step('the ticket the block signed holds the unit: titles, reading, English transcript, question; no secrets', async () => {
    await widget.acceptDisclosure(TEXT.disclosure);
    const [ticket] = (await ticketsOf(rec)).slice(-1);
    const { claims } = readTicket(ticket);
    assert.equal(claims.course_title, 'IBAL Demo Course');
    assert.deepEqual([claims.unit.section, claims.unit.subsection, claims.unit.title], ['Week 1: Plants', 'Photosynthesis', 'The light reactions']);
    assert.equal(claims.exam, false);
    for (const part of [READING, `Inside the thylakoid\n${TRANSCRIPT_EN}`, QUESTION_TEXT]) {
      assert.ok(claims.unit.text.includes(part), `the ticket's unit text holds ${JSON.stringify(part)}`);
    }
    for (const [what, text] of Object.entries(NEVER)) {
      assert.ok(!claims.unit.text.includes(text), `the ticket's unit text holds no ${what}`);
    }
    await screenshot(page, 'unit-03-accepted');
  });

  step('alice asks about the video: the model gets the reading and the English transcript, never the answer', async () => {
    await widget.send(QUESTION);
    await widget.waitForBubble(
      (b) => b.classes.includes('ibal-msg-assistant') && !b.classes.includes('ibal-msg-streaming') && b.text === REPLY_RENDERED,
      `the reply should end complete (notice: "${await widget.noticeText()}")`,
    );
    assert.equal(llm.requests.length, 1, 'one completion request');
    const { body } = llm.requests[0];
    assert.deepEqual(body.messages.at(-1), { role: 'user', content: QUESTION }, 'the question comes last');
    const system = systemOf(body);
    const place = system.find((m) => m.includes('IBAL Demo Course'));
    assert.ok(place, 'a system message names the course');
    assert.ok(place.includes('Week 1: Plants › Photosynthesis › The light reactions'), `the unit's place in the outline: ${place}`);
    unitMessage = system.find((m) => m.includes('<unit_content>'));
    assert.ok(unitMessage, 'a system message holds the unit content');
    assert.equal(system.indexOf(unitMessage), system.length - 1, 'the unit content is the last system message');
    for (const part of ['Reading\nThe light reactions', READING, `Inside the thylakoid\n${TRANSCRIPT_EN}`, `Check your understanding\n${QUESTION_TEXT}`, '- Carbon dioxide\n- Oxygen']) {
      assert.ok(unitMessage.includes(part), `the model is given ${JSON.stringify(part)}`);
    }
    const everything = system.join('\n');
    for (const [what, text] of Object.entries(NEVER)) {
      const where = what === 'the correct-answer marker' ? unitMessage : everything;
      assert.ok(!where.includes(text), `the model is never given ${what}`);
    }
    await screenshot(page, 'unit-04-reply');
  });

  step('course.1 (a timed exam): the widget says the assistant is off; no message box', async () => {
    await widget.closeButton.click();
    await widget.expectStartState('Click Start Chat to begin');
    await page.goto(stack.workbench.scenarioUrl('alice', 'course.1'));
    await widget.expectStartState('Click Start Chat to begin');
    await screenshot(page, 'unit-05-exam-start');
    await widget.startButton.click(); // the cached token: no popup
    await widget.expectConnected('alice');
    await waitUntil(async () => (await widget.gate.isVisible()) && (await widget.gateText.textContent()).trim() === EXAM_NOTICE, 'the exam notice should be shown');
    assert.equal(await widget.acceptButton.isVisible(), false, 'no "I understand" during an exam');
    assert.equal(await widget.input.isEnabled(), false, 'no message box during an exam');
    assert.equal(await widget.starters.isVisible(), false, 'no starters during an exam');
    const [ticket] = (await ticketsOf(rec)).slice(-1);
    const { claims } = readTicket(ticket);
    assert.deepEqual([claims.exam, claims.unit.subsection, claims.unit.text], [true, 'Midterm', ''], 'the ticket says exam, with no unit text');
    await screenshot(page, 'unit-06-exam-notice');
  });

  step('a message sent on the socket anyway is refused with exam_mode; the model receives nothing', async () => {
    const before = llm.requests.length;
    const usageId = readTicket((await ticketsOf(rec)).at(-1)).claims.usage_id;
    const [access] = await storedTokens(page, stack.gateway.url);
    // As a tampered widget would: a fresh ticket from the block's handler, the cached token, a message.
    const frames = await page.evaluate(
      async ({ wsUrl, handler, token, question }) => {
        const csrf = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie)?.[1] ?? '';
        const answer = await fetch(handler, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf }, body: '{}' });
        const { ticket } = await answer.json();
        const socket = new WebSocket(wsUrl);
        const received = [];
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => (socket.close(), reject(new Error(`no exam_mode error; got ${received.map((f) => f.type)}`))), 10000);
          socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token, ticket }));
          socket.onmessage = (event) => {
            const f = JSON.parse(event.data);
            received.push(f);
            if (f.type === 'user_info') socket.send(JSON.stringify({ type: 'message', client_id: 'e2e-exam-1', content: question }));
            if (f.type === 'error') {
              clearTimeout(timer);
              socket.close();
              // Only what the test compares: never a token.
              resolve(received.map((r) => ({ type: r.type, code: r.code ?? null, client_id: r.client_id ?? null, exam: r.context?.exam ?? null })));
            }
          };
          socket.onerror = () => reject(new Error('the socket failed'));
        });
      },
      {
        wsUrl: `${stack.gateway.url.replace(/^http/, 'ws')}/ws/chat/`,
        handler: `/handler/${encodeURIComponent(usageId)}/chat_ticket/?student=alice`,
        token: access,
        question: EXAM_QUESTION,
      },
    );
    const info = frames.find((f) => f.type === 'user_info');
    assert.equal(info?.exam, true, 'the gateway knows from the ticket that this is an exam');
    assert.deepEqual(frames.at(-1), { type: 'error', code: 'exam_mode', client_id: 'e2e-exam-1', exam: null }, 'the message is refused');
    assert.ok(!frames.some((f) => f.type.startsWith('stream') || f.type === 'message'), 'no reply, and the message was not stored');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(llm.requests.length, before, 'nothing reached the model');
    await screenshot(page, 'unit-07-exam-refused');
  });

  step('the console logs the journey, and never a token, a ticket, a message or the unit text', async () => {
    const lines = rec.texts('page');
    assertLinesInOrder(
      lines,
      [
        `${PREFIX} Initializing chat block`,
        exactLine(`${PREFIX} Chat button activated: accept`),
        /^\[IbalXBlock\] Sending message: \{.*"type":"message"/,
        frame('stream_end'),
        `${PREFIX} Close Chat button activated`,
        `${PREFIX} Initializing chat block`,
        `${PREFIX} Start Chat button activated`,
        `${PREFIX} Access token found in localStorage: `,
        `${PREFIX} Chat ticket fetched (expires in 300 s)`,
        `${PREFIX} Authenticated on the chat as alice`,
      ],
      "alice's console",
    );
    assert.deepEqual(rec.pageErrors, [], 'no uncaught errors in the pages');
    assert.deepEqual(rec.httpErrors, [], 'no failed requests');
    const secrets = [...(await storedTokens(page, stack.gateway.url)), ...stack.lms.log.issued.map((i) => i.token), API_KEY, ...(await ticketsOf(rec))];
    assertNoTokens(rec.texts(), secrets, "alice's console");
    assertNoTokens(stack.gateway.log().split('\n'), secrets, 'the gateway log');
    for (const said of [QUESTION, EXAM_QUESTION, REPLY_RENDERED, READING, 'Photons excite electrons']) {
      assert.ok(!rec.texts().some((l) => l.includes(said)), `no console line holds ${JSON.stringify(said)}`);
      assert.ok(!stack.gateway.log().includes(said), `no gateway log line holds ${JSON.stringify(said)}`);
    }
  });
});
