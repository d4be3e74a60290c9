// The course team's dashboard and room moderation, as course staff use them: alice and bob chat in a
// unit's live room (their messages are the data the dashboard counts); dave, course staff, opens
// "Course chat insights" from the chat block, checks the figures, the chart and its table against
// what was said, downloads both CSV exports and reads them; then he hides bob's message (both
// learners' widgets show "Removed by course staff." at once), mutes alice (her next message is
// refused) and pins an announcement (shown above both rooms' messages). A learner gets 403 on the
// dashboard, and so does the staff of another course. Screenshots in tests/output/e2e/insights-*.png.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe } from 'node:test';

import { screenshot } from './lib/browser.mjs';
import { openLearner as openLearnerIn, startXBlockStack } from './lib/scenario.mjs';
import { journey } from './lib/steps.mjs';
import { readTicket } from './lib/tickets.mjs';
import { waitUntil } from './lib/widget.mjs';

const COURSE = 'course-v1:IBAL+E2E+2026';
const OTHER_COURSE = 'course-v1:Other+X+2026';
const ROOM_SCENARIO = 'ibalxblock.0';
const STAFF_STUDENT = 'dave';
const NOTICE = 'Removed by course staff.';
const ANNOUNCEMENT = 'Office hours moved to Thursday 5 pm.';

const ALICE_1 = 'Who has the notes on enzymes from Monday?';
const BOB_1 = 'I do, write to me at bob@example.com and send money';
const ALICE_2 = 'Enzymes lower the activation energy, right?';
const ALICE_MUTED = 'This one should never reach the room';

/** A CSV text's rows (the gateway quotes fields only when they need it; none of ours do). */
function csvRows(text) {
  return text.trim().split(/\r?\n/).map((line) => line.split(','));
}

function today() {
  return new Date().toISOString().slice(0, 10);
}

