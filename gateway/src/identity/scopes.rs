//! OAuth scopes: what a token may be used for. A client is granted only scopes it registered and
//! asked for; the chat and the conversation API need `chat`; `email` is released only with `email`.

/// Sign-in with OpenID Connect (an id_token, the userinfo endpoint).
pub const OPENID: &str = "openid";
/// The username and name.
pub const PROFILE: &str = "profile";
/// The email address.
pub const EMAIL: &str = "email";
/// The chat socket and the conversation API.
pub const CHAT: &str = "chat";

/// Every scope the gateway knows, with what the consent page says of it.
pub const KNOWN: [(&str, &str); 4] = [
    (OPENID, "sign you in"),
    (PROFILE, "see your username and name"),
    (EMAIL, "see your email address"),
    (CHAT, "chat and read your conversations on your behalf"),
];

/// What a client registered before scopes were recorded (an empty column) may ask for.
pub const LEGACY_DEFAULT: &str = "openid profile chat";

/// Whether the space-separated `scope` holds `wanted`.
pub fn has(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The scopes to grant: those requested (all the registered ones when none are), each known and
/// registered for the client, in a canonical order; or the first that is not.
///
/// # Errors
/// The scope that may not be granted.
pub fn grant(requested: Option<&str>, registered: &str) -> Result<String, String> {
    let registered = if registered.trim().is_empty() { LEGACY_DEFAULT } else { registered };
    let requested = requested.map(str::trim).filter(|r| !r.is_empty()).unwrap_or(registered);
    if let Some(bad) = requested.split_whitespace().find(|s| !has(registered, s) || !KNOWN.iter().any(|(k, _)| k == s))
    {
        return Err(bad.chars().take(40).collect());
    }
    let granted: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).filter(|k| has(requested, k)).collect();
    Ok(granted.join(" "))
}

/// What the consent page lists for `scope`, in words.
pub fn described(scope: &str) -> Vec<&'static str> {
    KNOWN.iter().filter(|(k, _)| has(scope, k)).map(|(_, words)| *words).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_known_scopes_are_granted() {
        let registered = "openid profile chat";
        assert_eq!(grant(Some("chat openid"), registered).as_deref(), Ok("openid chat"));
        assert_eq!(grant(None, registered).as_deref(), Ok("openid profile chat"));
        assert_eq!(grant(Some("  "), registered).as_deref(), Ok("openid profile chat"));
        assert_eq!(grant(Some("openid email"), registered), Err("email".into()), "not registered");
        assert_eq!(grant(Some("admin"), "admin openid"), Err("admin".into()), "unknown");
        assert_eq!(grant(Some("openid"), "").as_deref(), Ok("openid"), "legacy rows");
        assert_eq!(grant(Some("email"), "").map_err(|e| e.len()), Err(5));
        assert!(has("openid chat", "chat") && !has("openid chatter", "chat"));
        assert_eq!(
            described("chat email"),
            ["see your email address", "chat and read your conversations on your behalf"]
        );
    }
}
