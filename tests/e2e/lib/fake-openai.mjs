// A fake OpenAI-compatible server, in-process: `POST /v1/chat/completions` with `stream: true`
// answers Server-Sent Events, one `data: {"choices":[{"delta":{"content":…}}]}` chunk every
// `gapMs`, then a usage chunk and `data: [DONE]`; `GET /v1/models` lists one model. Every completion
// request is kept in `requests` ({body, authorization}), in order: what the model was asked, the
// system prompt included. The reply is REPLY_TOKENS unless `replyTokens` says otherwise.
import http from 'node:http';

/** The reply, token by token. Markdown on purpose: the widget renders assistant replies. */
export const REPLY_TOKENS = [
  'Photosynthesis ',
  'turns ',
  'light, ',
  'water ',
  'and ',
  'carbon dioxide ',
  'into ',
  '**glucose** ',
  'and ',
  'oxygen.',
];
export const REPLY_TEXT = REPLY_TOKENS.join('');
/** The reply as the browser shows it (Markdown rendered). */
export const REPLY_RENDERED = REPLY_TEXT.replace(/\*\*/g, '');

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeOpenAi({ gapMs = 60, model = 'fake-model', replyTokens = REPLY_TOKENS } = {}) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (req.method === 'GET' && path === '/v1/models') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model', owned_by: 'e2e' }] }));
    }
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'invalid JSON', type: 'invalid_request_error' } }));
      }
      requests.push({ body, authorization: req.headers.authorization ?? null });
      if (body.stream !== true) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'this fake only streams', type: 'invalid_request_error' } }));
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      const id = `chatcmpl-e2e${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      const chunk = (choices, extra = {}) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
      const events = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])];
      for (const t of replyTokens) events.push(chunk([{ index: 0, delta: { content: t }, finish_reason: null }]));
      events.push(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      events.push(chunk([], { usage: { prompt_tokens: 24, completion_tokens: replyTokens.length, total_tokens: 24 + replyTokens.length } }));
      events.push('data: [DONE]\n\n');
      let closed = false;
      req.on('close', () => {
        closed = true;
      });
      for (const [i, e] of events.entries()) {
        if (closed) return;
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        res.write(e);
      }
      return res.end();
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'not found' } }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
