// A pass-through HTTP proxy in front of the workbench that adds
// `Cross-Origin-Opener-Policy: same-origin` to its pages, as an LMS running Django's
// SecurityMiddleware with its default SECURE_CROSS_ORIGIN_OPENER_POLICY sends it. (Adding the header
// with the browser's request interception instead would make Chromium treat the page as public and
// refuse its requests to 127.0.0.1: Local Network Access.)
import http from 'node:http';

/**
 * `log` lists what the proxy served, [{method, url, status, coop}] (`url` is the path and query the
 * browser sent: what a server can ever see of an address).
 */
export async function startCoopProxy(targetUrl, { port = 0, policy = 'same-origin' } = {}) {
  const target = new URL(targetUrl);
  const log = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const headers = { ...up.headers };
        const html = String(headers['content-type'] || '').startsWith('text/html');
        if (html) headers['cross-origin-opener-policy'] = policy;
        log.push({ method: req.method, url: req.url, status: up.statusCode, coop: html ? policy : null });
        res.writeHead(up.statusCode, up.statusMessage, headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`proxy: ${err.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
