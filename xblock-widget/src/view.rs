//! The DOM: builds the widget once, then brings it up to date with the state. All user and server
//! text goes in through text nodes (`createTextNode`, `textContent`), never as HTML; assistant
//! replies go through [`crate::markdown`], which yields a tree the view builds node by node.

use std::cell::{Cell, RefCell};

use ibal_protocol::{Role, Source, Status};
use wasm_bindgen::{JsCast, JsValue, UnwrapThrowExt};
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use crate::handles::Shared;
use crate::i18n::{self, Lang, Strings};
use crate::markdown::{self, Block, Inline};
use crate::settings::Settings;
use crate::state::{Delivery, Entry, Phase, Prompt, State, Tab};
use crate::text::{cat, decimal};

type JsResult<T> = Result<T, JsValue>;

/// The widget's elements.
#[derive(Debug)]
pub struct View {
    doc: Document,
    /// The strings of the widget's language.
    pub strings: Strings,
    lang: Lang,
    welcome: String,
    /// The widget's root (`div.ibal-widget`), a child of the mount element.
    pub root: Element,
    /// The tabs of a block offering both (`role="tablist"`; not in the page otherwise).
    pub tabs: Element,
    /// Its tabs: the course room's, the assistant's (by [`Tab`]).
    tab_buttons: [HtmlElement; 2],
    /// Everything under the tabs (with tabs, their `tabpanel`).
    panel: Element,
    /// "My data": shows or hides its menu (a disclosure button, `aria-expanded`).
    pub data_btn: HtmlElement,
    /// The menu (`role="group"`): the actions, or the confirm step of one; a status line under them.
    data_menu: Element,
    data_actions: Element,
    /// Delete this conversation: for the user's own conversation (an assistant's, not a room).
    forget_btn: HtmlElement,
    /// The confirm step (`role="group"`, named by its question): Confirm, Cancel.
    data_confirm: Element,
    data_cancel: HtmlElement,
    /// The question of the confirm step, then what the action did (`role="status"`).
    data_status: Element,
    /// The action waiting for its confirmation (its button).
    data_pending: RefCell<Option<HtmlElement>>,
    user: Element,
    user_name: Element,
    presence: Element,
    status: Element,
    status_text: Element,
    /// Reconnect (after a close the widget does not recover from by itself).
    pub reconnect_btn: HtmlElement,
    notice: Element,
    notice_text: Element,
    start_panel: Element,
    /// Start Chat.
    pub start_btn: HtmlElement,
    auth_panel: Element,
    auth_text: Element,
    /// Opens the sign-in popup from a click (when the browser blocked it).
    pub open_popup_btn: HtmlElement,
    /// The local-account form.
    pub login_form: Element,
    /// Its username.
    pub login_user: HtmlInputElement,
    /// Its password.
    pub login_pass: HtmlInputElement,
    /// Sign in.
    pub login_btn: HtmlElement,
    /// Create account.
    pub register_btn: HtmlElement,
    /// The chat (its buttons in messages, starters and forms are handled by delegation).
    pub chat_panel: Element,
    /// The room's pinned announcement (`role="note"`), above the messages: its text, who pinned it.
    pinned: Element,
    pinned_text: Element,
    pinned_by: Element,
    /// The conversation starters.
    starters: Element,
    /// The exam notice, or the AI disclosure with its "I understand".
    gate: Element,
    gate_text: Element,
    accept_btn: HtmlElement,
    /// Regenerate: moved into the latest reply.
    regen_btn: HtmlElement,
    /// The optional comment on a rating: moved under the reply just rated.
    pub comment: Element,
    /// Its text.
    pub comment_input: HtmlTextAreaElement,
    /// The reply it is about (its key; 0: closed) and its rating (up).
    comment_for: Cell<(u64, bool)>,
    /// Loads older messages.
    pub load_earlier_btn: HtmlElement,
    /// The message list (`role="log"`).
    pub log: Element,
    typing: Element,
    /// The composer form.
    pub composer: Element,
    /// The message input.
    pub input: HtmlTextAreaElement,
    /// Send.
    pub send_btn: HtmlElement,
    /// Stop the streaming reply.
    pub stop_btn: HtmlElement,
    /// Close Chat.
    pub close_btn: HtmlElement,
    /// Signs out (ends the login at the gateway); absent where the page hands the token over.
    pub signout_btn: HtmlElement,
    signout_enabled: bool,
    rendered: RefCell<Rendered>,
}

#[derive(Debug, Default)]
struct Rendered {
    epoch: u32,
    items: Vec<(u64, u32, Element)>,
}

// The DOM helpers below cannot fail with the static tag and attribute names the view uses, so they
// do not return `Result`: error paths for impossible failures cost kilobytes of .wasm.

fn el(doc: &Document, tag: &str, class: &str) -> Element {
    let e = doc.create_element(tag).unwrap_throw();
    if !class.is_empty() {
        e.set_class_name(class);
    }
    e
}

fn html(doc: &Document, tag: &str, class: &str) -> HtmlElement {
    el(doc, tag, class).unchecked_into()
}

fn attr(e: &Element, name: &str, value: &str) {
    let _ = e.set_attribute(name, value);
}

