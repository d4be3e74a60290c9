// Debian's Chromium driven by playwright-core (no browser download), one context per learner, with
// every console line, page error and navigation of the context (popups included) recorded.
import path from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM, OUTPUT_DIR, SLOWMO } from './env.mjs';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, slowMo: SLOWMO });
}

/** The XBlock's chat ticket handler (workbench: /handler/<usage id>/chat_ticket/?student=…). */
const TICKET_HANDLER = /\/handler\/([^/]+)\/chat_ticket\/?$/;

/**
 * A fresh browser context (its own cookies and localStorage) that records:
 * `consoleLines` [{page, type, text}] of every page of the context (the popup's too),
 * `pageErrors` [{page, message}], `navigations` [url] of main-frame document requests,
 * `httpErrors` ["status METHOD url"] of every response >= 400,
 * `tickets` [{page, usageId, ticket, expiresIn}] the chat ticket handler answered (in order),
 * `sockets` [{page, url, sent: [text], received: [text]}] every WebSocket and its frames, and
 * `requests` [{method, url, postData}] of every non-GET request (the token exchange's form…),
 * `requestLines` ["METHOD url"] of every request, GET included,
 * `pageUrls` [{page, url}] every URL a page's main frame took, in order, same-document changes
 * included (history.replaceState: what the address bar showed), and
 * `relayReports` [{page, text, hasFragment, url}] what the IbalXBlock's sign-in relay page
 * (public/relay.html) showed, each time its status line changed: the text, whether the address
 * still had a fragment then, and the address without its fragment. An init script watches the
 * status line and reports it through a binding, because the page closes itself within 100 ms:
 * reading the DOM from here would race with that.
 * These hold tokens and tickets for the checks (`pageUrls` too: the relay's fragment holds the
 * sign-in result): never print them. `settled()` waits for the ticket responses still being read.
 * `cookies` are added before anything is opened.
 */
export async function newRecordedContext(browser, { label, cookies = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  context.setDefaultTimeout(15000);
  if (cookies.length) await context.addCookies(cookies);
  const rec = {
    label,
    context,
    pages: [],
    consoleLines: [],
    pageErrors: [],
    navigations: [],
    httpErrors: [],
    tickets: [],
    sockets: [],
    requests: [],
    requestLines: [],
    pageUrls: [],
    relayReports: [],
  };
  const reading = [];
  const names = new Map();
  let n = 0;
  const watch = (page) => {
    const name = n++ === 0 ? 'page' : `popup${n - 1}`;
    names.set(page, name);
    rec.pages.push({ name, page });
    page.on('console', (msg) => rec.consoleLines.push({ page: name, type: msg.type(), text: msg.text() }));
    page.on('pageerror', (err) => rec.pageErrors.push({ page: name, message: String(err?.message ?? err) }));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) rec.pageUrls.push({ page: name, url: frame.url() });
    });
    page.on('websocket', (ws) => {
      const socket = { page: name, url: ws.url(), sent: [], received: [], closed: false };
      rec.sockets.push(socket);
      ws.on('framesent', (f) => socket.sent.push(String(f.payload)));
      ws.on('framereceived', (f) => socket.received.push(String(f.payload)));
      ws.on('close', () => (socket.closed = true));
    });
  };
  context.on('page', watch);
  await context.exposeBinding('__ibalE2eRelayStatus', ({ page }, report) => {
    rec.relayReports.push({ page: names.get(page) ?? '?', ...report });
  });
  await context.addInitScript(() => {
    if (!location.pathname.endsWith('/public/relay.html')) return;
    let last = null;
    const report = () => {
      const status = document.getElementById('ibal-relay-status');
      if (!status || status.textContent === last) return;
      last = status.textContent;
      // Never the fragment itself: it holds the sign-in result.
      window.__ibalE2eRelayStatus({
        text: status.textContent.trim(),
        hasFragment: location.hash !== '',
        url: location.origin + location.pathname + location.search,
      });
    };
    new MutationObserver(report).observe(document, { subtree: true, childList: true, characterData: true });
  });
  context.on('request', (req) => {
    rec.requestLines.push(`${req.method()} ${req.url()}`);
    if (req.isNavigationRequest() && req.resourceType() === 'document') rec.navigations.push(req.url());
    if (req.method() !== 'GET') rec.requests.push({ method: req.method(), url: req.url(), postData: req.postData() });
  });
  context.on('response', (res) => {
    if (res.status() >= 400) rec.httpErrors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
    const handler = TICKET_HANDLER.exec(new URL(res.url()).pathname);
    if (handler && res.request().method() === 'POST' && res.ok()) {
      let page = '?';
      try {
        page = names.get(res.frame().page()) ?? '?';
      } catch {
        // Not a page's request (a worker's): no page to name.
      }
      // Pushed now, filled in when the body is read: the order is the order of the answers.
      const entry = { page, usageId: decodeURIComponent(handler[1]), ticket: null, expiresIn: null };
      rec.tickets.push(entry);
      reading.push(
        res.json().then(
          (body) => Object.assign(entry, { ticket: body.ticket ?? null, expiresIn: body.expires_in ?? null }),
          () => {},
        ),
      );
    }
  });
  rec.settled = async () => {
    await Promise.all(reading);
  };
  rec.newPage = async () => context.newPage();
  /** The console texts, optionally of one page ('page', 'popup1'…). */
  rec.texts = (page) => rec.consoleLines.filter((l) => !page || l.page === page).map((l) => l.text);
  return rec;
}

/** Saves a screenshot (the full page unless told otherwise) as tests/output/e2e/<name>.png; returns its path. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
