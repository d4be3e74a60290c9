// The pieces an XBlock journey needs, started in order on free ports of 127.0.0.1 and stopped in
// reverse order: the fake LMS, the gateway (with `env`: its chat backend), the workbench, Chromium.
import { launchBrowser } from './browser.mjs';
import { startFakeLms } from './fake-lms.mjs';
import { freePort, stopAll } from './processes.mjs';
import { startGateway, startWorkbench } from './stack.mjs';

export async function startXBlockStack(name, env = {}) {
  const stack = { lms: null, gateway: null, workbench: null, browser: null, contexts: [] };
  stack.stop = async () => {
    await Promise.allSettled(stack.contexts.map((c) => c.close()));
    await stack.browser?.close().catch(() => {});
    await stack.workbench?.stop();
    await stack.gateway?.stop();
    await stack.lms?.close();
    await stopAll();
  };
  try {
    const gatewayPort = await freePort();
    const workbenchPort = await freePort();
    const workbenchOrigin = `http://127.0.0.1:${workbenchPort}`;
    stack.lms = await startFakeLms({ redirectUri: `http://127.0.0.1:${gatewayPort}/oauth/openedx/callback` });
    stack.gateway = await startGateway(name, {
      port: gatewayPort,
      env: { ...stack.lms.gatewayEnv(), ALLOWED_ORIGINS: workbenchOrigin, ...env },
    });
    stack.workbench = await startWorkbench(name, { gatewayUrl: stack.gateway.url, port: workbenchPort });
    stack.browser = await launchBrowser();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