fn button(doc: &Document, class: &str, label: &str) -> HtmlElement {
    let b = html(doc, "button", &cat(&["ibal-btn ", class]));
    attr(&b, "type", "button");
    b.set_text_content(Some(label));
    b
}

/// A button handled by the chat's delegated click listener (`data-act`).
fn act(doc: &Document, class: &str, label: &str, act: &str) -> HtmlElement {
    let b = button(doc, class, label);
    attr(&b, "data-act", act);
    b
}

/// Shows `e` inside `parent`, or hides it (where it is) without one; moved only when it changes parent
/// (moving would take the focus away).
fn place(e: &Element, parent: Option<Element>) {
    show(e, parent.is_some());
    if let Some(parent) = parent.filter(|p| e.parent_element().as_ref() != Some(p)) {
        let _ = parent.append_child(e);
    }
}

fn append(parent: &Element, children: &[&Element]) {
    for child in children {
        let _ = parent.append_child(child);
    }
}

fn text_node(doc: &Document, parent: &Element, text: &str) {
    let _ = parent.append_child(&doc.create_text_node(text));
}

fn show(e: &Element, visible: bool) {
    let _ = if visible { e.remove_attribute("hidden") } else { e.set_attribute("hidden", "") };
}

fn set_text(e: &Element, text: &str) {
    if e.text_content().as_deref() != Some(text) {
        e.set_text_content(Some(text));
    }
}

fn set_disabled(e: &Element, disabled: bool) {
    let _ = if disabled { e.set_attribute("disabled", "") } else { e.remove_attribute("disabled") };
}

fn clear(e: &Element) {
    e.set_text_content(None);
}

/// Removes the rendered messages from `from` on, from the page and from the list. (`truncate`, not
/// `drain`: a range that could be out of bounds brings a panicking path into the .wasm.)
fn remove_from(items: &mut Vec<(u64, u32, Element)>, from: usize) {
    for (_, _, stale) in items.iter().skip(from) {
        stale.remove();
    }
    items.truncate(from);
}

/// Adds `<link rel="stylesheet">` for the widget's stylesheet to the page, once per page.
pub fn ensure_stylesheet(doc: &Document, href: &str) -> JsResult<()> {
    if doc.query_selector("link[data-ibal-widget-css]")?.is_some() {
        return Ok(());
    }
    let link = doc.create_element("link")?;
    attr(&link, "rel", "stylesheet");
    attr(&link, "href", href);
    attr(&link, "data-ibal-widget-css", "");
    let parent = match doc.query_selector("head")? {
        Some(head) => head,
        None => doc.document_element().ok_or_else(|| JsValue::from_str("no document element"))?,
    };
    let _ = parent.append_child(&link);
    Ok(())
}

