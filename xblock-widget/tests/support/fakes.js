// In-page fakes for the widget's browser tests: a WebSocket the test drives (open, frames, close),
// window.open, fetch, and a console recorder. Installed once; reset() between tests.

const state = {
  sockets: [],
  logs: [],
  opened: [],
  popup: null,
  fetches: [],
  routes: new Map(),
  clipboard: [],
  clipboardRefuses: false,
  tracked: [],
  // Downloads: the Blob of each object URL, the links clicked (instead of saving a file), URLs revoked.
  blobs: new Map(),
  downloads: [],
  revoked: [],
};

// An EventTarget, as a browser's: the widget listens with addEventListener.
class FakeWebSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = String(url);
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.closedWith = null;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    state.sockets.push(this);
  }

  send(data) {
    if (this.readyState !== FakeWebSocket.OPEN) {
      throw new Error('InvalidStateError: the socket is not open');
    }
    this.sent.push(String(data));
  }

  // The server's side of an event: to the `on<type>` handler and to the listeners, as a browser does.
  deliver(event) {
    const handler = this['on' + event.type];
    if (handler) handler.call(this, event);
    this.dispatchEvent(event);
  }

  close(code) {
    if (this.readyState >= FakeWebSocket.CLOSING) {
      return;
    }
    this.readyState = FakeWebSocket.CLOSED;
    this.closedWith = code === undefined ? 1005 : code;
  }
}
FakeWebSocket.CONNECTING = 0;
FakeWebSocket.OPEN = 1;
FakeWebSocket.CLOSING = 2;
FakeWebSocket.CLOSED = 3;

let installed = false;

export function install() {
  if (installed) {
    return;
  }
  installed = true;
  globalThis.WebSocket = FakeWebSocket;
  // The clipboard: what was written, or a refusal (as a browser's permission check).
  Object.defineProperty(navigator, 'clipboard', {
    configurable: true,
    value: {
      writeText: async (text) => {
        if (state.clipboardRefuses) throw new DOMException('Write permission denied.', 'NotAllowedError');
        state.clipboard.push(String(text));
      },
    },
  });
  globalThis.open = (url) => {
    state.opened.push(String(url));
    return state.popup;
  };
  globalThis.fetch = async (url, init) => {
    const request = {
      url: String(url),
      method: (init && init.method) || 'GET',
      body: init && init.body !== undefined ? String(init.body) : '',
      contentType: (init && init.headers && init.headers['Content-Type']) || '',
      authorization: (init && init.headers && init.headers.Authorization) || '',
    };
    state.fetches.push(request);
    const path = new URL(request.url).pathname;
    const route = state.routes.get(path) || { status: 404, body: '{"error":{"code":"pending","message":"nothing yet"}}' };
    // Status 0: the server cannot be reached (fetch rejects, as a browser's does).
    if (route.status === 0) throw new TypeError('Failed to fetch');
    // A 204 has no body (the Response constructor refuses one).
    const body = route.status === 204 ? null : route.body;
    return new Response(body, { status: route.status, headers: { 'Content-Type': 'application/json' } });
  };
  const createObjectURL = URL.createObjectURL.bind(URL);
  const revokeObjectURL = URL.revokeObjectURL.bind(URL);
  URL.createObjectURL = (blob) => {
    const url = createObjectURL(blob);
    state.blobs.set(url, blob);
    return url;
  };
  URL.revokeObjectURL = (url) => {
    state.revoked.push(String(url));
    revokeObjectURL(url);
  };
  // A click on a download link is recorded, and the browser saves nothing.
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element && event.target.closest('a[download]');
    if (link) {
      event.preventDefault();
      state.downloads.push(JSON.stringify({ name: link.getAttribute('download'), url: link.getAttribute('href'), inPage: link.isConnected }));
    }
  }, true);
  for (const level of ['log', 'info', 'warn', 'error']) {
    const original = console[level];
    console[level] = (...args) => {
      state.logs.push(args.map(String).join(' '));
      return original.apply(console, args);
    };
  }
}

export function reset() {
  state.sockets.length = 0;
  state.logs.length = 0;
  state.opened.length = 0;
  state.fetches.length = 0;
  state.routes.clear();
  state.clipboard.length = 0;
  state.clipboardRefuses = false;
  state.tracked.length = 0;
  state.popup = null;
  state.blobs.clear();
  state.downloads.length = 0;
  state.revoked.length = 0;
  localStorage.clear();
  sessionStorage.clear();
}

