/*
 * IBAL sign-in relay (relay.html): the last step of a popup sign-in whose course page is out of
 * the popup's reach.
 *
 * The gateway's popup callback page posts the sign-in result to window.opener. When the course
 * page's Cross-Origin-Opener-Policy has severed that link, the gateway sends the popup here
 * instead, with the result in the URL fragment (#ibal-auth=<URI-encoded JSON>): a fragment never
 * reaches a server. This page is on the course page's own origin, so a BroadcastChannel reaches
 * the chat widget in this browser, and only there; the widget accepts a result only with the
 * nonce of the sign-in it started.
 *
 * The result holds tokens: it is never printed, and the fragment leaves the address bar and the
 * history at once. Every console line starts with "[IbalXBlock]".
 */
(function () {
    'use strict';

    var PREFIX = '[IbalXBlock]';
    var MARKER = '#ibal-auth=';
    var CHANNEL = 'ibal-auth';

    function log(message) {
        console.log(PREFIX + ' ' + message);
    }

    function logError(message) {
        console.error(PREFIX + ' ' + message);
    }

    // Text only: a message from the URL is never interpreted as HTML.
    function showStatus(text) {
        var status = document.getElementById('ibal-relay-status');
        if (status) {
            status.textContent = text;
        }
    }

    // The sign-in result from the fragment, or null when there is none or it is malformed.
    function readResult(encoded) {
        var result;
        try {
            result = JSON.parse(decodeURIComponent(encoded));
        } catch (error) {
            return null;
        }
        if (!result || typeof result !== 'object' || Array.isArray(result)) {
            return null;
        }
        if (result.type !== 'ibal:auth' && result.type !== 'ibal:auth-error') {
            return null;
        }
        if (typeof result.nonce !== 'string' || !result.nonce) {
            return null;
        }
        return result;
    }

    var hash = typeof location.hash === 'string' ? location.hash : '';
    if (hash.indexOf(MARKER) !== 0) {
        log('Sign-in relay opened without a sign-in result; nothing to do');
        showStatus('Nothing to do here.');
        return;
    }

    // Off the address bar and out of the history before anything else can go wrong.
    try {
        history.replaceState(null, '', location.pathname + location.search);
    } catch (error) {
        logError('Could not clear the sign-in result from the address bar');
    }

    var result = readResult(hash.substring(MARKER.length));
    if (!result) {
        logError('Sign-in relay received a malformed sign-in result; nothing relayed');
        showStatus('Nothing to do here.');
        return;
    }

    if (typeof BroadcastChannel !== 'function') {
        logError('This browser has no BroadcastChannel; the sign-in result cannot reach the course page');
        showStatus('Sign-in failed: this browser cannot pass the sign-in back to the course page. ' +
            'Close this window and try again in an up-to-date browser.');
        return;
    }

    // The channel is left open: the window closes below, and closing the channel at once could
    // only risk the message.
    try {
        new BroadcastChannel(CHANNEL).postMessage(result);
    } catch (error) {
        logError('Could not relay the sign-in result to the course page');
        showStatus('Sign-in failed: the sign-in could not be passed back to the course page. ' +
            'Close this window and click Start Chat again.');
        return;
    }

    if (result.type === 'ibal:auth') {
        log('Sign-in result relayed to the course page');
        showStatus('You are signed in. You can close this window.');
    } else {
        log('Sign-in error relayed to the course page' +
            (typeof result.code === 'string' && /^[a-z_]{1,64}$/.test(result.code) ? ' (' + result.code + ')' : ''));
        var message = typeof result.message === 'string' && result.message ?
            result.message : 'the sign-in did not complete.';
        showStatus('Sign-in failed: ' + message);
    }

    // A moment for the message to leave this page, then close the popup. Browsers refuse when
    // this window was not opened by a script; the status above then tells the user to close it.
    setTimeout(function () {
        window.close();
    }, 100);
}());