impl View {
    /// Builds the widget inside `mount`.
    ///
    /// # Errors
    /// When `mount` does not accept children.
    pub fn build(doc: &Document, mount: &Element, settings: &Settings, lang: Lang, rtl: bool) -> JsResult<Self> {
        let strings = lang.strings();
        let s = &strings;
        let root = el(doc, "div", "ibal-widget");
        attr(&root, "lang", lang.tag());
        if rtl {
            attr(&root, "dir", "rtl");
            let _ = root.class_list().add_1("ibal-rtl");
        }

        // Header: title, signed-in user, presence.
        let header = el(doc, "div", "ibal-header");
        let title = el(doc, "h3", "ibal-title");
        title.set_text_content(Some(&settings.display_name));
        let user = el(doc, "p", "ibal-user");
        text_node(doc, &user, &cat(&[s.signed_in_as(), " "]));
        let user_name = el(doc, "strong", "ibal-username");
        let _ = user.append_child(&user_name);
        let presence = el(doc, "p", "ibal-presence");

        // My data: the user's own data at the gateway (download, delete the conversation, delete a local
        // account), each action confirmed in the menu first. A disclosure rather than role="menu": the
        // confirm step and the status line are not menu items.
        let data_btn = act(doc, "ibal-btn-secondary ibal-btn-data", s.my_data(), "data");
        let data_menu = el(doc, "div", "ibal-data-menu");
        attr(&data_menu, "role", "group");
        attr(&data_menu, "aria-label", s.my_data());
        let data_actions = el(doc, "div", "ibal-data-actions");
        let forget_btn = act(doc, "ibal-btn-secondary", s.data_forget(), "forget");
        append(&data_actions, &[&act(doc, "ibal-btn-secondary", s.data_export(), "export"), &forget_btn]);
        if settings.auth_mode == crate::settings::AuthMode::Local {
            let _ = data_actions.append_child(&act(doc, "ibal-btn-secondary", s.data_erase(), "erase"));
        }
        let data_status = el(doc, "p", "ibal-data-status");
        attr(&data_status, "role", "status");
        let data_confirm = el(doc, "div", "ibal-data-confirm");
        attr(&data_confirm, "role", "group");
        let data_cancel = act(doc, "ibal-btn-secondary", s.cancel(), "unconfirm");
        append(&data_confirm, &[&act(doc, "ibal-btn-primary", s.confirm(), "confirm"), &data_cancel]);
        append(&data_menu, &[&data_actions, &data_status, &data_confirm]);
        append(&header, &[&title, &user, &presence, &data_btn, &data_menu]);

        // Status (aria-live) with the Reconnect button next to it.
        let status_row = el(doc, "div", "ibal-status-row");
        let status = el(doc, "div", "ibal-status");
        attr(&status, "role", "status");
        attr(&status, "aria-live", "polite");
        attr(&status, "aria-label", s.status_label());
        let dot = el(doc, "span", "ibal-status-dot");
        attr(&dot, "aria-hidden", "true");
        let status_text = el(doc, "span", "ibal-status-text");
        append(&status, &[&dot, &status_text]);
        let reconnect_btn = act(doc, "ibal-btn-reconnect", s.reconnect(), "reconnect");
        append(&status_row, &[&status, &reconnect_btn]);

        // Notice (errors in words).
        let notice = el(doc, "div", "ibal-notice");
        attr(&notice, "role", "alert");
        let notice_text = el(doc, "span", "ibal-notice-text");
        let notice_close = act(doc, "ibal-btn-dismiss", "×", "dismiss");
        attr(&notice_close, "aria-label", s.dismiss());
        append(&notice, &[&notice_text, &notice_close]);

        // Start state.
        let start_panel = el(doc, "div", "ibal-start");
        let start_btn = button(doc, "ibal-btn-start", s.start_chat());
        let _ = start_panel.append_child(&start_btn);

        // Popup sign-in.
        let auth_panel = el(doc, "div", "ibal-auth");
        let auth_text = el(doc, "p", "ibal-auth-text");
        let open_popup_btn = act(doc, "ibal-btn-primary ibal-btn-open-popup", s.open_sign_in(), "popup");
        let cancel_btn = act(doc, "ibal-btn-secondary ibal-btn-cancel", s.cancel(), "cancel");
        append(&auth_panel, &[&auth_text, &open_popup_btn, &cancel_btn]);

        // Local-account form.
        let login_form = el(doc, "form", "ibal-login");
        attr(&login_form, "novalidate", "");
        let login_title = el(doc, "p", "ibal-login-title");
        login_title.set_text_content(Some(s.login_title()));
        let field = |label: &str, kind: &str, autocomplete: &str| -> (Element, HtmlInputElement) {
            let wrap = el(doc, "label", "ibal-field");
            let caption = el(doc, "span", "ibal-field-label");
            caption.set_text_content(Some(label));
            let input: HtmlInputElement = el(doc, "input", "ibal-input-text").unchecked_into();
            attr(&input, "type", kind);
            attr(&input, "autocomplete", autocomplete);
            attr(&input, "required", "");
            append(&wrap, &[&caption, &input]);
            (wrap, input)
        };
        let (user_field, login_user) = field(s.username(), "text", "username");
        let (pass_field, login_pass) = field(s.password(), "password", "current-password");
        let login_actions = el(doc, "div", "ibal-login-actions");
        let login_btn = button(doc, "ibal-btn-primary ibal-btn-login", s.sign_in());
        attr(&login_btn, "type", "submit");
        let register_btn = act(doc, "ibal-btn-secondary ibal-btn-register", s.create_account(), "register");
        let login_cancel = act(doc, "ibal-btn-secondary ibal-btn-login-cancel", s.cancel(), "cancel");
        append(&login_actions, &[&login_btn, &register_btn, &login_cancel]);
        append(&login_form, &[&login_title, &user_field, &pass_field, &login_actions]);

        // The chat.
        let chat_panel = el(doc, "div", "ibal-chat");
        // The room's announcement: plain text (a text node), with who pinned it.
        let pinned = el(doc, "div", "ibal-pinned");
        attr(&pinned, "role", "note");
        attr(&pinned, "aria-label", s.pinned_label());
        let pinned_text = el(doc, "p", "ibal-pinned-text");
        let pinned_by = el(doc, "p", "ibal-pinned-by");
        append(&pinned, &[&pinned_text, &pinned_by]);
        let load_earlier_btn = act(doc, "ibal-btn-secondary ibal-btn-earlier", s.load_earlier(), "earlier");
        let log = el(doc, "div", "ibal-messages");
        attr(&log, "role", "log");
        attr(&log, "aria-live", "polite");
        attr(&log, "aria-label", s.messages_label());
        attr(&log, "tabindex", "0");
        let typing = el(doc, "p", "ibal-typing");
        attr(&typing, "aria-live", "polite");
        let starters = el(doc, "div", "ibal-starters");
        attr(&starters, "role", "group");
        attr(&starters, "aria-label", s.starters_label());
        let gate = el(doc, "div", "ibal-gate");
        attr(&gate, "aria-live", "polite");
        let gate_text = el(doc, "p", "ibal-gate-text");
        let accept_btn = act(doc, "ibal-btn-primary", s.understand(), "accept");
        append(&gate, &[&gate_text, &accept_btn]);
        let regen_btn = act(doc, "ibal-btn-secondary", s.regenerate(), "regen");
        // The comment on a rating: Enter (or Send) sends, Escape (or Cancel) closes (widget/controls).
        let comment = el(doc, "form", "ibal-comment");
        let comment_field = el(doc, "label", "ibal-field");
        let comment_caption = el(doc, "span", "ibal-field-label");
        comment_caption.set_text_content(Some(s.comment_label()));
        let comment_input: HtmlTextAreaElement = el(doc, "textarea", "ibal-input-text").unchecked_into();
        attr(&comment_input, "rows", "2");
        // The gateway's limit, in characters (maxlength counts UTF-16 units: never more characters).
        attr(&comment_input, "maxlength", "2000");
        append(&comment_field, &[&comment_caption, &comment_input]);
        let comment_send = button(doc, "ibal-btn-primary", s.send());
        attr(&comment_send, "type", "submit");
        append(&comment, &[&comment_field, &comment_send, &act(doc, "ibal-btn-secondary", s.cancel(), "uncomment")]);
        show(&comment, false);
        let composer = el(doc, "form", "ibal-composer");
        let input: HtmlTextAreaElement = el(doc, "textarea", "ibal-input").unchecked_into();
        attr(&input, "rows", "2");
        attr(&input, "aria-label", s.message_label());
        attr(&input, "placeholder", s.message_placeholder());
        let send_btn = button(doc, "ibal-btn-primary ibal-btn-send", s.send());
        attr(&send_btn, "type", "submit");
        let stop_btn = act(doc, "ibal-btn-secondary ibal-btn-stop", s.stop(), "stop");
        append(&composer, &[&input, &send_btn, &stop_btn]);
        let close_btn = button(doc, "ibal-btn-close", s.close_chat());
        let signout_btn = button(doc, "ibal-btn-secondary ibal-btn-signout", s.sign_out());
        let footer = el(doc, "div", "ibal-footer");
        append(&footer, &[&close_btn, &signout_btn]);
        append(&chat_panel, &[&pinned, &load_earlier_btn, &log, &starters, &typing, &gate, &composer, &footer]);

        // Tabs, for a block offering both: one panel, the selected tab's conversation (a socket is for one),
        // named after it.
        let panel = el(doc, "div", "ibal-panel");
        let tabs = el(doc, "div", "ibal-tabs");
        attr(&tabs, "role", "tablist");
        attr(&tabs, "aria-label", &settings.display_name);
        let tab = |label: &str, tab: Tab| {
            let tab = act(doc, "ibal-tab", label, tab.name());
            attr(&tab, "role", "tab");
            let _ = tabs.append_child(&tab);
            tab
        };
        let tab_buttons = [tab(s.tab_room(), Tab::Room), tab(s.assistant(), Tab::Assistant)];
        append(&panel, &[&status_row, &notice, &start_panel, &auth_panel, &login_form, &chat_panel]);
        let _ = root.append_child(&header);
        if settings.both {
            attr(&panel, "role", "tabpanel");
            let _ = root.append_child(&tabs);
        }
        let _ = root.append_child(&panel);
        mount.append_child(&root)?;

        let welcome = if settings.welcome_message.is_empty() { s.welcome() } else { &settings.welcome_message };
        Ok(Self {
            doc: doc.clone(),
            strings,
            lang,
            welcome: welcome.to_owned(),
            root,
            tabs,
            tab_buttons,
            panel,
            data_btn,
            data_menu,
            data_actions,
            forget_btn,
            data_confirm,
            data_cancel,
            data_status,
            data_pending: RefCell::new(None),
            user,
            user_name,
            presence,
            status,
            status_text,
            reconnect_btn,
            notice,
            notice_text,
            start_panel,
            start_btn,
            auth_panel,
            auth_text,
            open_popup_btn,
            login_form,
            login_user,
            login_pass,
            login_btn,
            register_btn,
            chat_panel,
            pinned,
            pinned_text,
            pinned_by,
            starters,
            gate,
            gate_text,
            accept_btn,
            regen_btn,
            comment,
            comment_input,
            comment_for: Cell::new((0, false)),
            load_earlier_btn,
            log,
            typing,
            composer,
            input,
            send_btn,
            stop_btn,
            close_btn,
            signout_btn,
            // A page that hands its own token over (an LTI launch) has no login to end here.
            signout_enabled: settings.auth_mode != crate::settings::AuthMode::Token,
            rendered: RefCell::new(Rendered::default()),
        })
    }

