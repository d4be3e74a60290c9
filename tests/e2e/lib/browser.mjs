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

/**
 * A fresh browser context (its own cookies and localStorage) that records:
 * `consoleLines` [{page, type, text}] of every page of the context (the popup's too),
 * `pageErrors` [{page, message}], `navigations` [url] of main-frame document requests, and
 * `httpErrors` ["status METHOD url"] of every response >= 400.
 * `cookies` are added before anything is opened.
 */
export async function newRecordedContext(browser, { label, cookies = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  context.setDefaultTimeout(15000);
  if (cookies.length) await context.addCookies(cookies);
  const rec = { label, context, consoleLines: [], pageErrors: [], navigations: [], httpErrors: [] };
  let n = 0;
  const watch = (page) => {
    const name = n++ === 0 ? 'page' : `popup${n - 1}`;
    page.on('console', (msg) => rec.consoleLines.push({ page: name, type: msg.type(), text: msg.text() }));
    page.on('pageerror', (err) => rec.pageErrors.push({ page: name, message: String(err?.message ?? err) }));
  };
  context.on('page', watch);
  context.on('request', (req) => {
    if (req.isNavigationRequest() && req.resourceType() === 'document') rec.navigations.push(req.url());
  });
  context.on('response', (res) => {
    if (res.status() >= 400) rec.httpErrors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
  rec.newPage = async () => context.newPage();
  /** The console texts, optionally of one page ('page', 'popup1'…). */
  rec.texts = (page) => rec.consoleLines.filter((l) => !page || l.page === page).map((l) => l.text);
  return rec;
}

/** Saves a full-page screenshot as tests/output/e2e/<name>.png and returns its path. */
export async function screenshot(page, name) {
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