describe('Course chat insights and room moderation, in the workbench with real widgets', () => {
  let stack;
  let alice;
  let bob;
  let dave;
  let dashboard; // dave's dashboard tab
  let bobMessageId;
  const step = journey('insights', () => [alice?.page, bob?.page, dave?.page, dashboard]);

  before(async () => {
    stack = await startXBlockStack(
      'insights',
      { CHAT_BACKEND: 'room' },
      { workbenchEnv: { IBAL_WORKBENCH_STAFF: STAFF_STUDENT, IBAL_WORKBENCH_COURSE_ID: COURSE, SIGN_IN: 'lms' } },
    );
  });
  after(async () => {
    await stack?.stop();
  });

  const dashboardUrl = () => `${stack.gateway.url}/instructor/${encodeURIComponent(COURSE)}`;

  async function join(username) {
    const who = await openLearnerIn(stack, username, ROOM_SCENARIO);
    await who.widget.expectStartState();
    await who.widget.startButton.click();
    await who.widget.expectConnected(username);
    return who;
  }

  step('alice and bob chat in the room of a unit of the course (signed in by the course: no popup)', async () => {
    alice = await join('alice');
    const { claims } = readTicket(alice.rec.tickets.at(-1).ticket);
    assert.equal(claims.course_id, COURSE, 'the block names its course in the ticket');
    await alice.widget.send(ALICE_1);
    bob = await join('bob');
    await bob.widget.waitForBubble((b) => b.text === ALICE_1, "bob should see alice's message");
    const sent = await bob.widget.send(BOB_1);
    bobMessageId = sent.id;
    await alice.widget.waitForBubble((b) => b.text === BOB_1, "alice should see bob's message");
    await alice.widget.send(ALICE_2);
    await bob.widget.waitForBubble((b) => b.text === ALICE_2, "bob should see alice's second message");
  });

  step('dave, course staff, opens "Course chat insights" from the block: the dashboard in a new tab', async () => {
    dave = await openLearnerIn(stack, STAFF_STUDENT, ROOM_SCENARIO);
    const button = dave.page.getByRole('button', { name: /Course chat insights/ });
    await button.waitFor({ state: 'visible' });
    const [tab] = await Promise.all([dave.rec.context.waitForEvent('page'), button.click()]);
    await tab.waitForLoadState('load');
    dashboard = tab;
    assert.equal(tab.url(), dashboardUrl());
    await tab.getByRole('heading', { name: 'Course chat insights' }).waitFor();
    await screenshot(tab, 'insights-01-dashboard');
    // Learners never get the button.
    assert.equal(await alice.page.getByRole('button', { name: /Course chat insights/ }).count(), 0);
  });

  step('the figures, the chart and its table match what alice and bob said', async () => {
    const figure = async (id) => (await dashboard.locator(`#${id}`).textContent()).trim();
    assert.equal(await figure('messages'), '3');
    assert.equal(await figure('learners'), '2');
    assert.equal(await figure('conversations'), '1');
    assert.equal(await figure('replies'), '0');
    // The table beside the chart: 30 days, today's row with today's counts.
    const rows = dashboard.locator('#days tbody tr');
    assert.equal(await rows.count(), 30);
    const last = (await rows.last().locator('td').allTextContents()).map((t) => t.trim());
    assert.deepEqual(last, [today(), '3', '2', '0']);
    // The chart: one bar a day, today's the highest, titled with its figure.
    const bars = dashboard.locator('svg.chart rect');
    assert.equal(await bars.count(), 30);
    assert.equal((await bars.last().locator('title').textContent()).trim(), `${today()}: 3`);
    const heights = await bars.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
    assert.ok(heights.at(-1) > 0 && heights.slice(0, -1).every((h) => h === 0), `bar heights: ${heights}`);
    // Learners are pseudonymous here: no name on the page outside the room messages' senders.
    const figures = await dashboard.locator('section.figures, #days, #terms').allTextContents();
    assert.ok(!figures.join(' ').includes('alice'), 'no learner named in the figures');
  });

  step('both CSV exports download and read back with the same counts, learners by pseudonym', async () => {
    const download = async (id) => {
      const [file] = await Promise.all([dashboard.waitForEvent('download'), dashboard.locator(`#${id}`).click()]);
      return readFile(await file.path(), 'utf8');
    };
    const summary = csvRows(await download('summary-csv'));
    assert.deepEqual(summary[0], ['date', 'messages', 'active_learners', 'assistant_replies']);
    assert.deepEqual(summary.at(-1), [today(), '3', '2', '0']);
    const messages = csvRows(await download('messages-csv'));
    const header = messages[0];
    assert.equal(messages.length, 4, 'a header and three messages');
    const sender = header.indexOf('sender');
    const place = header.indexOf('place');
    const senders = new Set(messages.slice(1).map((r) => r[sender]));
    assert.equal(senders.size, 2);
    for (const s of senders) assert.match(s, /^learner-[0-9a-f]{10}$/);
    assert.ok(messages.slice(1).every((r) => r[place] === 'room'));
    assert.ok(!header.includes('text'), 'no texts unless the operator allows them');
  });

  step("dave hides bob's message: both learners' widgets show the notice at once, the text kept for the audit", async () => {
    const row = dashboard.locator(`#m-${bobMessageId}`);
    await Promise.all([dashboard.waitForEvent('load'), row.getByRole('button', { name: 'Hide' }).click()]);
    for (const who of [alice, bob]) {
      await who.widget.waitForBubble((b) => b.id === bobMessageId && b.text === NOTICE, `${who.rec.label} should see the notice`);
      const texts = (await who.widget.bubbleFacts()).map((b) => b.text);
      assert.ok(!texts.includes(BOB_1), `${who.rec.label} no longer sees the text`);
    }
    const hidden = await bob.widget.bubbleFacts();
    assert.ok(hidden.find((b) => b.id === bobMessageId).classes.includes('ibal-hidden'), 'styled as removed');
    await screenshot(alice.page, 'insights-02-alice-sees-the-notice');
    await screenshot(bob.page, 'insights-03-bob-sees-the-notice');
    const kept = dashboard.locator(`#m-${bobMessageId}`);
    assert.ok((await kept.textContent()).includes(BOB_1), 'the dashboard keeps the text, marked hidden');
    assert.equal(await kept.getAttribute('class'), 'hidden');
  });

  step('dave mutes alice for an hour: her next message is refused and the room never sees it', async () => {
    const aliceRow = dashboard.locator('#room-messages tbody tr', { hasText: ALICE_2 });
    await Promise.all([dashboard.waitForEvent('load'), aliceRow.getByRole('button', { name: 'Mute sender' }).click()]);
    assert.equal(await dashboard.locator('#mutes tbody tr').count(), 1, 'the mute is listed');
    await alice.widget.input.fill(ALICE_MUTED);
    await alice.widget.input.press('Enter');
    const refused = await alice.widget.waitForBubble(
      (b) => b.text === ALICE_MUTED && !b.classes.includes('ibal-msg-pending'),
      'alice should see her message refused',
    );
    const why = `${refused.state ?? ''} ${await alice.widget.noticeText()}`;
    assert.match(why, /muted/i, `the widget says why: ${why}`);
    assert.equal(refused.id, null, 'never stored');
    await screenshot(alice.page, 'insights-04-alice-muted');
    await bob.widget.send('Sorry everyone.');
    const seen = (await bob.widget.bubbleFacts()).map((b) => b.text);
    assert.ok(!seen.includes(ALICE_MUTED), 'bob never sees the muted message');
  });

  step('dave pins an announcement: shown above the messages in both widgets; the audit lists each action', async () => {
    await dashboard.locator('.pin-form textarea[name="content"]').fill(ANNOUNCEMENT);
    await Promise.all([dashboard.waitForEvent('load'), dashboard.locator('.pin-form').getByRole('button', { name: 'Pin' }).click()]);
    for (const who of [alice, bob]) {
      const banner = who.page.locator('.ibal-pinned');
      await waitUntil(async () => (await banner.textContent().catch(() => ''))?.includes(ANNOUNCEMENT), `${who.rec.label} should see the announcement`);
    }
    await screenshot(bob.page, 'insights-05-pinned');
    const audit = await dashboard
      .locator('#audit tbody tr')
      .evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim()).join(' ')));
    assert.equal(audit.length, 3, `hide, mute, pin: ${audit.join(' | ')}`);
    assert.ok(audit[0].includes('dave pin') && audit[1].includes('dave mute') && audit[2].includes('dave hide'), audit.join(' | '));
    await screenshot(dashboard, 'insights-06-dashboard-after-moderation');
    // The top of the page at a desktop size: the README's picture of the dashboard (docs/images).
    // (The page was left at its moderation section: photograph that too.)
    await dashboard.setViewportSize({ width: 1280, height: 1000 });
    await screenshot(dashboard, 'insights-08-moderation', { fullPage: false });
    await dashboard.evaluate(() => window.scrollTo(0, 0));
    await screenshot(dashboard, 'insights-07-dashboard-top', { fullPage: false });
  });

  step('a learner gets 403 on the dashboard, and so does the staff of another course', async () => {
    const asAlice = await alice.rec.context.request.get(dashboardUrl(), { maxRedirects: 0 });
    assert.equal(asAlice.status(), 403);
    // Staff of another course enter theirs with their LMS's ticket, and are refused this one.
    const ticket = stack.tickets.sign(stack.gateway.url, 'otto', {
      role: 'staff',
      course_id: OTHER_COURSE,
      usage_id: 'block-v1:Other+X+2026+type@ibalxblock+block@z',
    });
    const other = await stack.browser.newContext();
    stack.contexts.push(other);
    const entered = await other.request.post(`${stack.gateway.url}/instructor/enter`, { form: { ticket }, maxRedirects: 0 });
    assert.equal(entered.status(), 303);
    assert.equal(entered.headers().location, `/instructor/${encodeURIComponent(OTHER_COURSE)}`);
    const theirs = await other.request.get(`${stack.gateway.url}${entered.headers().location}`);
    assert.equal(theirs.status(), 200, 'their own course opens');
    const ours = await other.request.get(dashboardUrl());
    assert.equal(ours.status(), 403, "another course's staff are refused this one");
  });
});
