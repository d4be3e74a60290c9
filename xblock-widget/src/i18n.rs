//! The widget's strings, in English and French. The language comes from `settings.lang`, else the
//! page's `lang` attribute, else English. Placeholders are `{name}`, filled by [`fill`].

use crate::text::{cat, find_byte, sub};

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
        let primary = crate::text::head(tag.trim(), b"-_");
        if primary.eq_ignore_ascii_case("en") {
            Some(Self::En)
        } else if primary.eq_ignore_ascii_case("fr") {
            Some(Self::Fr)
        } else {
            None
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

    /// The language's strings.
    #[must_use]
    pub fn strings(self) -> Strings {
        Strings::of(match self {
            Self::En => EN,
            Self::Fr => FR,
        })
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
    // The codes said in one sentence of their own: a table rather than a `match`, which compiles to a
    // string comparison per code.
    const SAID: [(&str, Name); 24] = [
        ("backend_unavailable", Name::err_backend_unavailable),
        ("backend_timeout", Name::err_backend_timeout),
        ("backend_error", Name::err_backend_error),
        ("exam_mode", Name::err_exam_mode),
        ("invalid_message", Name::err_invalid_message),
        ("too_many_sockets", Name::err_too_many_sockets),
        ("session_revoked", Name::err_session_revoked),
        ("session_expired", Name::err_session_expired),
        ("token_expired", Name::err_session_expired),
        ("invalid_token", Name::err_session_expired),
        ("auth_required", Name::err_session_expired),
        ("token_page_expired", Name::err_token_page_expired),
        ("too_large", Name::err_too_large),
        ("closed", Name::err_closed),
        ("slow_consumer", Name::err_closed),
        ("auth_cancelled", Name::err_auth_cancelled),
        ("auth_timeout", Name::err_auth_timeout),
        ("network", Name::err_network),
        ("login_missing", Name::login_missing),
        ("signed_out", Name::signed_out),
        ("account_deleted", Name::account_deleted),
        ("ticket_invalid", Name::err_ticket),
        ("ticket_not_accepted", Name::err_ticket),
        ("ticket_expired", Name::err_ticket),
    ];
    if let ("muted", Some(secs)) = (code, retry_after) {
        // A mute lasts minutes or hours: said in the largest unit, rounded up.
        let (n, unit) = match secs {
            0..60 => (secs, " s"),
            60..7200 => (secs.div_ceil(60), " min"),
            _ => (secs.div_ceil(3600), " h"),
        };
        return fill(s.err_muted(), &[("t", &cat(&[&crate::text::decimal(n), unit]))]);
    }
    let why = if detail.is_empty() { code } else { detail };
    match code {
        "rate_limited" => match retry_after {
            Some(secs) => fill(s.err_rate_limited(), &[("s", &crate::text::decimal(secs))]),
            None => s.err_rate_limited_later().to_owned(),
        },
        "ticket_unavailable" => fill(s.err_ticket_unavailable(), &[("msg", why)]),
        "auth_failed" => fill(s.err_auth_failed(), &[("msg", why)]),
        _ => match SAID.iter().find(|(said, _)| *said == code) {
            Some((_, name)) => s.0.get(*name as usize).copied().unwrap_or_default().to_owned(),
            None if !detail.is_empty() => detail.to_owned(),
            None => fill(s.err_generic(), &[("msg", code)]),
        },
    }
}

/// The strings of a language, by use: `strings.start_chat()`… Each language is one text (its strings
/// joined by NUL, [`strings!`] below), cut into its strings once per widget: a table of `&str` would
/// cost 8 bytes of .wasm per string and language.
#[derive(Debug)]
pub struct Strings([&'static str; COUNT]);

impl Strings {
    /// The strings of a language's text.
    fn of(text: &'static str) -> Self {
        let mut all = [""; COUNT];
        let mut rest = text;
        for slot in &mut all {
            let end = find_byte(rest, 0).unwrap_or(rest.len());
            *slot = sub(rest, ..end);
            rest = sub(rest, end + 1..);
        }
        Self(all)
    }
}

/// Declares every user-visible string (named after its use), in English then in French.
macro_rules! strings {
    ($($name:ident: $en:literal, $fr:literal;)*) => {
        const EN: &str = concat!($($en, "\0"),*);
        const FR: &str = concat!($($fr, "\0"),*);
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Name {
            $($name),*
        }
        const COUNT: usize = [$(Name::$name),*].len();
        #[allow(missing_docs)]
        impl Strings {
            $(
                #[must_use]
                pub fn $name(&self) -> &'static str {
                    self.0[Name::$name as usize]
                }
            )*
        }
    };
}

strings! {
    start_chat: "Start Chat",
        "Démarrer le chat";
    close_chat: "Close Chat",
        "Fermer le chat";
    send: "Send",
        "Envoyer";
    stop: "Stop",
        "Arrêter";
    welcome: "Click Start Chat to begin",
        "Cliquez sur Démarrer le chat pour commencer";
    status_label: "Connection status",
        "État de la connexion";
    status_idle: "Not connected",
        "Non connecté";
    status_authenticating: "Signing in…",
        "Connexion à votre compte…";
    status_connecting: "Connecting…",
        "Connexion…";
    status_connected: "Connected",
        "Connecté";
    status_disconnected: "Disconnected",
        "Déconnecté";
    status_reconnecting: "Disconnected. Reconnecting in {s} s…",
        "Déconnecté. Nouvelle tentative dans {s} s…";
    status_error: "Error",
        "Erreur";
    signed_in_as: "Signed in as",
        "Connecté en tant que";
    messages_label: "Chat messages",
        "Messages du chat";
    message_label: "Message",
        "Message";
    message_placeholder: "Type a message… (Enter to send, Shift+Enter for a new line)",
        "Écrivez un message… (Entrée pour envoyer, Maj+Entrée pour aller à la ligne)";
    you: "You",
        "Vous";
    assistant: "Assistant",
        "Assistant";
    system: "System",
        "Système";
    sending: "Sending…",
        "Envoi…";
    not_sent: "Not sent",
        "Non envoyé";
    retry: "Retry",
        "Réessayer";
    reconnect: "Reconnect",
        "Se reconnecter";
    reply_stopped: "Stopped",
        "Arrêté";
    reply_failed: "Incomplete reply",
        "Réponse incomplète";
    reply_streaming: "Writing…",
        "Rédaction…";
    popup_waiting: "Complete the sign-in in the pop-up window.",
        "Terminez la connexion dans la fenêtre qui s'est ouverte.";
    popup_blocked: "The sign-in window was blocked by the browser.",
        "Le navigateur a bloqué la fenêtre de connexion.";
    open_sign_in: "Open sign-in window",
        "Ouvrir la fenêtre de connexion";
    cancel: "Cancel",
        "Annuler";
    login_title: "Sign in to chat",
        "Connectez-vous pour discuter";
    username: "Username",
        "Nom d'utilisateur";
    password: "Password",
        "Mot de passe";
    sign_in: "Sign in",
        "Se connecter";
    create_account: "Create account",
        "Créer un compte";
    login_missing: "Enter a username and a password.",
        "Saisissez un nom d'utilisateur et un mot de passe.";
    typing_one: "{user} is typing…",
        "{user} écrit…";
    typing_many: "{n} people are typing…",
        "{n} personnes écrivent…";
    presence: "{n} online",
        "{n} en ligne";
    load_earlier: "Load earlier messages",
        "Afficher les messages précédents";
    dismiss: "Dismiss",
        "Fermer";
    err_rate_limited: "You are sending messages too fast; try again in {s} s.",
        "Vous envoyez des messages trop vite ; réessayez dans {s} s.";
    err_rate_limited_later: "You are sending messages too fast; try again in a moment.",
        "Vous envoyez des messages trop vite ; réessayez dans un instant.";
    err_backend_unavailable: "The assistant is not available right now. Your message was saved.",
        "L'assistant n'est pas disponible pour le moment. Votre message est enregistré.";
    err_backend_timeout: "The assistant took too long to answer. Your message was saved.",
        "L'assistant a mis trop de temps à répondre. Votre message est enregistré.";
    err_backend_error: "The assistant's reply was interrupted.",
        "La réponse de l'assistant a été interrompue.";
    err_exam_mode: "The assistant is turned off during this exam.",
        "L'assistant est désactivé pendant cet examen.";
    err_invalid_message: "This message could not be sent: it is empty or too long.",
        "Ce message n'a pas pu être envoyé : il est vide ou trop long.";
    err_too_many_sockets: "The chat is open in too many windows or tabs. Close one of them.",
        "Le chat est ouvert dans trop de fenêtres ou d'onglets. Fermez-en un.";
    err_session_revoked: "Your session has ended. Click Start Chat to sign in again.",
        "Votre session est terminée. Cliquez sur Démarrer le chat pour vous reconnecter.";
    err_session_expired: "Your sign-in has expired. Click Start Chat to sign in again.",
        "Votre connexion a expiré. Cliquez sur Démarrer le chat pour vous reconnecter.";
    err_token_page_expired: "Your session has expired. Reload the page to continue.",
        "Votre session a expiré. Rechargez la page pour continuer.";
    err_too_large: "The message is too large to send.",
        "Le message est trop long pour être envoyé.";
    err_closed: "The chat was disconnected.",
        "Le chat a été déconnecté.";
    err_auth_failed: "Sign-in failed: {msg}",
        "La connexion a échoué : {msg}";
    err_auth_cancelled: "Sign-in was cancelled.",
        "La connexion a été annulée.";
    err_auth_timeout: "Sign-in took too long. Try again.",
        "La connexion a pris trop de temps. Réessayez.";
    err_network: "The chat server cannot be reached.",
        "Le serveur de chat est injoignable.";
    err_generic: "Something went wrong: {msg}",
        "Une erreur s'est produite : {msg}";
    sign_out: "Sign out",
        "Se déconnecter";
    signed_out: "You are signed out.",
        "Vous êtes déconnecté.";
    badge_staff: "Course staff",
        "Équipe du cours";
    badge_instructor: "Instructor",
        "Enseignant";
    err_ticket: "The chat could not confirm which course it is in. Reload the page to try again.",
        "Le chat n'a pas pu confirmer dans quel cours il se trouve. Rechargez la page pour réessayer.";
    err_ticket_unavailable: "The course did not let the chat start: {msg}",
        "Le cours n'a pas permis de démarrer le chat : {msg}";
    ai: "AI",
        "IA";
    ai_label: "Answer generated by AI",
        "Réponse générée par l'IA";
    copy: "Copy",
        "Copier";
    copy_code: "Copy code",
        "Copier le code";
    copied: "Copied",
        "Copié";
    copy_failed: "Could not copy",
        "Copie impossible";
    regenerate: "Regenerate",
        "Régénérer";
    helpful: "Helpful",
        "Utile";
    not_helpful: "Not helpful",
        "Pas utile";
    feedback_sent: "Thanks for your feedback",
        "Merci pour votre avis";
    feedback_failed: "Feedback not sent",
        "Avis non envoyé";
    understand: "I understand",
        "J'ai compris";
    starters_label: "Suggested questions",
        "Questions suggérées";
    sources: "Sources",
        "Sources";
    comment_label: "Tell us more (optional)",
        "Dites-nous-en plus (facultatif)";
    tab_room: "Course room",
        "Salle du cours";
    my_data: "My data",
        "Mes données";
    data_export: "Download my data",
        "Télécharger mes données";
    data_forget: "Delete this conversation",
        "Supprimer cette conversation";
    data_erase: "Delete my account",
        "Supprimer mon compte";
    ask_export: "Download all your data from the chat, as a file?",
        "Télécharger toutes vos données du chat, dans un fichier ?";
    ask_forget: "Delete this conversation for good?",
        "Supprimer définitivement cette conversation ?";
    ask_erase: "Delete your account and all its data for good?",
        "Supprimer définitivement votre compte et ses données ?";
    confirm: "Confirm",
        "Confirmer";
    data_working: "Please wait…",
        "Veuillez patienter…";
    data_saved: "Your data was downloaded.",
        "Vos données ont été téléchargées.";
    conversation_deleted: "The conversation was deleted.",
        "La conversation a été supprimée.";
    account_deleted: "Your account was deleted.",
        "Votre compte a été supprimé.";
    data_failed: "Not done: {msg}",
        "Échec : {msg}";
    pinned_label: "Pinned announcement",
        "Annonce épinglée";
    pinned_by: "Pinned by {user}",
        "Épinglée par {user}";
    err_muted: "Course staff have muted you in this chat. You can write again in {t}.",
        "L'équipe du cours a suspendu vos messages dans ce chat. Vous pourrez écrire de nouveau dans {t}.";
}

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
    fn each_language_has_every_string() {
        for (text, strings) in [(EN, Lang::En.strings()), (FR, Lang::Fr.strings())] {
            assert_eq!(text.bytes().filter(|b| *b == 0).count(), COUNT, "a NUL inside a string would shift the others");
            assert!(strings.0.iter().all(|s| !s.is_empty()));
        }
        assert_eq!(Lang::Fr.strings().pinned_label(), "Annonce épinglée", "one in its place");
    }

    #[test]
    fn strings_differ_by_language() {
        assert_eq!(Lang::En.strings().start_chat(), "Start Chat");
        assert_eq!(Lang::En.strings().welcome(), "Click Start Chat to begin");
        assert_eq!(Lang::Fr.strings().start_chat(), "Démarrer le chat");
        assert_ne!(Lang::Fr.strings().close_chat(), Lang::En.strings().close_chat());
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(Lang::En.strings().err_rate_limited(), &[("s", "12")]),
            "You are sending messages too fast; try again in 12 s."
        );
        assert_eq!(fill("{user} is typing… {user}", &[("user", "jane")]), "jane is typing… jane");
        assert_eq!(fill("{a} {b} {", &[("b", "x")]), "{a} x {");
    }

    #[test]
    fn notices_in_words() {
        let en = &Lang::En.strings();
        assert_eq!(
            describe(en, "rate_limited", "x", Some(12)),
            "You are sending messages too fast; try again in 12 s."
        );
        assert_eq!(describe(en, "rate_limited", "x", None), en.err_rate_limited_later());
        assert_eq!(
            describe(&Lang::Fr.strings(), "rate_limited", "", Some(3)),
            "Vous envoyez des messages trop vite ; réessayez dans 3 s."
        );
        assert_eq!(describe(en, "token_expired", "The token has expired", None), en.err_session_expired());
        assert_eq!(describe(en, "auth_failed", "access_denied", None), "Sign-in failed: access_denied");
        assert_eq!(describe(en, "brand_new", "Server says so.", None), "Server says so.");
        assert_eq!(describe(en, "brand_new", "", None), "Something went wrong: brand_new");
        assert_eq!(describe(en, "slow_consumer", "server words", None), en.err_closed(), "ours, not the server's");
        assert_eq!(describe(en, "account_deleted", "", None), "Your account was deleted.");
        let muted = |secs| describe(en, "muted", "Muted.", Some(secs));
        assert_eq!(muted(45), "Course staff have muted you in this chat. You can write again in 45 s.");
        assert_eq!(muted(3480), "Course staff have muted you in this chat. You can write again in 58 min.");
        assert_eq!(muted(61), "Course staff have muted you in this chat. You can write again in 2 min.");
        assert_eq!(muted(86_400), "Course staff have muted you in this chat. You can write again in 24 h.");
        assert_eq!(
            describe(&Lang::Fr.strings(), "muted", "", Some(600)),
            "L'équipe du cours a suspendu vos messages dans ce chat. Vous pourrez écrire de nouveau dans 10 min."
        );
        assert_eq!(describe(en, "muted", "Muted for a while.", None), "Muted for a while.", "the gateway's words");
        assert_eq!(describe(&Lang::Fr.strings(), "ticket_expired", "", None), Lang::Fr.strings().err_ticket());
        assert_eq!(
            describe(en, "ticket_unavailable", "", None),
            "The course did not let the chat start: ticket_unavailable"
        );
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
