// Runs static/js/src/ibal_xblock.js in Node against a tiny fake DOM and prints what happened as JSON.
// Usage: node harness.mjs '<json options>'
//   options: { widget_url, load_error, jquery: bool, calls: number, args: {...extra settings},
//              cookie: document.cookie, get_ticket: bool (call settings.get_ticket() after mount),
//              fetch_response: {status, body} (what the chat_ticket handler answers), fetch_error: message,
//              track: [[eventType, fields], ...] (call settings.track() with each after mount; fields
//                     "unserialisable" stands for fields that are not JSON),
//              event_response: {status, body} (what the publish_event handler answers),
//              event_fetch_error: message (a network failure of the publish_event handler),
//              fetch_throws: bool (fetch() itself throws),
//              insights: bool (the staff view's "Course chat insights" button and its message, as the template
//                        renders them), insights_error: the button's data-insights-error,
//              insights_clicks: number (click the button that many times at once, then await each click) }
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const options = JSON.parse(process.argv[2] || '{}');
const source = readFileSync(
    fileURLToPath(new URL('../../ibal_xblock/static/js/src/ibal_xblock.js', import.meta.url)), 'utf8');

// What the forms' submit() saw: the form's attributes, its fields' attributes, and whether it was in the page.
const submitted = [];

class FakeNode {
    constructor(tagName) {
        this.tagName = tagName;
        this.children = [];
        this.attributes = {};
        this.className = '';
        this.textContent = '';
        this.mount = null;
        this.parentNode = null;
        this.listeners = {};
    }
    get firstChild() { return this.children[0] || null; }
    appendChild(child) { this.children.push(child); child.parentNode = this; return child; }
    removeChild(child) {
        const index = this.children.indexOf(child);
        if (index < 0) throw new Error('removeChild: not a child');
        this.children.splice(index, 1);
        child.parentNode = null;
        return child;
    }
    setAttribute(name, value) { this.attributes[name] = String(value); }
    getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
    removeAttribute(name) { delete this.attributes[name]; }
    addEventListener(type, listener) { (this.listeners[type] = this.listeners[type] || []).push(listener); }
    // The mount point (this.mount) and, among the children, the first node with the class `.name`.
    querySelector(selector) {
        if (selector === '.ibal-xblock-mount') return this.mount;
        for (const child of this.children) {
            if (child.className.split(' ').includes(selector.slice(1))) return child;
            const found = child.querySelector ? child.querySelector(selector) : null;
            if (found) return found;
        }
        return null;
    }
    submit() {
        if (this.tagName !== 'form') throw new Error('submit() on a ' + this.tagName);
        let inPage = false;
        for (let node = this; node; node = node.parentNode) inPage = inPage || node === globalThis.__ibalRoot;
        submitted.push({
            attributes: { ...this.attributes },
            fields: this.children.map((child) => ({ tag: child.tagName, attributes: { ...child.attributes } })),
            inPage,
        });
    }
}

globalThis.document = { createElement: (tag) => new FakeNode(tag), cookie: options.cookie || '' };
globalThis.__ibalWidget = { calls: [] };

// fetch() as the browser would run it against the block's handlers: chat_ticket (or whatever the test names it)
// answers `fetch_response`, publish_event answers `event_response`.
const fetchCalls = [];
globalThis.fetch = (url, init) => {
    fetchCalls.push({ url, init });
    if (options.fetch_throws) throw new TypeError('fetch is not allowed here');
    const isEvent = url.endsWith('/publish_event');
    const failure = isEvent ? options.event_fetch_error : options.fetch_error;
    if (failure) return Promise.reject(new TypeError(failure));
    const answer = isEvent ?
        (options.event_response || { status: 200, body: '{"result": "success"}' }) :
        (options.fetch_response || { status: 200, body: '{"ticket":"aaa.bbb.ccc","expires_in":300}' });
    return Promise.resolve({
        ok: answer.status >= 200 && answer.status < 300,
        status: answer.status,
        text: () => Promise.resolve(answer.body),
    });
};

const logs = [];
console.log = (...parts) => logs.push({ level: 'log', text: parts.join(' ') });
console.error = (...parts) => logs.push({ level: 'error', text: parts.join(' ') });
console.warn = (...parts) => logs.push({ level: 'warn', text: parts.join(' ') });

const root = new FakeNode('div');
const mountPoint = new FakeNode('div');
mountPoint.className = 'ibal-xblock-mount';
if (options.load_error !== undefined) mountPoint.setAttribute('data-load-error', options.load_error);
const placeholder = new FakeNode('p');
placeholder.textContent = 'Loading the chat…';
mountPoint.appendChild(placeholder);
if (!options.no_mount) root.mount = mountPoint;
globalThis.__ibalRoot = root;