    /// Brings the DOM up to date with `state`.
    pub fn render(&self, state: &State) {
        let s = &self.strings;
        // Borrowed words (a `String` per arm is an allocation and a copy each in the .wasm).
        let reconnecting;
        let status_text = match state.phase {
            Phase::Idle => &self.welcome,
            Phase::Authenticating => s.status_authenticating(),
            Phase::Connecting => s.status_connecting(),
            Phase::Connected => s.status_connected(),
            Phase::Disconnected => match state.reconnect_in_ms {
                Some(ms) => {
                    reconnecting =
                        i18n::fill(s.status_reconnecting(), &[("s", &decimal(u64::from(ms.div_ceil(1000))))]);
                    &reconnecting
                }
                None => s.status_disconnected(),
            },
            Phase::Error => s.status_error(),
        };
        let phase_class = state.phase.name();
        let rtl = if self.root.get_attribute("dir").as_deref() == Some("rtl") { " ibal-rtl" } else { "" };
        self.root.set_class_name(&cat(&["ibal-widget ibal-phase-", phase_class, rtl]));
        self.status.set_class_name(&cat(&["ibal-status ibal-status-", phase_class]));
        set_text(&self.status_text, status_text);
        show(&self.reconnect_btn, state.needs_manual_reconnect());
        if let Some(shown) = state.tab {
            // The selected tab is the one reached with Tab; the arrow keys move between them.
            for (index, tab) in self.tab_buttons.iter().enumerate() {
                let selected = index == shown as usize;
                attr(tab, "aria-selected", if selected { "true" } else { "false" });
                attr(tab, "tabindex", if selected { "0" } else { "-1" });
            }
            attr(&self.panel, "aria-label", if shown == Tab::Room { s.tab_room() } else { s.assistant() });
        }

        let chat_open = state.chat_open();
        let username = state.username.as_deref().filter(|u| !u.is_empty());
        show(&self.user, chat_open && username.is_some());
        show(&self.signout_btn, chat_open && self.signout_enabled);
        // My data while signed in (the chat open); its menu goes with it.
        show(&self.data_btn, chat_open);
        if !chat_open {
            self.open_data(false);
        }
        show(&self.forget_btn, !state.conversation_id.is_empty() && !state.is_room());
        set_text(&self.user_name, username.unwrap_or_default());
        match state.presence.filter(|_| chat_open) {
            Some(n) => {
                set_text(&self.presence, &i18n::fill(s.presence(), &[("n", &decimal(n))]));
                show(&self.presence, true);
            }
            None => show(&self.presence, false),
        }

        match &state.notice {
            Some(n) => {
                set_text(&self.notice_text, &i18n::describe(s, &n.code, &n.detail, n.retry_after));
                // Information (signed out) is not an error: another look, and not an alert.
                let info = matches!(n.code.as_str(), "signed_out" | "account_deleted");
                self.notice.set_class_name(if info { "ibal-notice ibal-notice-info" } else { "ibal-notice" });
                attr(&self.notice, "role", if info { "status" } else { "alert" });
                show(&self.notice, true);
            }
            None => show(&self.notice, false),
        }

        show(&self.start_panel, matches!(state.phase, Phase::Idle | Phase::Error));
        let authenticating = state.phase == Phase::Authenticating;
        let form = matches!(state.prompt, Prompt::LoginForm | Prompt::LoginBusy);
        show(&self.auth_panel, authenticating && !form);
        set_text(
            &self.auth_text,
            match state.prompt {
                Prompt::PopupOpen => s.popup_waiting(),
                Prompt::PopupBlocked => s.popup_blocked(),
                _ => s.status_authenticating(),
            },
        );
        show(&self.open_popup_btn, state.prompt == Prompt::PopupBlocked);
        show(&self.login_form, authenticating && form);
        let busy = state.prompt == Prompt::LoginBusy;
        for e in [&self.login_btn, &self.register_btn] {
            set_disabled(e, busy);
        }

        show(&self.chat_panel, chat_open);
        show(&self.pinned, state.pinned.is_some());
        if let Some((text, by)) = &state.pinned {
            set_text(&self.pinned_text, text);
            set_text(&self.pinned_by, &i18n::fill(s.pinned_by(), &[("user", by)]));
            show(&self.pinned_by, !by.is_empty());
        }
        show(&self.load_earlier_btn, state.has_more && state.phase == Phase::Connected);
        set_disabled(&self.input, !state.can_send());
        set_disabled(&self.send_btn, !state.can_send());
        show(&self.stop_btn, state.phase == Phase::Connected && state.streaming_id().is_some());
        let typing = match state.typers.as_slice() {
            [] => String::new(),
            [(one, _)] => i18n::fill(s.typing_one(), &[("user", one)]),
            many => i18n::fill(s.typing_many(), &[("n", &decimal(many.len() as u64))]),
        };
        set_text(&self.typing, &typing);

        // The exam notice, or the AI disclosure until the user accepts it.
        let exam = state.context.exam;
        let unaccepted = state.unaccepted();
        show(&self.gate, chat_open && (exam || unaccepted.is_some()));
        set_text(&self.gate_text, if exam { s.err_exam_mode() } else { unaccepted.map_or("", |d| d.text.as_str()) });
        show(&self.accept_btn, !exam && unaccepted.is_some());

        show(&self.starters, state.show_starters());
        // The starters come with `user_info`: a new set has another count (or the same set, kept).
        if self.starters.child_element_count() as usize != state.context.starters.len() {
            clear(&self.starters);
            for text in &state.context.starters {
                let _ = self.starters.append_child(&act(&self.doc, "ibal-btn-secondary", text, "starter"));
            }
        }

        self.render_messages(state);
        // Regenerate after the latest reply's actions.
        place(&self.regen_btn, state.latest_reply().and_then(|e| self.node(e.key)));
        // The comment box stays under its reply (a rebuilt bubble lost it); gone with the reply.
        place(&self.comment, self.node(self.comment_for.get().0));
    }

