// The course index between the workbench (as Studio) and the gateway: the service client registered
// as the Tutor plugin does it, Studio's Publish in the workbench (tests/workbench_studio.py), and the
// gateway's index API read with the service client's token (docs/indexing-and-retirement.md).
import assert from 'node:assert/strict';

export const SERVICE_CLIENT_ID = 'ibal-openedx';

/**
 * `ibal-gateway clients ensure` with the Tutor plugin's arguments, the secret from the environment
 * (never the command line). Resolves with what it printed ("client ibal-openedx created").
 */
export async function ensureServiceClient(gateway, secret, clientId = SERVICE_CLIENT_ID) {
  const done = await gateway.run(
    [
      'clients', 'ensure',
      '--client-id', clientId,
      '--secret-env', 'IBAL_SERVICE_CLIENT_SECRET',
      '--name', 'Open edX course indexing and retirement',
      '--grant', 'client_credentials',
      '--scope', 'index',
      '--scope', 'retirement',
    ],
    { env: { IBAL_SERVICE_CLIENT_SECRET: secret } },
  );
  assert.equal(done.code, 0, `clients ensure failed: ${done.stderr.slice(0, 500)}`);
  return done.stdout.trim();
}

/** The workbench settings that make it Studio for `courseId`, pushing to the gateway as the service client. */
export function studioEnv(courseId, secret, clientId = SERVICE_CLIENT_ID) {
  return {
    IBAL_WORKBENCH_COURSE_ID: courseId,
    // The workbench plays the LMS too: the index links blocks to its own /courses/…/jump_to/….
    LMS_ROOT_URL: (url) => url,
    SERVICE_CLIENT_ID: clientId,
    SERVICE_CLIENT_SECRET: secret,
  };
}

/** Studio's Publish of a course OLX scenario in the workbench; resolves with its JSON answer. */
export async function publishScenario(workbench, scenario) {
  const answer = await fetch(`${workbench.url}/ibal-workbench/publish/${scenario}/`, { method: 'POST' });
  const text = await answer.text();
  assert.equal(answer.status, 200, `publishing ${scenario}: ${answer.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** An `index`-scoped access token of the service client (never print it). */
export async function serviceToken(gateway, secret, clientId = SERVICE_CLIENT_ID) {
  const answer = await fetch(`${gateway.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'index' }),
  });
  const body = await answer.json();
  assert.equal(answer.status, 200, `the service client's token: ${answer.status} ${body.error ?? ''}`);
  assert.equal(body.scope, 'index');
  return body.access_token;
}

async function indexGet(gateway, token, courseId, tail) {
  const answer = await fetch(`${gateway.url}/api/v1/index/courses/${encodeURIComponent(courseId)}/${tail}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await answer.json();
  assert.equal(answer.status, 200, `GET …/${tail}: ${answer.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

/** `{usage id: hash}` of every block the gateway holds for the course. */
export async function indexHashes(gateway, token, courseId) {
  return (await indexGet(gateway, token, courseId, 'hashes')).hashes;
}

/** What a learner in no group would be given for `question`, best first. */
export async function indexSearch(gateway, token, courseId, question, limit = 5) {
  return (await indexGet(gateway, token, courseId, `search?${new URLSearchParams({ q: question, limit: String(limit) })}`)).results;
}
