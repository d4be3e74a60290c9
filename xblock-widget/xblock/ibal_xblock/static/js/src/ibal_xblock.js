/*
 * IBAL XBlock: loads the IBAL chat widget from the gateway and mounts it.
 *
 * The widget is an ES module built with `wasm-bindgen --target web`: its default
 * export is the async init function (it fetches the .wasm next to the module) and
 * it exports mount(element, settings). `args` is the JSON object given to
 * initialize_js by the Python block; mount() gets a copy of it plus get_ticket(),
 * which asks the block's chat_ticket handler (behind the LMS session) for a chat
 * ticket and resolves to it, and track(eventType, fields), which sends an analytics
 * event to the block's publish_event handler (the block publishes it through the
 * runtime). Once the widget is mounted, the chat sends "ibal.chat.opened".
 *
 * For course staff, the template adds a "Course chat insights" button below the chat (learners never
 * get it): its click asks the chat_ticket handler for a fresh ticket and posts it, in a hidden form, to
 * the gateway's /instructor/enter in a new tab (a top-level page, where the gateway sets its session
 * cookie first-party). The button works whether or not the widget loads.
 *
 * Every console line starts with "[IbalXBlock]" (filter the console on it). Tickets
 * are bearer credentials: they are never printed; nor are the fields of an event.
 * Keep exactly three parameters: the XBlock runtimes look at the function's arity.
 */
