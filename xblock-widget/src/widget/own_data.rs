//! My data: the user's own data at the gateway, from the menu in the header, each action once the
//! user confirmed it: download it all (`GET /api/v1/me/export`, saved as `ibal-my-data.json`), delete
//! this conversation (`DELETE /api/v1/conversations/{id}`: the chat then goes on in a new one), delete
//! a local account (`DELETE /api/v1/me`, then Sign out). Each step waits in [`Widget::after`]'s task.

use wasm_bindgen::prelude::*;
use web_sys::Response;

use super::Widget;
use crate::auth;
use crate::handles::Shared;
use crate::i18n;
use crate::settings::percent_encode;
use crate::state::{Event, Notice};
use crate::text::{cat, decimal};

/// The actions (`Io::own_data`: the one under way, 0 for none).
const EXPORT: u8 = 1;
const FORGET: u8 = 2;
const ERASE: u8 = 3;

#[wasm_bindgen]
extern "C" {
    /// `URL.createObjectURL(blob)`.
    #[wasm_bindgen(js_namespace = URL, js_name = createObjectURL)]
    fn object_url(blob: &JsValue) -> String;
    /// `URL.revokeObjectURL(url)`.
    #[wasm_bindgen(js_namespace = URL, js_name = revokeObjectURL)]
    fn revoke_object_url(url: &str);
}

impl Widget {
    /// Runs the confirmed action `act` (`export`, `forget`, `erase`) with the access token; one at a
    /// time (the status line says "Please wait…" meanwhile).
    pub(super) fn run_own_data(&self, act: &str) {
        let token = {
            let io = self.io.read();
            io.token.as_ref().filter(|_| io.own_data == 0).map(|t| t.access_token.clone())
        };
        let Some(token) = token else { return };
        let (what, action, method, path) = match act {
            "export" => ("My data: export", EXPORT, "GET", "/api/v1/me/export".to_owned()),
            "forget" => {
                let id = percent_encode(&self.state.read().conversation_id);
                ("My data: forget", FORGET, "DELETE", cat(&["/api/v1/conversations/", &id]))
            }
            _ => ("My data: erase", ERASE, "DELETE", "/api/v1/me".to_owned()),
        };
        self.io.write().own_data = action;
        self.view.data_said(self.view.strings.data_working());
        let url = self.settings.gateway(&path);
        self.after(what, auth::request(&url, method, None, None, Some(&token)), Self::own_data_done);
    }

    /// A step of the action under way is over: the gateway's answer (or the export's Blob).
    fn own_data_done(&self, ok: bool, answer: JsValue) {
        let s = &self.view.strings;
        let action = std::mem::take(&mut self.io.write().own_data);
        if !ok {
            // The gateway's status, a refused token, or no answer.
            let why = match answer.dyn_ref::<Response>().map(Response::status) {
                None => s.err_network().to_owned(),
                Some(401) => s.err_session_expired().to_owned(),
                Some(status) => cat(&["HTTP ", &decimal(u64::from(status))]),
            };
            return self.view.data_said(&i18n::fill(s.data_failed(), &[("msg", &why)]));
        }
        match (action, answer.dyn_ref::<Response>()) {
            // The export's body, then saved: a link to the export could not carry the token.
            (EXPORT, Some(response)) => {
                self.io.write().own_data = EXPORT;
                self.after("My data: export file", response.blob(), Self::own_data_done);
            }
            (EXPORT, None) => {
                // A click on a link to the Blob; the link of the previous download goes then.
                let url = object_url(&answer);
                if let Some(old) = self.io.write().download.replace(url.clone()) {
                    revoke_object_url(&old);
                }
                self.view.download(&url);
                self.view.data_said(s.data_saved());
            }
            (FORGET, _) => {
                self.view.data_said(s.conversation_deleted());
                self.dispatch(Event::ConversationDeleted);
                // Its button is back with the new conversation.
                let _ = self.view.data_btn.focus();
            }
            _ => {
                // The account is gone: signed out as Sign out does, and told why.
                self.dispatch(Event::SignOut);
                self.dispatch(Event::Notice(Notice::new("account_deleted", "")));
            }
        }
    }
}