    /// Opens the comment box, empty, under the reply `key` just rated (`up`), and moves the focus into it.
    pub fn open_comment(&self, key: u64, up: bool) {
        self.comment_for.set((key, up));
        self.comment_input.set_value("");
        place(&self.comment, self.node(key));
        let _ = self.comment_input.focus();
    }

    /// The reply the comment box is about and its rating (key 0: none).
    #[must_use]
    pub fn comment_target(&self) -> (u64, bool) {
        self.comment_for.get()
    }

    /// Closes the comment box and gives the focus back to the rating button it came from.
    pub fn close_comment(&self) {
        let (key, up) = self.comment_for.replace((0, false));
        place(&self.comment, None);
        let rating =
            self.node(key).and_then(|n| n.query_selector(if up { "[data-act=up]" } else { "[data-act=down]" }).ok()?);
        if let Some(rating) = rating {
            let _ = rating.unchecked_into::<HtmlElement>().focus();
        }
    }

    /// The bubble of the entry `key`.
    fn node(&self, key: u64) -> Option<Element> {
        self.rendered.read().items.iter().find(|(k, ..)| *k == key).map(|(.., node)| node.clone())
    }

    /// The key of the message holding `e` (0 for none).
    #[must_use]
    pub fn key_of(&self, e: &Element) -> u64 {
        self.rendered.read().items.iter().find(|(.., node)| node.contains(Some(e))).map_or(0, |(key, ..)| *key)
    }