// --- WebSocket -------------------------------------------------------------------------------

export function socketCount() {
  return state.sockets.length;
}

function socket(index) {
  const s = state.sockets[index];
  if (!s) {
    throw new Error('no fake socket #' + index);
  }
  return s;
}

export function socketUrl(index) {
  return socket(index).url;
}

export function socketSent(index) {
  return socket(index).sent.slice();
}

export function socketClosedWith(index) {
  const code = socket(index).closedWith;
  return code === null ? -1 : code;
}

export function serverOpen(index) {
  const s = socket(index);
  s.readyState = FakeWebSocket.OPEN;
  s.deliver(new Event('open'));
}

export function serverSend(index, text) {
  const s = socket(index);
  s.deliver(new MessageEvent('message', { data: text }));
}

export function serverClose(index, code, reason) {
  const s = socket(index);
  s.readyState = FakeWebSocket.CLOSED;
  s.deliver(new CloseEvent('close', { code, reason: reason || '', wasClean: code !== 1006 }));
}

// --- window.open, postMessage, fetch ----------------------------------------------------------

export function setPopupBlocked(blocked) {
  state.popup = blocked ? null : { closed: false, close() { this.closed = true; } };
}

export function openedUrls() {
  return state.opened.slice();
}

export function postWindowMessage(origin, json) {
  window.dispatchEvent(new MessageEvent('message', { data: JSON.parse(json), origin }));
}

// The XBlock's get_ticket(): each call resolves to a new ticket, ticket-1, ticket-2…
export function ticketSource() {
  let issued = 0;
  return () => {
    issued += 1;
    return Promise.resolve(`ticket-${issued}`);
  };
}

// `track` as the XBlock gives it: records each call (as JSON: [eventType, fields]) and resolves to true,
// never rejecting. With `throws`, it throws instead (a broken page must not break the chat).
export function trackSource(throws) {
  return (eventType, fields) => {
    state.tracked.push(JSON.stringify([eventType, fields]));
    if (throws) throw new Error('track is broken');
    return Promise.resolve(true);
  };
}

export function tracked() {
  return state.tracked.slice();
}

// The relay page's side: a message on a BroadcastChannel of this origin.
export function broadcast(name, json) {
  const channel = new BroadcastChannel(name);
  channel.postMessage(JSON.parse(json));
  channel.close();
}

export function route(path, status, body) {
  state.routes.set(path, { status, body });
}

export function clipboard() {
  return state.clipboard.slice();
}

export function refuseClipboard(refuses) {
  state.clipboardRefuses = refuses;
}

export function fetchLog() {
  return state.fetches.map((f) => JSON.stringify(f));
}

// --- DOM and console ----------------------------------------------------------------------------

export function logs() {
  return state.logs.slice();
}

export function typeInto(element, text) {
  element.value = text;
  element.dispatchEvent(new Event('input', { bubbles: true }));
}

export function pressKey(element, key, shift) {
  const event = new KeyboardEvent('keydown', { key, shiftKey: shift, bubbles: true, cancelable: true });
  element.dispatchEvent(event);
  return event.defaultPrevented;
}

export function computedStyle(element, property) {
  return getComputedStyle(element).getPropertyValue(property);
}

export function isFocused(element) {
  return document.activeElement === element;
}

export function addStyle(css) {
  const style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);
}

export function setStorage(key, value) {
  localStorage.setItem(key, value);
}

export function getStorage(key) {
  return localStorage.getItem(key) || '';
}

export function sessionItem(key) {
  return sessionStorage.getItem(key) || '';
}

export function setSessionItem(key, value) {
  sessionStorage.setItem(key, value);
}

// --- Downloads ----------------------------------------------------------------------------------

export function downloads() {
  return state.downloads.slice();
}

export function revokedUrls() {
  return state.revoked.slice();
}

// The text of the Blob behind an object URL (a promise; '' for an unknown URL).
export function blobText(url) {
  const blob = state.blobs.get(url);
  return blob ? blob.text() : Promise.resolve('');
}

export function now() {
  return Date.now();
}
