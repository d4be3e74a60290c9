// The chat widget as a learner sees it, through its real DOM (xblock-widget/src/view.rs): roles and
// accessible names where it has them, its `ibal-*` classes otherwise.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export const TEXT = {
  start: 'Start Chat',
  close: 'Close Chat',
  signOut: 'Sign out',
  signedOut: 'You are signed out.',
  welcome: 'Click Start Chat to begin',
  connected: 'Connected',
  messages: 'Chat messages',
  input: 'Message',
};

/** Polls `fn` until it returns a truthy value; fails with `message` (and the last value) after `timeoutMs`. */
export async function waitUntil(fn, message, { timeoutMs = 10000, everyMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new assert.AssertionError({ message: `${message} (waited ${timeoutMs} ms; last: ${detail})` });
    }
    await sleep(everyMs);
  }
}

/** `rgb(r, g, b)` / `rgba(…)` → [r, g, b]. */
export function rgb(css) {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css || '');
  assert.ok(m, `not a CSS colour: ${css}`);
  return m.slice(1, 4).map(Number);
}

/** Colour families, loose on purpose: the tests check "green", not one exact shade. */
export const colour = {
  green: ([r, g, b]) => g > r + 40 && g > b + 40,
  red: ([r, g, b]) => r > g + 80 && r > b + 80,
  blue: ([r, g, b]) => b > r + 80 && b > g + 40,
  white: ([r, g, b]) => r >= 250 && g >= 250 && b >= 250,
  grey: ([r, g, b]) => Math.max(r, g, b) - Math.min(r, g, b) < 30 && r < 200,
};

export function assertColour(css, family, what) {
  assert.ok(colour[family](rgb(css)), `${what} should be ${family}, is ${css}`);
}

/** One mounted widget in a page. */
export class ChatWidget {
  constructor(page, root = page.locator('.ibal-widget').first()) {
    this.page = page;
    this.root = root;
    this.startButton = root.getByRole('button', { name: TEXT.start, exact: true });
    this.closeButton = root.getByRole('button', { name: TEXT.close, exact: true });
    this.signOutButton = root.getByRole('button', { name: TEXT.signOut, exact: true });
    this.status = root.getByRole('status', { name: 'Connection status' });
    this.statusText = root.locator('.ibal-status-text');
    this.user = root.locator('.ibal-user');
    this.userName = root.locator('.ibal-username');
    this.presence = root.locator('.ibal-presence');
    this.typing = root.locator('.ibal-typing');
    this.notice = root.locator('.ibal-notice');
    this.noticeMessage = this.notice.locator('.ibal-notice-text');
    this.log = root.getByRole('log', { name: TEXT.messages });
    this.bubbles = root.locator('.ibal-messages > .ibal-msg');
    this.input = root.getByRole('textbox', { name: TEXT.input });
    this.loginForm = root.locator('form.ibal-login');
  }

  /** Computed style property of the first element matching `locator`. */
  static async css(locator, prop) {
    return locator.evaluate((el, p) => getComputedStyle(el).getPropertyValue(p), prop);
  }

  async statusClass() {
    return this.status.evaluate((el) => [...el.classList].find((c) => c.startsWith('ibal-status-')) ?? '');
  }

  /** The notice text when one is shown, for failure messages. */
  async noticeText() {
    return (await this.notice.isVisible()) ? (await this.notice.textContent()).trim() : '';
  }

  /** The start state: green Start Chat, the welcome line, no chat, no messages, nobody signed in. */
  async expectStartState(welcome = TEXT.welcome) {
    // The XBlock replaces its mount point with a message when the widget cannot be loaded.
    const blockError = this.page.locator('.ibal-xblock-error, .ibal-xblock--unavailable');
    await waitUntil(
      async () => (await this.startButton.isVisible()) || (await blockError.count()) > 0,
      'the widget should show Start Chat',
      { timeoutMs: 15000 },
    );
    if (!(await this.startButton.isVisible())) {
      const text = (await blockError.first().textContent()).trim();
      assert.fail(`the chat did not load; the block shows "${text}" (see the console lines starting "[IbalXBlock] Failed")`);
    }
    // The stylesheet is linked by the widget and loads after the button exists: wait for it to apply.
    const green = async () => {
      try {
        assertColour(await ChatWidget.css(this.startButton, 'background-color'), 'green', 'the Start Chat button');
        return true;
      } catch {
        return false;
      }
    };
    await waitUntil(green, 'the Start Chat button should be green once the stylesheet has loaded', { timeoutMs: 10000 });
    assert.equal((await this.statusText.textContent()).trim(), welcome, 'the start state shows the welcome line');
    assert.equal(await this.statusClass(), 'ibal-status-idle');
    assert.equal(await this.log.isVisible(), false, 'no chat panel in the start state');
    assert.equal(await this.bubbles.count(), 0, 'no messages in the start state');
    assert.equal(await this.user.isVisible(), false, 'no user header in the start state');
    assert.equal(await this.closeButton.isVisible(), false, 'no Close Chat in the start state');
    assert.equal(await this.signOutButton.isVisible(), false, 'no Sign out in the start state');
  }

