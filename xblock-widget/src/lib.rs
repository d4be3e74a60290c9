//! IBAL chat widget: the course chat UI in Rust, compiled to WebAssembly.
//!
//! Loaded by the IBAL XBlock, the gateway's standalone page and its LTI embed page as an ES module
//! built by `wasm-bindgen --target web`: the page awaits the module's default export (the init
//! function), then calls [`mount`]`(element, settings)`.
//!
//! Modules, each doing one thing: [`state`] (the pure state machine), [`view`] (the DOM),
//! [`socket`] (the WebSocket and reconnect policy), [`auth`] (sign-in and tokens), [`grant`] (the
//! gateway's token answers), [`i18n`] (strings), [`markdown`] (safe reply formatting), [`log`]
//! (console lines), [`settings`] (the mount settings), [`handles`] (RAII owners of browser
//! callbacks), [`text`] (string helpers), and [`widget`], the controller tying them together. The
//! chat protocol's frames and their JSON are the `ibal-protocol` crate's, shared with the gateway.

pub mod auth;
pub mod grant;
pub mod handles;
pub mod i18n;
pub mod log;
pub mod markdown;
pub mod settings;
pub mod socket;
pub mod state;
pub mod text;
pub mod view;
pub mod widget;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::Element;

use crate::handles::Shared;
use crate::i18n::Lang;
use crate::settings::Settings;
use crate::text::cat;
use crate::widget::Widget;

