// The pieces an XBlock journey needs, started in order on free ports of 127.0.0.1 and stopped in
// reverse order: the fake LMS, the gateway (with `env`: its chat backend), the workbench (or several,
// e.g. one with LMS sign-in), Chromium. A fresh ticket key pair is made for each stack: the workbench
// signs chat tickets with its private half, the gateway verifies them with the public half.
import { launchBrowser, newRecordedContext } from './browser.mjs';
import { startFakeLms } from './fake-lms.mjs';
import { freePort, stopAll } from './processes.mjs';
import { startFakeOpenAi } from './fake-openai.mjs';
import { startGateway, startWorkbench } from './stack.mjs';
import { makeTicketKeys } from './tickets.mjs';
import { ChatWidget } from './widget.mjs';

/**
 * `env` adds to/overrides the gateway's configuration. `workbenchEnv` adds to every workbench's.
 * `workbenches` names more workbenches to start beside the main one, each with env of its own (e.g.
 * `{ lms: { SIGN_IN: 'lms' } }` → `stack.workbenches.lms`); all serve the same scenarios, so the same
 * usage ids, signed with the same key: the same units of the same course for the gateway.
 */
export async function startXBlockStack(name, env = {}, { workbenchEnv = {}, workbenches = {} } = {}) {
  const stack = { lms: null, gateway: null, workbench: null, workbenches: {}, browser: null, contexts: [], tickets: null };
  stack.stop = async () => {
    await Promise.allSettled(stack.contexts.map((c) => c.close()));
    await stack.browser?.close().catch(() => {});
    await Promise.allSettled(Object.values(stack.workbenches).map((w) => w.stop()));
    await stack.workbench?.stop();
    await stack.gateway?.stop();
    await stack.lms?.close();
    await stopAll();
  };
  try {
    stack.tickets = makeTicketKeys();
    const gatewayPort = await freePort();
    const ports = { main: await freePort() };
    for (const key of Object.keys(workbenches)) ports[key] = await freePort();
    const origins = Object.values(ports).map((p) => `http://127.0.0.1:${p}`);
    stack.lms = await startFakeLms({ redirectUri: `http://127.0.0.1:${gatewayPort}/oauth/openedx/callback` });
    stack.gateway = await startGateway(name, {
      port: gatewayPort,
      env: { ...stack.lms.gatewayEnv(), ...stack.tickets.gatewayEnv(), ALLOWED_ORIGINS: origins.join(','), ...env },
    });
    const start = (key, extra) =>
      startWorkbench(key === 'main' ? name : `${name}-${key}`, {
        gatewayUrl: stack.gateway.url,
        port: ports[key],
        env: { ...stack.tickets.workbenchEnv(), ...workbenchEnv, ...extra },
      });
    // Side by side: each workbench takes a few seconds to migrate its database and start.
    const started = await Promise.allSettled([
      start('main', {}).then((w) => (stack.workbench = w)),
      ...Object.entries(workbenches).map(([key, extra]) => start(key, extra).then((w) => (stack.workbenches[key] = w))),
    ]);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    stack.browser = await launchBrowser();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/**
 * A learner's own browser context (signed in to the fake LMS as `username`, recorded under that
 * label) with the workbench `scenario` open: `{ rec, page, widget }`. The stack closes the context.
 */
export async function openLearner(stack, username, scenario, workbench = stack.workbench) {
  const rec = await newRecordedContext(stack.browser, {
    label: username,
    cookies: [{ name: 'fake_lms_user', value: username, url: stack.lms.url }],
  });
  stack.contexts.push(rec.context);
  const page = await rec.newPage();
  await page.goto(workbench.scenarioUrl(username, scenario));
  return { rec, page, widget: new ChatWidget(page) };
}

/**
 * An XBlock stack whose gateway's assistant (`CHAT_BACKEND=openai`, model `fake-model`, key `apiKey`)
 * is the fake OpenAI-compatible server (`stack.llm`, chunks every `gapMs`, answering `replyTokens`
 * when given), with `env` added (e.g. `CHAT_BACKEND: 'room', ROOM_ASSISTANT: 'openai'`: the fake
 * server is then the room's assistant) and `workbenchEnv` given to the workbench; stopping the stack
 * stops the fake server too.
 */
export async function startAssistantStack(name, apiKey, { gapMs = 60, env = {}, replyTokens, workbenchEnv = {} } = {}) {
  const llm = await startFakeOpenAi({ gapMs, replyTokens });
  let stack;
  try {
    stack = await startXBlockStack(
      name,
      {
        CHAT_BACKEND: 'openai',
        OPENAI_BASE_URL: llm.baseUrl,
        OPENAI_API_KEY: apiKey,
        OPENAI_MODEL: 'fake-model',
        ...env,
      },
      { workbenchEnv },
    );
  } catch (err) {
    await llm.close();
    throw err;
  }
  const stop = stack.stop;
  stack.llm = llm;
  stack.stop = async () => {
    await stop();
    await llm.close();
  };
  return stack;
}
