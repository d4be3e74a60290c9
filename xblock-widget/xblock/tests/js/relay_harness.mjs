// Runs ibal_xblock/public/relay.js in Node against a fake window and prints what happened as JSON.
// Usage: node relay_harness.mjs '<json options>'
//   options: { hash: location.hash, pathname, search, no_broadcast_channel: bool,
//              replace_state_throws: bool, close_wait_ms: how long to wait for window.close() }
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const options = JSON.parse(process.argv[2] || '{}');
const source = readFileSync(
    fileURLToPath(new URL('../../ibal_xblock/public/relay.js', import.meta.url)), 'utf8');

// What the page shows: the status paragraph of relay.html. `innerHTML` is recorded apart, so a
// test can tell text from markup.
const status = {
    id: 'ibal-relay-status',
    textContent: 'Signing in…',
    htmlWrites: [],
    set innerHTML(value) { this.htmlWrites.push(String(value)); },
};
const document = { getElementById: (id) => (id === status.id ? status : null) };

const location = {
    hash: options.hash || '',
    pathname: options.pathname || '/xblock/resource/ibalxblock/public/relay.html',
    search: options.search || '',
};

// history.replaceState as a browser does it: the URL it is given becomes the current one.
const replaced = [];
const history = {
    replaceState(state, title, url) {
        if (options.replace_state_throws) throw new Error('SecurityError');
        replaced.push({ state, title, url });
        const parsed = new URL(url, 'https://lms.example.com');
        location.hash = parsed.hash;
        location.pathname = parsed.pathname;
        location.search = parsed.search;
    },
};

// Messages posted on each channel; `hashAtPost` tells whether the fragment was already gone.
const posted = [];
const channels = [];
class FakeBroadcastChannel {
    constructor(name) {
        this.name = name;
        this.closed = false;
        channels.push(name);
    }
    postMessage(message) {
        if (this.closed) throw new Error('InvalidStateError');
        posted.push({ channel: this.name, message: structuredClone(message), hashAtPost: location.hash });
    }
    close() { this.closed = true; }
}

let closed = false;
const window = { close() { closed = true; } };

const logs = [];
const capture = (level) => (...parts) => logs.push({ level, text: parts.map(String).join(' ') });
const fakeConsole = { log: capture('log'), error: capture('error'), warn: capture('warn'), info: capture('info') };

const globals = {
    document, location, history, window, console: fakeConsole, setTimeout,
    BroadcastChannel: options.no_broadcast_channel ? undefined : FakeBroadcastChannel,
};
new Function(...Object.keys(globals), source)(...Object.values(globals));

await new Promise((resolve) => setTimeout(resolve, options.close_wait_ms ?? 300));

process.stdout.write(JSON.stringify({
    status: status.textContent,
    htmlWrites: status.htmlWrites,
    posted,
    channels,
    replaced,
    locationHash: location.hash,
    locationUrl: location.pathname + location.search + location.hash,
    closed,
    logs,
}) + '\n');