function IbalXBlock(runtime, element, args) {
    'use strict';

    var PREFIX = '[IbalXBlock]';
    var DEFAULT_ERROR = 'The chat could not be loaded. Please reload the page or try again later.';
    var DEFAULT_TICKET_HANDLER = 'chat_ticket';
    var DEFAULT_EVENT_HANDLER = 'publish_event';
    var CHAT_OPENED = 'ibal.chat.opened';
    var DEFAULT_INSIGHTS_ERROR = 'The course chat insights could not be opened. Please try again.';
    var INSIGHTS_PATH = '/instructor/enter';
    var root = element && element.jquery ? element[0] : element;
    var settings = {};
    var key;

    function log(message) {
        console.log(PREFIX + ' ' + message);
    }

    function logError(message) {
        console.error(PREFIX + ' ' + message);
    }

    function logWarning(message) {
        console.warn(PREFIX + ' ' + message);
    }

    function describe(error) {
        if (error && typeof error.message === 'string' && error.message) {
            return error.message;
        }
        return String(error);
    }

    function clear(node) {
        while (node.firstChild) {
            node.removeChild(node.firstChild);
        }
    }

    // Shows a message as text (never as HTML) in the mount point.
    function showError(mountPoint) {
        var text = mountPoint.getAttribute('data-load-error') || DEFAULT_ERROR;
        var paragraph = document.createElement('p');
        paragraph.className = 'ibal-xblock-error';
        paragraph.setAttribute('role', 'alert');
        paragraph.textContent = text;
        clear(mountPoint);
        mountPoint.appendChild(paragraph);
    }

    // Django's CSRF token, which the LMS requires on a POST to a handler.
    function csrfToken() {
        var cookies = typeof document !== 'undefined' && typeof document.cookie === 'string' ?
            document.cookie.split(';') : [];
        for (var i = 0; i < cookies.length; i++) {
            var pair = cookies[i].replace(/^\s+/, '');
            if (pair.indexOf('csrftoken=') === 0) {
                try {
                    return decodeURIComponent(pair.substring('csrftoken='.length));
                } catch (error) {
                    return pair.substring('csrftoken='.length);
                }
            }
        }
        return '';
    }

    // The handler's message from a failed response: the JSON handler error body is {"error": "..."}.
    function errorMessage(status, text) {
        try {
            var body = JSON.parse(text);
            if (body && typeof body.error === 'string' && body.error) {
                return body.error;
            }
        } catch (error) {
            // Not JSON (a proxy's error page): fall back to the status.
        }
        return 'HTTP ' + status;
    }

    // The handler named in the settings (`name`), else `fallback`.
    function handlerName(name, fallback) {
        return typeof settings[name] === 'string' && settings[name] ? settings[name] : fallback;
    }

    // POSTs `body` (JSON text) to one of the block's handlers, behind the LMS session with its CSRF token;
    // resolves to the response's text, rejects with an Error (the handler's message) when it is not a 2xx.
    function post(handler, body) {
        var headers = {'Content-Type': 'application/json'};
        var csrf = csrfToken();
        if (csrf) {
            headers['X-CSRFToken'] = csrf;
        }
        var request;
        try {
            request = fetch(runtime.handlerUrl(element, handler), {
                method: 'POST',
                credentials: 'same-origin',
                headers: headers,
                body: body
            });
        } catch (error) {
            request = Promise.reject(error);
        }
        return request.then(function (response) {
            return response.text().then(function (text) {
                if (!response.ok) {
                    throw new Error(errorMessage(response.status, text));
                }
                return text;
            });
        });
    }

    // Asks the block for a chat ticket; resolves to the ticket (a compact JWS), rejects with an Error.
    function getTicket() {
        return post(handlerName('ticket_handler', DEFAULT_TICKET_HANDLER), '{}').then(function (text) {
            var body = null;
            try {
                body = JSON.parse(text);
            } catch (error) {
                // Reported below without the body's text.
            }
            if (!body || typeof body.ticket !== 'string' || !body.ticket) {
                throw new Error('the chat ticket response has no ticket');
            }
            log('Chat ticket fetched (expires in ' + body.expires_in + ' s)');
            return body.ticket;
        }).catch(function (error) {
            logError('Failed to get a chat ticket: ' + describe(error));
            throw error;
        });
    }

    // Sends an analytics event to the block, which publishes it with the fields it knows for that type
    // and drops the rest. Resolves to true once the block has published it, else false (logged); it
    // never rejects. The fields' values are never logged.
    function track(eventType, fields) {
        if (typeof eventType !== 'string' || !eventType) {
            logWarning('Analytics event not sent: no event type');
            return Promise.resolve(false);
        }
        var body;
        try {
            var event = {};
            if (fields && typeof fields === 'object') {
                for (var name in fields) {
                    if (Object.prototype.hasOwnProperty.call(fields, name) && name !== 'event_type') {
                        event[name] = fields[name];
                    }
                }
            }
            event.event_type = eventType;
            body = JSON.stringify(event);
        } catch (error) {
            logWarning('Analytics event ' + eventType + ' not sent: its fields cannot be sent as JSON');
            return Promise.resolve(false);
        }
        var sent;
        try {
            sent = post(handlerName('event_handler', DEFAULT_EVENT_HANDLER), body);
        } catch (error) {
            sent = Promise.reject(error);
        }
        return sent.then(function () {
            return true;
        }, function (error) {
            logWarning('Failed to send analytics event ' + eventType + ': ' + describe(error));
            return false;
        });
    }

    // Posts `ticket` to the gateway's insights entry in a new tab: a hidden form, submitted and removed at once.
    function postToNewTab(action, ticket) {
        var form = document.createElement('form');
        form.setAttribute('method', 'post');
        form.setAttribute('action', action);
        form.setAttribute('target', '_blank');
        form.setAttribute('rel', 'noopener');
        form.setAttribute('hidden', '');
        var field = document.createElement('input');
        field.setAttribute('type', 'hidden');
        field.setAttribute('name', 'ticket');
        field.setAttribute('value', ticket);
        form.appendChild(field);
        root.appendChild(form);
        try {
            form.submit();
        } finally {
            root.removeChild(form);
        }
    }

    // The course staff's "Course chat insights" button, when the template rendered one (staff only). Its
    // click handler returns a promise of whether the page was opened (browsers ignore it; tests await it).
    function setUpInsights() {
        var button = root && root.querySelector ? root.querySelector('.ibal-xblock-insights-button') : null;
        if (!button || button.getAttribute('data-ibal-insights') === 'ready') {
            return;
        }
        button.setAttribute('data-ibal-insights', 'ready');
        var message = root.querySelector('.ibal-xblock-insights-message');
        var opening = false;

        function say(text) {
            if (message) {
                message.textContent = text;
            }
        }

        function failed(error) {
            logError('Course chat insights not opened: ' + describe(error));
            say(button.getAttribute('data-insights-error') || DEFAULT_INSIGHTS_ERROR);
            return false;
        }

        function openInsights() {
            if (opening) {
                return Promise.resolve(false);
            }
            say('');
            var gateway = typeof settings.gateway_url === 'string' ? settings.gateway_url.replace(/\/+$/, '') : '';
            if (!gateway) {
                return Promise.resolve(failed(new Error('no gateway_url in the block settings')));
            }
            opening = true;
            button.setAttribute('aria-busy', 'true');
            var ticketing;
            try {
                ticketing = getTicket();
            } catch (error) {
                ticketing = Promise.reject(error);
            }
            return ticketing.then(function (ticket) {
                postToNewTab(gateway + INSIGHTS_PATH, ticket);
                log('Course chat insights opened in a new tab');
                return true;
            }).catch(failed).then(function (opened) {
                opening = false;
                button.removeAttribute('aria-busy');
                return opened;
            });
        }

        button.addEventListener('click', function () {
            return openInsights();
        });
    }

    if (args && typeof args === 'object') {
        for (key in args) {
            if (Object.prototype.hasOwnProperty.call(args, key)) {
                settings[key] = args[key];
            }
        }
    }
    settings.get_ticket = getTicket;
    settings.track = track;

    log('Initializing chat block ' + (settings.usage_id || '(no usage id)') +
        ' with widget ' + (settings.widget_url || '(none)'));

    setUpInsights();

    var mountPoint = root && root.querySelector ? root.querySelector('.ibal-xblock-mount') : null;
    if (!mountPoint) {
        logError('Mount point .ibal-xblock-mount not found; the chat is not started');
        return;
    }
    if (mountPoint.getAttribute('data-ibal-state')) {
        log('Chat block already initialized; skipping');
        return;
    }
    mountPoint.setAttribute('data-ibal-state', 'loading');

    function fail(what, error) {
        mountPoint.setAttribute('data-ibal-state', 'failed');
        logError(what + ': ' + describe(error));
        showError(mountPoint);
    }

    if (typeof settings.widget_url !== 'string' || !settings.widget_url) {
        fail('Failed to load chat widget', new Error('no widget_url in the block settings'));
        return;
    }

    var loading;
    try {
        loading = import(settings.widget_url);
    } catch (error) {
        loading = Promise.reject(error);
    }

    loading.then(function (widget) {
        if (typeof widget.default !== 'function' || typeof widget.mount !== 'function') {
            throw new Error('the module does not export a default init function and mount()');
        }
        return Promise.resolve(widget.default()).then(function () {
            return widget;
        });
    }).then(function (widget) {
        log('Chat widget loaded; mounting');
        clear(mountPoint);
        var mounted;
        try {
            mounted = Promise.resolve(widget.mount(mountPoint, settings));
        } catch (error) {
            mounted = Promise.reject(error);
        }
        return mounted.then(function () {
            mountPoint.setAttribute('data-ibal-state', 'mounted');
            log('Chat widget mounted');
            track(CHAT_OPENED);
        }, function (error) {
            fail('Failed to start chat widget', error);
        });
    }, function (error) {
        fail('Failed to load chat widget', error);
    });
}