    /// Says a word in the typing line (a live region) until the next render: "Thank you for your feedback".
    pub fn flash(&self, text: &str) {
        set_text(&self.typing, text);
    }

    fn render_messages(&self, state: &State) {
        let mut r = self.rendered.write();
        let log = &self.log;
        let (old_height, old_top) = (log.scroll_height(), log.scroll_top());
        let near_bottom = old_height - old_top - log.client_height() < 80;
        let old_last = r.items.last().map(|(k, _, _)| *k);
        let mut prepended = false;
        if r.epoch != state.epoch {
            prepended = !r.items.is_empty() && state.entries.last().map(|e| e.key) == old_last;
            clear(log);
            r.items.clear();
            r.epoch = state.epoch;
        }
        let mut grew = false;
        let mut mine_added = false;
        for (i, entry) in state.entries.iter().enumerate() {
            if let Some((key, version, node)) = r.items.get_mut(i) {
                if *key == entry.key {
                    if *version != entry.version {
                        self.fill_message(node, entry);
                        *version = entry.version;
                        grew = true;
                    }
                    continue;
                }
                // Out of step (a replaced reply left): rebuild from here.
                remove_from(&mut r.items, i);
            }
            let node = el(&self.doc, "div", "ibal-msg");
            self.fill_message(&node, entry);
            let _ = log.append_child(&node);
            r.items.push((entry.key, entry.version, node));
            grew = true;
            mine_added |= entry.mine;
        }
        let keep = state.entries.len().min(r.items.len());
        remove_from(&mut r.items, keep);
        if prepended {
            // Keep the reader where they were when older messages arrive above.
            log.set_scroll_top(log.scroll_height() - (old_height - old_top));
        } else if grew && (near_bottom || mine_added) {
            log.set_scroll_top(log.scroll_height());
        }
    }

    /// (Re)builds a message bubble's content.
    fn fill_message(&self, node: &Element, entry: &Entry) {
        let s = &self.strings;
        let mut class = String::from("ibal-msg");
        class.push_str(if entry.mine { " ibal-msg-sent" } else { " ibal-msg-received" });
        class.push_str(match entry.role {
            Role::User => " ibal-msg-user",
            Role::Assistant => " ibal-msg-assistant",
            Role::System => " ibal-msg-system",
        });
        match entry.delivery {
            Delivery::Pending => class.push_str(" ibal-msg-pending"),
            Delivery::Failed => class.push_str(" ibal-msg-failed"),
            Delivery::Acked => {}
        }
        if entry.streaming {
            class.push_str(" ibal-msg-streaming");
        }
        if entry.hidden {
            // Removed by course staff: the gateway's notice, as plain text.
            class.push_str(" ibal-hidden");
        }
        node.set_class_name(&class);
        if let Some(id) = &entry.id {
            attr(node, "data-id", id);
        }
        attr(node, "aria-busy", if entry.streaming { "true" } else { "false" });
        clear(node);

        let meta = el(&self.doc, "div", "ibal-msg-meta");
        let sender = el(&self.doc, "span", "ibal-msg-sender");
        sender.set_text_content(Some(match entry.role {
            _ if entry.mine => s.you(),
            Role::Assistant if entry.sender.is_empty() || entry.sender == "assistant" => s.assistant(),
            Role::System => s.system(),
            _ => &entry.sender,
        }));
        let _ = meta.append_child(&sender);
        // A word after the sender's name (a space between).
        let tag = |name: &str, class: &str, text: &str| {
            let tag = el(&self.doc, name, class);
            tag.set_text_content(Some(text));
            text_node(&self.doc, &meta, " ");
            let _ = meta.append_child(&tag);
            tag
        };
        if entry.role == Role::Assistant {
            // Visible, and said in full to screen readers.
            let ai = tag("span", "ibal-msg-ai", s.ai());
            attr(&ai, "role", "img");
            attr(&ai, "aria-label", s.ai_label());
        }
        if let Some(role) = &entry.staff_role {
            let badge = tag(
                "span",
                "ibal-msg-badge",
                if role == "instructor" { s.badge_instructor() } else { s.badge_staff() },
            );
            attr(&badge, "data-role", role);
        }
        if let Some(ts) = &entry.timestamp
            && let Some((short, long)) = local_time(ts, self.lang)
        {
            let time = tag("time", "ibal-msg-time", &short);
            attr(&time, "datetime", ts);
            attr(&time, "title", &long);
        }
        let state_label = match (entry.delivery, entry.streaming, entry.status) {
            (Delivery::Pending, ..) => Some(s.sending()),
            (Delivery::Failed, ..) => Some(s.not_sent()),
            (_, true, _) => Some(s.reply_streaming()),
            (_, _, Status::Stopped) => Some(s.reply_stopped()),
            (_, _, Status::Failed) => Some(s.reply_failed()),
            _ => None,
        };
        if let Some(label) = state_label {
            tag("span", "ibal-msg-state", label);
        }

        let body = el(&self.doc, "div", "ibal-msg-body");
        if entry.role == Role::Assistant && !entry.hidden {
            render_markdown(&self.doc, &body, &markdown::parse(&entry.content), s.copy_code());
        } else {
            let p = el(&self.doc, "p", "ibal-msg-text");
            p.set_text_content(Some(&entry.content));
            let _ = body.append_child(&p);
        }
        append(node, &[&meta, &body]);
        if !entry.sources.is_empty() && !entry.hidden {
            let _ = node.append_child(&render_sources(&self.doc, s.sources(), &entry.sources));
        }
        if entry.delivery == Delivery::Failed {
            let _ = node.append_child(&act(&self.doc, "ibal-btn-secondary ibal-btn-retry", s.retry(), "retry"));
        }
        if entry.role == Role::Assistant && !entry.streaming && entry.id.is_some() && !entry.hidden {
            // Copy; thumbs up or down: the user's feedback on the reply.
            let bar = el(&self.doc, "div", "ibal-msg-actions");
            let _ = bar.append_child(&act(&self.doc, "ibal-btn-secondary", s.copy(), "copy"));
            // (Words, not 👍 👎: not every system has an emoji font.)
            for (label, rating) in [(s.helpful(), "up"), (s.not_helpful(), "down")] {
                let _ = bar.append_child(&act(&self.doc, "ibal-btn-secondary", label, rating));
            }
            let _ = node.append_child(&bar);
        }
    }