  /** Waits for Connected (green, class ibal-status-connected) and the user header. */
  async expectConnected(username, { timeoutMs = 15000 } = {}) {
    await waitUntil(
      async () => (await this.statusClass()) === 'ibal-status-connected',
      `the status should become Connected (status: "${await this.statusText.textContent().catch(() => '?')}", notice: "${await this.noticeText().catch(() => '')}")`,
      { timeoutMs },
    );
    assert.equal((await this.statusText.textContent()).trim(), TEXT.connected);
    assertColour(await ChatWidget.css(this.status, 'color'), 'green', 'the Connected status');
    await this.user.waitFor({ state: 'visible' });
    assert.equal((await this.userName.textContent()).trim(), username, 'the header shows the signed-in user');
    await this.log.waitFor({ state: 'visible' });
    assertColour(await ChatWidget.css(this.closeButton, 'background-color'), 'red', 'the Close Chat button');
    // Every journey here signs in (popup, LMS ticket, local form): only an LTI page's handed-over
    // token has no sign-out.
    assert.equal(await this.signOutButton.isVisible(), true, 'Sign out is offered while the chat is open');
    assert.equal(
      await this.signOutButton.evaluate((el) => el.classList.contains('ibal-btn-signout') && !!el.parentElement.querySelector('.ibal-btn-close')),
      true,
      'Sign out (.ibal-btn-signout) sits next to Close Chat',
    );
    assert.equal(await this.input.isEnabled(), true, 'the message box is enabled once connected');
  }

  /** Facts about every bubble, in order. */
  async bubbleFacts() {
    return this.bubbles.evaluateAll((nodes) =>
      nodes.map((n) => {
        const time = n.querySelector('time.ibal-msg-time');
        const badge = n.querySelector('.ibal-msg-meta .ibal-msg-badge');
        return {
          classes: [...n.classList],
          id: n.getAttribute('data-id'),
          busy: n.getAttribute('aria-busy'),
          sender: n.querySelector('.ibal-msg-sender')?.textContent.trim() ?? '',
          // The sender's course role badge (staff, instructor), when there is one.
          badge: badge ? { role: badge.getAttribute('data-role'), text: badge.textContent.trim() } : null,
          datetime: time?.getAttribute('datetime') ?? null,
          timeText: time?.textContent.trim() ?? null,
          state: n.querySelector('.ibal-msg-state')?.textContent.trim() ?? null,
          text: n.querySelector('.ibal-msg-body')?.textContent.trim() ?? '',
          html: n.querySelector('.ibal-msg-body')?.innerHTML ?? '',
          background: getComputedStyle(n).backgroundColor,
        };
      }),
    );
  }

  /** Waits for a bubble matching `pred` and returns its facts. */
  async waitForBubble(pred, message, opts) {
    return waitUntil(async () => (await this.bubbleFacts()).find(pred), message, opts);
  }

  /** Types `text` and presses Enter; returns the facts of the acknowledged, blue sent bubble. */
  async send(text) {
    await this.input.click();
    await this.input.fill(text);
    await this.input.press('Enter');
    const bubble = await this.waitForBubble(
      (b) => b.classes.includes('ibal-msg-sent') && b.text === text && b.id && !b.classes.includes('ibal-msg-pending'),
      `the sent message "${text}" should be acknowledged by the gateway (notice: "${await this.noticeText()}")`,
    );
    assert.equal((await this.input.inputValue()), '', 'the message box is emptied after sending');
    assertSentBubble(bubble);
    return bubble;
  }
}

/** A sent bubble: blue, "You", with a timestamp. */
export function assertSentBubble(b) {
  assert.ok(b.classes.includes('ibal-msg-sent'), `sent bubble classes: ${b.classes}`);
  assert.equal(b.sender, 'You');
  assertColour(b.background, 'blue', `the sent bubble "${b.text}"`);
  assertTimestamp(b);
}

/** A received bubble from `sender`: white, with a timestamp. */
export function assertReceivedBubble(b, sender) {
  assert.ok(b.classes.includes('ibal-msg-received'), `received bubble classes: ${b.classes}`);
  assert.equal(b.sender, sender);
  assertColour(b.background, 'white', `the received bubble "${b.text}"`);
  assertTimestamp(b);
}

function assertTimestamp(b) {
  assert.ok(b.datetime && !Number.isNaN(Date.parse(b.datetime)), `bubble "${b.text}" has a machine timestamp: ${b.datetime}`);
  assert.match(b.timeText ?? '', /\d{1,2}:\d{2}/, `bubble "${b.text}" shows a time`);
  assert.ok(Math.abs(Date.parse(b.datetime) - Date.now()) < 5 * 60 * 1000, `bubble "${b.text}" time is now-ish: ${b.datetime}`);
}

/**
 * Clicks Start Chat, follows the popup through the gateway and the LMS back to the callback page,
 * which must post to the opener (with the attempt's nonce) and close. Returns the popup's
 * navigations.
 */
export async function signInWithPopup(widget, rec) {
  const before = rec.navigations.length;
  const [popup] = await Promise.all([widget.page.waitForEvent('popup'), widget.startButton.click()]);
  await waitUntil(() => popup.isClosed(), 'the sign-in popup should close by itself after posting the result', {
    timeoutMs: 15000,
  }).catch(async (err) => {
    const text = await popup.locator('body').innerText().catch(() => '');
    throw new assert.AssertionError({ message: `${err.message}; the popup shows: ${text.slice(0, 500)}` });
  });
  return rec.navigations.slice(before);
}