let insightsButton = null;
let insightsMessage = null;
if (options.insights) {
    const box = new FakeNode('div');
    box.className = 'ibal-xblock-insights';
    insightsButton = new FakeNode('button');
    insightsButton.className = 'ibal-xblock-insights-button';
    insightsButton.setAttribute('type', 'button');
    if (options.insights_error !== undefined) insightsButton.setAttribute('data-insights-error', options.insights_error);
    insightsMessage = new FakeNode('span');
    insightsMessage.className = 'ibal-xblock-insights-message';
    insightsMessage.setAttribute('role', 'alert');
    box.appendChild(insightsButton);
    box.appendChild(insightsMessage);
    root.appendChild(box);
}

const IbalXBlock = new Function(source + '\nreturn IbalXBlock;')();
const args = Object.assign({
    gateway_url: 'https://chat.example.com',
    ws_url: 'wss://chat.example.com/ws/chat/',
    widget_url: options.widget_url,
    course_id: 'course-v1:Org+Course+Run',
    usage_id: 'block-v1:Org+Course+Run+type@ibalxblock+block@1',
    display_name: 'IBAL Chat',
    welcome_message: 'Click Start Chat to begin',
    lang: 'en',
    sign_in: 'popup',
    ticket_handler: 'chat_ticket',
    event_handler: 'publish_event',
    auth_relay_url: '/xblock/resource/ibalxblock/public/relay.html',
    mode: 'both',
    starters: ['What is ATP?', 'Why is oxygen released?'],
}, options.args || {});
if (options.widget_url === null) delete args.widget_url;

const element = options.jquery ? { jquery: '3.7.1', 0: root, length: 1 } : root;
const handlerUrlCalls = [];
const runtime = {
    handlerUrl(el, name) {
        handlerUrlCalls.push({ sameElement: el === element, name });
        return '/courses/course-v1:Org+Course+Run/xblock/block-v1:1/handler/' + name;
    },
};
for (let i = 0; i < (options.calls || 1); i++) {
    new IbalXBlock(runtime, element, args);  // the workbench runtime calls it with `new`
}

const deadline = Date.now() + 5000;
while (['loading'].includes(mountPoint.getAttribute('data-ibal-state')) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
}

// Clicks on the insights button (all at once, as a double click would), then what each click resolved to.
const clicks = [];
if (insightsButton && options.insights_clicks) {
    const pending = [];
    for (let i = 0; i < options.insights_clicks; i++) {
        for (const listener of insightsButton.listeners.click || []) {
            pending.push(Promise.resolve(listener.call(insightsButton, { type: 'click' })));
        }
    }
    for (const click of pending) {
        clicks.push(await click.then(
            (value) => ({ resolved: value }),
            (error) => ({ rejected: error instanceof Error ? error.message : String(error) }),
        ));
    }
}
const insights = insightsButton ? {
    listeners: (insightsButton.listeners.click || []).length,
    buttonAttributes: insightsButton.attributes,
    message: insightsMessage.textContent,
    clicks,
    submitted,
    formsLeft: root.children.filter((child) => child.tagName === 'form').length,
} : null;

const widget = globalThis.__ibalWidget;
let ticket = null;
if (options.get_ticket && widget.mountSettings && typeof widget.mountSettings.get_ticket === 'function') {
    ticket = await widget.mountSettings.get_ticket().then(
        (value) => ({ resolved: value }),
        (error) => ({ rejected: error instanceof Error ? error.message : String(error) }),
    );
}
const tracked = [];
if (options.track && widget.mountSettings && typeof widget.mountSettings.track === 'function') {
    for (const [eventType, given] of options.track) {
        // "unserialisable": fields JSON.stringify() refuses (a BigInt).
        const fields = given === 'unserialisable' ? { length: 10n } : given;
        let settled;
        try {
            settled = await widget.mountSettings.track(eventType, fields).then(
                (value) => ({ resolved: value }),
                (error) => ({ rejected: error instanceof Error ? error.message : String(error) }),
            );
        } catch (error) {
            settled = { threw: error instanceof Error ? error.message : String(error) };
        }
        tracked.push(settled);
    }
}
// Let the "chat opened" event, sent without waiting after mount, settle.
await new Promise((resolve) => setTimeout(resolve, 20));

process.stdout.write(JSON.stringify({
    arity: IbalXBlock.length,
    logs,
    state: mountPoint.getAttribute('data-ibal-state'),
    children: mountPoint.children.map((child) => ({
        tag: child.tagName,
        className: child.className,
        role: child.getAttribute ? child.getAttribute('role') : null,
        text: child.textContent,
        childCount: child.children ? child.children.length : 0,
    })),
    calls: widget.calls,
    mountedOnMountPoint: widget.mountElement === mountPoint,
    mountSettings: widget.mountSettings || null,
    mountSettingsKeys: widget.mountSettings ? Object.keys(widget.mountSettings) : null,
    getTicketType: widget.mountSettings ? typeof widget.mountSettings.get_ticket : null,
    trackType: widget.mountSettings ? typeof widget.mountSettings.track : null,
    settingsIsCopy: widget.mountSettings ? widget.mountSettings !== args : null,
    ticket,
    tracked,
    fetchCalls,
    handlerUrlCalls,
    insights,
}) + '\n');