    /// Moves the focus to the message input.
    pub fn focus_input(&self) {
        // Held back by the AI disclosure: its "I understand" first.
        let _ = if self.input.has_attribute("disabled") { self.accept_btn.focus() } else { self.input.focus() };
    }

    /// Whether the My data menu is open.
    #[must_use]
    pub fn data_open(&self) -> bool {
        !self.data_menu.has_attribute("hidden")
    }

    /// Opens the My data menu (its actions, no status yet), or closes it (and a confirm step with it).
    pub fn open_data(&self, open: bool) {
        self.data_pending.take();
        show(&self.data_menu, open);
        self.data_step(None);
        attr(&self.data_btn, "aria-expanded", if open { "true" } else { "false" });
    }

    /// The menu's actions, or the confirm step asking `question` (said in the status line, and the
    /// step's name).
    fn data_step(&self, question: Option<&str>) {
        show(&self.data_actions, question.is_none());
        show(&self.data_confirm, question.is_some());
        let question = question.unwrap_or_default();
        set_text(&self.data_status, question);
        attr(&self.data_confirm, "aria-label", question);
    }

    /// The confirm step of the action of `button`, asking `question`, in place of the actions; the
    /// focus on Cancel (the safe answer: a second Enter does not confirm).
    pub fn ask(&self, button: &Element, question: &str) {
        self.data_pending.replace(Some(button.clone().unchecked_into()));
        self.data_step(Some(question));
        let _ = self.data_cancel.focus();
    }

    /// Ends the confirm step: the actions again, the focus back on the one asked about; its button.
    pub fn unask(&self) -> Option<HtmlElement> {
        let button = self.data_pending.take();
        self.data_step(None);
        if let Some(button) = &button {
            let _ = button.focus();
        }
        button
    }

    /// Says what an action did, in the menu's status line.
    pub fn data_said(&self, text: &str) {
        set_text(&self.data_status, text);
    }

    /// Saves the object URL `url` (of a `Blob`) as `ibal-my-data.json` (the name the gateway gives the
    /// export too): a click on an `<a download>`, in the page for the click (some browsers ignore a click
    /// on a detached link).
    pub fn download(&self, url: &str) {
        let link = html(&self.doc, "a", "");
        attr(&link, "href", url);
        attr(&link, "download", "ibal-my-data.json");
        let _ = self.root.append_child(&link);
        link.click();
        link.remove();
    }

    /// Moves the focus to the button of `tab`.
    pub fn focus_tab(&self, tab: Tab) {
        let _ = self.tab_buttons[tab as usize].focus();
    }

    /// Moves the focus to Start Chat (or, in the sign-in form, its first field).
    pub fn focus_start(&self) {
        let _ = self.start_btn.focus();
    }

    /// Moves the focus to the sign-in form's username.
    pub fn focus_login(&self) {
        let _ = self.login_user.focus();
    }

    /// Removes the widget from the page.
    pub fn remove(&self) {
        self.root.remove();
    }
}