thread_local! {
    /// The mounted widgets. A widget lives here until `unmount()`, not as long as its JS handle:
    /// pages (the XBlock) drop the handle `mount()` returns, and a garbage-collected handle must not
    /// take the chat down with it.
    static WIDGETS: RefCell<Vec<(u32, Rc<Widget>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

/// A mounted widget, as `mount()` returns it to JavaScript.
///
/// `unmount()` closes the socket, cancels timers, sign-in and listeners, and removes the widget from
/// the page. `free()` (wasm-bindgen's, also run when the handle is garbage-collected) only releases
/// the handle: the widget keeps running until `unmount()` or until the element is mounted again.
#[wasm_bindgen]
#[derive(Debug)]
pub struct WidgetHandle {
    id: u32,
}

/// The mounted widgets, lent to `f`. (`try_with`, not `with`: a thread-local outlives every call here,
/// and `with` would bring its panicking path into the .wasm.)
fn with_widgets<R: Default>(f: impl FnOnce(&mut Vec<(u32, Rc<Widget>)>) -> R) -> R {
    WIDGETS.try_with(|w| f(&mut w.write())).unwrap_or_default()
}

fn find(id: u32) -> Option<Rc<Widget>> {
    with_widgets(|w| w.iter().find(|(i, _)| *i == id).map(|(_, w)| Rc::clone(w)))
}

fn remove(id: u32) -> Option<Rc<Widget>> {
    with_widgets(|list| {
        // The last widget takes its place (order does not matter; `Vec::remove` would bring a panic
        // path formatting numbers).
        let index = list.iter().position(|(i, _)| *i == id)?;
        let last = list.pop()?;
        Some(match list.get_mut(index) {
            Some(slot) => std::mem::replace(slot, last).1,
            None => last.1,
        })
    })
}

#[wasm_bindgen]
impl WidgetHandle {
    /// Tears the widget down: socket closed, timers and listeners removed, DOM removed.
    pub fn unmount(&self) {
        if let Some(widget) = remove(self.id) {
            widget.teardown();
        }
    }

    /// The chat's phase: `idle`, `authenticating`, `connecting`, `connected`, `disconnected`,
    /// `error`, or `unmounted` (a JS string: returning a `String` costs its conversion to a boxed
    /// slice in the .wasm).
    #[wasm_bindgen(getter)]
    pub fn phase(&self) -> JsValue {
        JsValue::from_str(find(self.id).map_or("unmounted", |w| w.phase_name()))
    }

    /// Starts the chat, as the Start Chat button does.
    pub fn start(&self) {
        if let Some(widget) = find(self.id) {
            widget.start();
        }
    }
}

/// The closest `attr` value on `element` or its ancestors, else on the document element.
fn inherited_attr(element: &Element, attr: &str) -> Option<String> {
    let found = element.closest(&cat(&["[", attr, "]"])).ok().flatten().and_then(|e| e.get_attribute(attr));
    found.or_else(|| element.owner_document()?.document_element()?.get_attribute(attr)).filter(|v| !v.trim().is_empty())
}

/// Mounts the chat widget into `element`, configured by `settings` (see the crate's README for the
/// keys: `gateway_url`, `ws_url`, `widget_url`, `course_id`, `usage_id`, `display_name`,
/// `welcome_message`, `lang`, `auth_mode` or `sign_in`, `get_ticket` (a function returning a
/// promise of the course's chat ticket), `track` (a function sending an analytics event), and for
/// `auth_mode: "token"` `access_token`, `expires_in`, `username`).
///
/// # Errors
/// An `Error` naming the invalid setting, or a DOM failure.
#[wasm_bindgen]
pub fn mount(element: Element, settings: JsValue) -> Result<WidgetHandle, JsValue> {
    let refuse = |message: String| {
        log::error(&["Cannot mount the chat widget: ", &message]);
        JsValue::from(js_sys::Error::new(&message))
    };
    // In a course, the page gives the chat's proof of context: `get_ticket()` → a promise of a ticket;
    // and its analytics: `track(eventType, fields)` (absent on the standalone and LTI pages).
    let function = |name: &str| {
        js_sys::Reflect::get(&settings, &JsValue::from_str(name))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    };
    let (ticket_source, track) = (function("get_ticket"), function("track"));
    let settings = Settings::from_js(&settings).map_err(refuse)?;
    if settings.auth_mode == settings::AuthMode::Lms && ticket_source.is_none() {
        return Err(refuse("settings.get_ticket (a function) is required with sign_in \"lms\"".to_owned()));
    }
    let doc = element.owner_document().ok_or_else(|| js_sys::Error::new("the element is not in a document"))?;

    // One widget per element: mounting again replaces the previous one.
    let previous = with_widgets(|w| w.iter().find(|(_, w)| *w.mount_element() == element).map(|(i, _)| *i));
    if let Some(id) = previous.and_then(remove) {
        id.teardown();
    }

    let page_lang = inherited_attr(&element, "lang");
    let lang = Lang::choose([Some(settings.lang.as_str()), page_lang.as_deref()]);
    let rtl = i18n::is_rtl(inherited_attr(&element, "dir").as_deref());
    if let Some(href) = settings.stylesheet_url() {
        view::ensure_stylesheet(&doc, &href)?;
    }
    let view = view::View::build(&doc, &element, &settings, lang, rtl)?;
    let block = if settings.usage_id.is_empty() { "(no block id)" } else { &settings.usage_id };
    let sign_in = match settings.auth_mode {
        settings::AuthMode::Popup => "popup",
        settings::AuthMode::Local => "local",
        settings::AuthMode::Token => "token",
        settings::AuthMode::Lms => "lms",
    };
    let direction = if rtl { ", right-to-left" } else { "" };
    log::info(&["Chat widget ready for ", block, " (sign-in: ", sign_in, ", language: ", lang.tag(), direction, ")"]);
    let token_mode = settings.auth_mode == settings::AuthMode::Token;
    let widget = Widget::new(settings, ticket_source, track, element, view);
    let id = NEXT_ID.try_with(|n| n.replace(n.get().wrapping_add(1))).unwrap_or_default();
    with_widgets(|w| w.push((id, Rc::clone(&widget))));
    if token_mode {
        widget.start();
    }
    Ok(WidgetHandle { id })
}
