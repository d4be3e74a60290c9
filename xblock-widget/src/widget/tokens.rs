//! Tokens: the page's (token mode), the cached one, a refreshed one, or a new sign-in; kept in memory
//! and in the cache, and refreshed before they expire (one refresh at a time, across tabs too).

use std::rc::Weak;

use super::{Widget, defer_drop};
use crate::auth::{self, TokenCache, TokenSet};
use crate::handles::{Shared, Timeout, sleep, spawn};
use crate::log;
use crate::settings::AuthMode;
use crate::state::{Effect, Event, Phase};

impl Widget {
    /// Gets a token: the page's (token mode), a cached one, a refreshed one, or a new sign-in.
    pub(super) fn authenticate(&self) {
        let now = auth::now_ms();
        if self.settings.auth_mode == AuthMode::Token {
            let token = self.page_token();
            if token.is_fresh(now) {
                log::info(&["Using the page's access token: ", &log::redact_token(&token.access_token)]);
                let username = token.username.clone();
                self.io.write().token = Some(token);
                self.dispatch(Event::Authenticated { username, fresh: false });
            } else {
                log::warn(&["The page's access token has expired"]);
                self.dispatch(Event::AuthFailed { code: "token_page_expired".into(), detail: String::new() });
            }
            return;
        }
        let candidate = self.newest_token();
        match candidate {
            Some(token) if token.is_fresh(now) => {
                log::info(&["Access token found in localStorage: ", &log::redact_token(&token.access_token)]);
                let username = token.username.clone();
                self.set_token(token);
                self.dispatch(Event::Authenticated { username, fresh: false });
            }
            Some(token) if token.refresh_token.is_some() => {
                log::info(&["The stored access token has expired; refreshing it"]);
                self.refresh_then_authenticate(|w| w.begin_sign_in());
            }
            _ => self.begin_sign_in(),
        }
    }

    /// The token of `token` mode, with its expiry counted from the mount.
    fn page_token(&self) -> TokenSet {
        if let Some(token) = self.io.read().token.clone() {
            return token;
        }
        let lifetime = self.settings.expires_in.map_or(f64::INFINITY, |s| s * 1000.0);
        TokenSet {
            access_token: self.settings.access_token.clone(),
            refresh_token: None,
            expires_at_ms: auth::now_ms() + lifetime,
            username: Some(self.settings.username.clone()).filter(|u| !u.is_empty()),
        }
    }

    /// The newer of the token in memory and the cached one (another tab may have refreshed it).
    fn newest_token(&self) -> Option<TokenSet> {
        let cached = self.cache.as_ref().and_then(TokenCache::load);
        let current = self.io.read().token.clone();
        match (current, cached) {
            (Some(a), Some(b)) => Some(if b.expires_at_ms > a.expires_at_ms { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Keeps `token` in memory and in the cache, and schedules its refresh.
    pub(super) fn set_token(&self, token: TokenSet) {
        if let Some(cache) = &self.cache {
            cache.save(&token);
        }
        let refresh_in = token.refresh_token.as_ref().map(|_| token.refresh_in_ms(auth::now_ms()));
        let mut io = self.io.write();
        io.token = Some(token);
        let old = match refresh_in {
            Some(ms) => {
                let me = self.me.clone();
                io.refresh.replace(Timeout::new(ms, move || {
                    let me = me.clone();
                    spawn(Box::pin(async move {
                        let open = me.upgrade().is_some_and(|w| w.state.read().phase != Phase::Idle);
                        if open && let Err((code, _)) = Self::refresh_now(&me).await {
                            log::warn(&["Could not refresh the access token: ", &code]);
                        }
                    }));
                }))
            }
            None => io.refresh.take(),
        };
        drop(io);
        defer_drop(old);
    }

    /// Refreshes the token (one refresh at a time; a token another tab refreshed is adopted instead).
    async fn refresh_now(me: &Weak<Self>) -> Result<TokenSet, auth::HttpError> {
        let gone = || ("gone".to_owned(), String::new());
        loop {
            let w = me.upgrade().ok_or_else(gone)?;
            if !w.io.read().refreshing {
                break;
            }
            drop(w);
            sleep(100).await;
        }
        let (settings, current) = {
            let w = me.upgrade().ok_or_else(gone)?;
            let newest = w.newest_token();
            if let Some(token) = newest.as_ref().filter(|t| t.is_fresh(auth::now_ms())) {
                let adopted = w.io.read().token.as_ref().is_none_or(|mine| mine.access_token != token.access_token);
                if adopted {
                    log::info(&["Using the access token refreshed by another tab"]);
                    w.set_token(token.clone());
                    return Ok(token.clone());
                }
            }
            w.io.write().refreshing = true;
            (w.settings.clone(), newest)
        };
        let refresh_token = current.as_ref().and_then(|t| t.refresh_token.clone());
        let result = match refresh_token {
            Some(rt) => {
                log::info(&["Refreshing the access token with refresh token ", &log::redact_token(&rt)]);
                auth::refresh(&settings, &rt).await
            }
            None => Err(("no_refresh_token".to_owned(), String::new())),
        };
        let w = me.upgrade().ok_or_else(gone)?;
        w.io.write().refreshing = false;
        match result {
            Ok(grant) => {
                let username = current.and_then(|t| t.username);
                let token = TokenSet::from_grant(grant, auth::now_ms(), username);
                log::info(&["Access token refreshed: ", &log::redact_token(&token.access_token)]);
                w.set_token(token.clone());
                Ok(token)
            }
            Err(err) => {
                log::warn(&["Token refresh failed: ", &err.0]);
                if err.0 != "network"
                    && let Some(cache) = &w.cache
                {
                    cache.clear();
                }
                Err(err)
            }
        }
    }

    /// The token was refused by the socket: a refreshed one, or a sign-in from the user.
    pub(super) fn reauthenticate(&self) {
        if self.settings.auth_mode == AuthMode::Token {
            log::warn(&["The page's access token was refused"]);
            self.dispatch(Event::AuthFailed { code: "token_page_expired".into(), detail: String::new() });
            return;
        }
        if self.settings.auth_mode == AuthMode::Lms {
            // The LMS signs in again with a new ticket: nothing for the user to do.
            self.run(Effect::ForgetToken);
            self.lms_sign_in();
            return;
        }
        self.refresh_then_authenticate(|w| {
            w.run(Effect::ForgetToken);
            w.dispatch(Event::AuthFailed { code: "session_expired".into(), detail: String::new() });
        });
    }

    /// Refreshes the token in the background, then signs in with it, or runs `on_failure`; either
    /// only if no newer sign-in attempt has started meanwhile (the widget may be gone, too).
    fn refresh_then_authenticate(&self, on_failure: fn(&Widget)) {
        let attempt = self.io.read().auth_gen;
        let me = self.me.clone();
        spawn(Box::pin(async move {
            let result = Self::refresh_now(&me).await;
            let Some(w) = me.upgrade() else { return };
            if w.io.read().auth_gen != attempt {
                return;
            }
            match result {
                Ok(token) => w.dispatch(Event::Authenticated { username: token.username, fresh: true }),
                Err(_) => on_failure(&w),
            }
        }));
    }
}