/// `(short, long)` local renderings of an RFC 3339 timestamp, or `None` if it does not parse.
fn local_time(timestamp: &str, lang: Lang) -> Option<(String, String)> {
    let date = js_sys::Date::new(&JsValue::from_str(timestamp));
    if date.get_time().is_nan() {
        return None;
    }
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&opts, &"minute".into(), &"2-digit".into());
    let short = date.to_locale_time_string_with_options(lang.tag(), &opts);
    let long = date.to_locale_string(lang.tag(), &JsValue::UNDEFINED);
    Some((short.into(), long.into()))
}

/// Builds Markdown blocks as DOM nodes under `parent`; each code block is followed by a button labelled
/// `copy` (a `data-act="copy"` outside any message's actions: the controller copies the code before it).
pub fn render_markdown(doc: &Document, parent: &Element, blocks: &[Block], copy: &str) {
    for block in blocks {
        let node = match block {
            Block::Paragraph(inlines) => {
                let p = el(doc, "p", "");
                render_inlines(doc, &p, inlines);
                p
            }
            Block::Heading(level, inlines) => {
                // Bold paragraphs: a reply's headings must not join the page's outline.
                let p = el(doc, "p", &cat(&["ibal-md-heading ibal-md-h", &decimal(u64::from(*level))]));
                let strong = el(doc, "strong", "");
                render_inlines(doc, &strong, inlines);
                let _ = p.append_child(&strong);
                p
            }
            Block::Code { lang, text } => {
                let pre = el(doc, "pre", "ibal-md-pre");
                let code = el(doc, "code", "");
                if let Some(lang) = lang {
                    attr(&code, "data-lang", lang);
                }
                code.set_text_content(Some(text));
                let _ = pre.append_child(&code);
                let wrap = el(doc, "div", "ibal-md-code");
                append(&wrap, &[&pre, &act(doc, "ibal-btn-secondary", copy, "copy")]);
                wrap
            }
            Block::List { ordered, start, items } => {
                let list = el(doc, if *ordered { "ol" } else { "ul" }, "");
                if *ordered && *start != 1 {
                    attr(&list, "start", &decimal(u64::from(*start)));
                }
                for item in items {
                    let li = el(doc, "li", "");
                    render_inlines(doc, &li, item);
                    let _ = list.append_child(&li);
                }
                list
            }
        };
        let _ = parent.append_child(&node);
    }
}

/// The course passages a reply cites, as a list labelled `label`: "[n] title — breadcrumb", the snippet
/// as the item's title (its description). An http(s) URL is a link that opens the unit in the top window
/// (out of an iframed chat); any other URL is no link, only the text.
fn render_sources(doc: &Document, label: &str, sources: &[Source]) -> Element {
    let wrap = el(doc, "div", "ibal-sources");
    // Seen, not read: the list says it.
    let caption = el(doc, "p", "ibal-sources-label");
    caption.set_text_content(Some(label));
    attr(&caption, "aria-hidden", "true");
    let list = el(doc, "ul", "ibal-sources-list");
    attr(&list, "aria-label", label);
    for source in sources {
        // (The scheme as written: a URL parser drops no leading character here, so it stays http(s).)
        let url = source.url.as_bytes();
        let scheme = |s: &[u8]| url.get(..s.len()).is_some_and(|head| head.eq_ignore_ascii_case(s));
        let link = scheme(b"http://") || scheme(b"https://");
        let item = el(doc, if link { "a" } else { "span" }, "ibal-source");
        if link {
            attr(&item, "href", &source.url);
            attr(&item, "target", "_top");
            attr(&item, "rel", "noopener");
        }
        if !source.snippet.is_empty() {
            attr(&item, "title", &source.snippet);
        }
        let dash = if source.breadcrumb.is_empty() { "" } else { " — " };
        let text = cat(&["[", &decimal(source.n), "] ", &source.title, dash, &source.breadcrumb]);
        item.set_text_content(Some(&text));
        let li = el(doc, "li", "");
        let _ = li.append_child(&item);
        let _ = list.append_child(&li);
    }
    append(&wrap, &[&caption, &list]);
    wrap
}

fn render_inlines(doc: &Document, parent: &Element, inlines: &[Inline]) {
    for inline in inlines {
        match inline {
            Inline::Text(text) => {
                text_node(doc, parent, text);
            }
            Inline::Break => {
                let br = el(doc, "br", "");
                let _ = parent.append_child(&br);
            }
            Inline::Code(text) => {
                let code = el(doc, "code", "");
                code.set_text_content(Some(text));
                let _ = parent.append_child(&code);
            }
            Inline::Strong(children) | Inline::Em(children) => {
                let tag = if matches!(inline, Inline::Strong(_)) { "strong" } else { "em" };
                let node = el(doc, tag, "");
                render_inlines(doc, &node, children);
                let _ = parent.append_child(&node);
            }
            Inline::Link { href, children } => {
                let a = el(doc, "a", "");
                // `href` passed markdown::safe_href: http, https or mailto only.
                attr(&a, "href", href);
                attr(&a, "target", "_blank");
                attr(&a, "rel", "noopener noreferrer");
                render_inlines(doc, &a, children);
                let _ = parent.append_child(&a);
            }
        }
    }
}
