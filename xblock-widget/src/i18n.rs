//! The widget's strings, in English and French. The language comes from `settings.lang`, else the
//! page's `lang` attribute, else English. Placeholders are `{name}`, filled by [`fill`].

use crate::text::{find_byte, sub};

/// A language the widget speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The language of a BCP 47 tag or a Django/POSIX language code (`fr`, `fr-CA`, `fr_FR`, `FR`);
    /// `None` when the widget does not speak it.
    #[must_use]
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// The first of `candidates` (most preferred first; empty ones skipped) that the widget speaks,
    /// else English.
    #[must_use]
    pub fn choose<'a>(candidates: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        candidates.into_iter().flatten().find_map(Self::from_tag).unwrap_or(Self::En)
    }

    /// The language's tag, for `lang` attributes and date formatting.
    #[must_use]
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    /// The string table.
    #[must_use]
    pub fn strings(self) -> &'static Strings {
        match self {
            Self::En => &EN,
            Self::Fr => &FR,
        }
    }
}

/// Whether a `dir` attribute value asks for right-to-left layout.
#[must_use]
pub fn is_rtl(dir: Option<&str>) -> bool {
    dir.is_some_and(|d| d.trim().eq_ignore_ascii_case("rtl"))
}

/// `template` with each `{name}` replaced by its value (unknown names are left as they are).
#[must_use]
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = find_byte(rest, b'{') {
        out.push_str(sub(rest, ..open));
        let after = sub(rest, open + 1..);
        let known = find_byte(after, b'}')
            .and_then(|close| values.iter().find(|(name, _)| *name == sub(after, ..close)).map(|(_, v)| (close, *v)));
        match known {
            Some((close, value)) => {
                out.push_str(value);
                rest = sub(after, close + 1..);
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A notice in words: `code` is a protocol error code or one of the widget's own; `detail` is the
/// server's sentence (used for codes the widget does not know) or a technical detail.
#[must_use]
pub fn describe(s: &Strings, code: &str, detail: &str, retry_after: Option<u64>) -> String {
    let text = match code {
        "rate_limited" => {
            return match retry_after {
                Some(secs) => fill(s.err_rate_limited, &[("s", &crate::text::decimal(secs))]),
                None => s.err_rate_limited_later.to_owned(),
            };
        }
        "backend_unavailable" => s.err_backend_unavailable,
        "backend_timeout" => s.err_backend_timeout,
        "backend_error" => s.err_backend_error,
        "exam_mode" => s.err_exam_mode,
        "invalid_message" => s.err_invalid_message,
        "too_many_sockets" => s.err_too_many_sockets,
        "session_revoked" => s.err_session_revoked,
        "session_expired" | "token_expired" | "invalid_token" | "auth_required" => s.err_session_expired,
        "token_page_expired" => s.err_token_page_expired,
        "too_large" => s.err_too_large,
        "closed" | "slow_consumer" => s.err_closed,
        "auth_cancelled" => s.err_auth_cancelled,
        "auth_timeout" => s.err_auth_timeout,
        "network" => s.err_network,
        "login_missing" => s.login_missing,
        "signed_out" => s.signed_out,
        "ticket_invalid" | "ticket_not_accepted" | "ticket_expired" => s.err_ticket,
        "ticket_unavailable" => {
            return fill(s.err_ticket_unavailable, &[("msg", if detail.is_empty() { code } else { detail })]);
        }
        "auth_failed" => return fill(s.err_auth_failed, &[("msg", if detail.is_empty() { code } else { detail })]),
        _ if !detail.is_empty() => return detail.to_owned(),
        _ => return fill(s.err_generic, &[("msg", code)]),
    };
    text.to_owned()
}

/// Every user-visible string (fields named after their use).
#[derive(Debug)]
pub struct Strings {
    pub start_chat: &'static str,
    pub close_chat: &'static str,
    pub send: &'static str,
    pub stop: &'static str,
    pub welcome: &'static str,
    pub status_label: &'static str,
    pub status_idle: &'static str,
    pub status_authenticating: &'static str,
    pub status_connecting: &'static str,
    pub status_connected: &'static str,
    pub status_disconnected: &'static str,
    pub status_reconnecting: &'static str,
    pub status_error: &'static str,
    pub signed_in_as: &'static str,
    pub messages_label: &'static str,
    pub message_label: &'static str,
    pub message_placeholder: &'static str,
    pub you: &'static str,
    pub assistant: &'static str,
    pub system: &'static str,
    pub sending: &'static str,
    pub not_sent: &'static str,
    pub retry: &'static str,
    pub reconnect: &'static str,
    pub reply_stopped: &'static str,
    pub reply_failed: &'static str,
    pub reply_streaming: &'static str,
    pub popup_waiting: &'static str,
    pub popup_blocked: &'static str,
    pub open_sign_in: &'static str,
    pub cancel: &'static str,
    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub create_account: &'static str,
    pub login_missing: &'static str,
    pub typing_one: &'static str,
    pub typing_many: &'static str,
    pub presence: &'static str,
    pub load_earlier: &'static str,
    pub dismiss: &'static str,
    pub err_rate_limited: &'static str,
    pub err_rate_limited_later: &'static str,
    pub err_backend_unavailable: &'static str,
    pub err_backend_timeout: &'static str,
    pub err_backend_error: &'static str,
    pub err_exam_mode: &'static str,
    pub err_invalid_message: &'static str,
    pub err_too_many_sockets: &'static str,
    pub err_session_revoked: &'static str,
    pub err_session_expired: &'static str,
    pub err_token_page_expired: &'static str,
    pub err_too_large: &'static str,
    pub err_closed: &'static str,
    pub err_auth_failed: &'static str,
    pub err_auth_cancelled: &'static str,
    pub err_auth_timeout: &'static str,
    pub err_network: &'static str,
    pub err_generic: &'static str,
    pub sign_out: &'static str,
    pub signed_out: &'static str,
    pub badge_staff: &'static str,
    pub badge_instructor: &'static str,
    pub err_ticket: &'static str,
    pub err_ticket_unavailable: &'static str,
    pub ai: &'static str,
    pub ai_label: &'static str,
    pub copy: &'static str,
    pub copy_code: &'static str,
    pub copied: &'static str,
    pub copy_failed: &'static str,
    pub regenerate: &'static str,
    pub helpful: &'static str,
    pub not_helpful: &'static str,
    pub feedback_sent: &'static str,
    pub feedback_failed: &'static str,
    pub understand: &'static str,
    pub starters_label: &'static str,
    pub sources: &'static str,
    pub comment_label: &'static str,
}

static EN: Strings = Strings {
    start_chat: "Start Chat",
    close_chat: "Close Chat",
    send: "Send",
    stop: "Stop",
    welcome: "Click Start Chat to begin",
    status_label: "Connection status",
    status_idle: "Not connected",
    status_authenticating: "Signing in…",
    status_connecting: "Connecting…",
    status_connected: "Connected",
    status_disconnected: "Disconnected",
    status_reconnecting: "Disconnected. Reconnecting in {s} s…",
    status_error: "Error",
    signed_in_as: "Signed in as",
    messages_label: "Chat messages",
    message_label: "Message",
    message_placeholder: "Type a message… (Enter to send, Shift+Enter for a new line)",
    you: "You",
    assistant: "Assistant",
    system: "System",
    sending: "Sending…",
    not_sent: "Not sent",
    retry: "Retry",
    reconnect: "Reconnect",
    reply_stopped: "Stopped",
    reply_failed: "Incomplete reply",
    reply_streaming: "Writing…",
    popup_waiting: "Complete the sign-in in the pop-up window.",
    popup_blocked: "The sign-in window was blocked by the browser.",
    open_sign_in: "Open sign-in window",
    cancel: "Cancel",
    login_title: "Sign in to chat",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    create_account: "Create account",
    login_missing: "Enter a username and a password.",
    typing_one: "{user} is typing…",
    typing_many: "{n} people are typing…",
    presence: "{n} online",
    load_earlier: "Load earlier messages",
    dismiss: "Dismiss",
    err_rate_limited: "You are sending messages too fast; try again in {s} s.",
    err_rate_limited_later: "You are sending messages too fast; try again in a moment.",
    err_backend_unavailable: "The assistant is not available right now. Your message was saved.",
    err_backend_timeout: "The assistant took too long to answer. Your message was saved.",
    err_backend_error: "The assistant's reply was interrupted.",
    err_exam_mode: "The assistant is turned off during this exam.",
    err_invalid_message: "This message could not be sent: it is empty or too long.",
    err_too_many_sockets: "The chat is open in too many windows or tabs. Close one of them.",
    err_session_revoked: "Your session has ended. Click Start Chat to sign in again.",
    err_session_expired: "Your sign-in has expired. Click Start Chat to sign in again.",
    err_token_page_expired: "Your session has expired. Reload the page to continue.",
    err_too_large: "The message is too large to send.",
    err_closed: "The chat was disconnected.",
    err_auth_failed: "Sign-in failed: {msg}",
    err_auth_cancelled: "Sign-in was cancelled.",
    err_auth_timeout: "Sign-in took too long. Try again.",
    err_network: "The chat server cannot be reached.",
    err_generic: "Something went wrong: {msg}",
    sign_out: "Sign out",
    signed_out: "You are signed out.",
    badge_staff: "Course staff",
    badge_instructor: "Instructor",
    err_ticket: "The chat could not confirm which course it is in. Reload the page to try again.",
    err_ticket_unavailable: "The course did not let the chat start: {msg}",
    ai: "AI",
    ai_label: "Answer generated by AI",
    copy: "Copy",
    copy_code: "Copy code",
    copied: "Copied",
    copy_failed: "Could not copy",
    regenerate: "Regenerate",
    helpful: "Helpful",
    not_helpful: "Not helpful",
    feedback_sent: "Thanks for your feedback",
    feedback_failed: "Feedback not sent",
    understand: "I understand",
    starters_label: "Suggested questions",
    sources: "Sources",
    comment_label: "Tell us more (optional)",
};

static FR: Strings = Strings {
    start_chat: "Démarrer le chat",
    close_chat: "Fermer le chat",
    send: "Envoyer",
    stop: "Arrêter",
    welcome: "Cliquez sur Démarrer le chat pour commencer",
    status_label: "État de la connexion",
    status_idle: "Non connecté",
    status_authenticating: "Connexion à votre compte…",
    status_connecting: "Connexion…",
    status_connected: "Connecté",
    status_disconnected: "Déconnecté",
    status_reconnecting: "Déconnecté. Nouvelle tentative dans {s} s…",
    status_error: "Erreur",
    signed_in_as: "Connecté en tant que",
    messages_label: "Messages du chat",
    message_label: "Message",
    message_placeholder: "Écrivez un message… (Entrée pour envoyer, Maj+Entrée pour aller à la ligne)",
    you: "Vous",
    assistant: "Assistant",
    system: "Système",
    sending: "Envoi…",
    not_sent: "Non envoyé",
    retry: "Réessayer",
    reconnect: "Se reconnecter",
    reply_stopped: "Arrêté",
    reply_failed: "Réponse incomplète",
    reply_streaming: "Rédaction…",
    popup_waiting: "Terminez la connexion dans la fenêtre qui s'est ouverte.",
    popup_blocked: "Le navigateur a bloqué la fenêtre de connexion.",
    open_sign_in: "Ouvrir la fenêtre de connexion",
    cancel: "Annuler",
    login_title: "Connectez-vous pour discuter",
    username: "Nom d'utilisateur",
    password: "Mot de passe",
    sign_in: "Se connecter",
    create_account: "Créer un compte",
    login_missing: "Saisissez un nom d'utilisateur et un mot de passe.",
    typing_one: "{user} écrit…",
    typing_many: "{n} personnes écrivent…",
    presence: "{n} en ligne",
    load_earlier: "Afficher les messages précédents",
    dismiss: "Fermer",
    err_rate_limited: "Vous envoyez des messages trop vite ; réessayez dans {s} s.",
    err_rate_limited_later: "Vous envoyez des messages trop vite ; réessayez dans un instant.",
    err_backend_unavailable: "L'assistant n'est pas disponible pour le moment. Votre message est enregistré.",
    err_backend_timeout: "L'assistant a mis trop de temps à répondre. Votre message est enregistré.",
    err_backend_error: "La réponse de l'assistant a été interrompue.",
    err_exam_mode: "L'assistant est désactivé pendant cet examen.",
    err_invalid_message: "Ce message n'a pas pu être envoyé : il est vide ou trop long.",
    err_too_many_sockets: "Le chat est ouvert dans trop de fenêtres ou d'onglets. Fermez-en un.",
    err_session_revoked: "Votre session est terminée. Cliquez sur Démarrer le chat pour vous reconnecter.",
    err_session_expired: "Votre connexion a expiré. Cliquez sur Démarrer le chat pour vous reconnecter.",
    err_token_page_expired: "Votre session a expiré. Rechargez la page pour continuer.",
    err_too_large: "Le message est trop long pour être envoyé.",
    err_closed: "Le chat a été déconnecté.",
    err_auth_failed: "La connexion a échoué : {msg}",
    err_auth_cancelled: "La connexion a été annulée.",
    err_auth_timeout: "La connexion a pris trop de temps. Réessayez.",
    err_network: "Le serveur de chat est injoignable.",
    err_generic: "Une erreur s'est produite : {msg}",
    sign_out: "Se déconnecter",
    signed_out: "Vous êtes déconnecté.",
    badge_staff: "Équipe du cours",
    badge_instructor: "Enseignant",
    err_ticket: "Le chat n'a pas pu confirmer dans quel cours il se trouve. Rechargez la page pour réessayer.",
    err_ticket_unavailable: "Le cours n'a pas permis de démarrer le chat : {msg}",
    ai: "IA",
    ai_label: "Réponse générée par l'IA",
    copy: "Copier",
    copy_code: "Copier le code",
    copied: "Copié",
    copy_failed: "Copie impossible",
    regenerate: "Régénérer",
    helpful: "Utile",
    not_helpful: "Pas utile",
    feedback_sent: "Merci pour votre avis",
    feedback_failed: "Avis non envoyé",
    understand: "J'ai compris",
    starters_label: "Questions suggérées",
    sources: "Sources",
    comment_label: "Dites-nous-en plus (facultatif)",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_to_languages() {
        assert_eq!(Lang::from_tag("fr"), Some(Lang::Fr));
        assert_eq!(Lang::from_tag("fr-CA"), Some(Lang::Fr));
        assert_eq!(Lang::from_tag("FR_fr"), Some(Lang::Fr));
        assert_eq!(Lang::from_tag("en-us"), Some(Lang::En));
        assert_eq!(Lang::from_tag("de"), None);
        assert_eq!(Lang::from_tag(""), None);
    }

    #[test]
    fn settings_win_over_the_page_and_english_is_the_fallback() {
        assert_eq!(Lang::choose([Some("fr"), Some("en")]), Lang::Fr);
        assert_eq!(Lang::choose([None, Some("fr-FR")]), Lang::Fr);
        assert_eq!(Lang::choose([Some("de"), Some("fr")]), Lang::Fr);
        assert_eq!(Lang::choose([Some(""), None]), Lang::En);
        assert_eq!(Lang::choose([Some("ar")]), Lang::En);
    }

    #[test]
    fn strings_differ_by_language() {
        assert_eq!(Lang::En.strings().start_chat, "Start Chat");
        assert_eq!(Lang::En.strings().welcome, "Click Start Chat to begin");
        assert_eq!(Lang::Fr.strings().start_chat, "Démarrer le chat");
        assert_ne!(Lang::Fr.strings().close_chat, Lang::En.strings().close_chat);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(Lang::En.strings().err_rate_limited, &[("s", "12")]),
            "You are sending messages too fast; try again in 12 s."
        );
        assert_eq!(fill("{user} is typing… {user}", &[("user", "jane")]), "jane is typing… jane");
        assert_eq!(fill("{a} {b} {", &[("b", "x")]), "{a} x {");
    }

    #[test]
    fn notices_in_words() {
        let en = Lang::En.strings();
        assert_eq!(
            describe(en, "rate_limited", "x", Some(12)),
            "You are sending messages too fast; try again in 12 s."
        );
        assert_eq!(describe(en, "rate_limited", "x", None), en.err_rate_limited_later);
        assert_eq!(
            describe(Lang::Fr.strings(), "rate_limited", "", Some(3)),
            "Vous envoyez des messages trop vite ; réessayez dans 3 s."
        );
        assert_eq!(describe(en, "token_expired", "The token has expired", None), en.err_session_expired);
        assert_eq!(describe(en, "auth_failed", "access_denied", None), "Sign-in failed: access_denied");
        assert_eq!(describe(en, "brand_new", "Server says so.", None), "Server says so.");
        assert_eq!(describe(en, "brand_new", "", None), "Something went wrong: brand_new");
    }

    #[test]
    fn rtl_detection() {
        assert!(is_rtl(Some("rtl")));
        assert!(is_rtl(Some(" RTL ")));
        assert!(!is_rtl(Some("ltr")));
        assert!(!is_rtl(Some("auto")));
        assert!(!is_rtl(None));
    }
}
