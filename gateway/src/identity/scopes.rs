//! OAuth scopes: what a token may be used for. A client is granted only scopes it registered and
//! asked for; the chat and the conversation API need `chat`; `email` is released only with `email`.
//! The service scopes (`index`, `retirement`) are a confidential client's own, by client
//! credentials: no person can grant them, so they are never asked for on a consent page.

/// Sign-in with OpenID Connect (an id_token, the userinfo endpoint).
pub const OPENID: &str = "openid";
/// The username and name.
pub const PROFILE: &str = "profile";
/// The email address.
pub const EMAIL: &str = "email";
/// The chat socket and the conversation API.
pub const CHAT: &str = "chat";

/// The course index API: push a course's blocks (the LMS/Studio service client).
pub const INDEX: &str = "index";
/// The retirement API: delete what the gateway holds on a retired learner.
pub const RETIREMENT: &str = "retirement";

/// Scopes only a confidential client may hold, for itself (client credentials).
pub const SERVICE: [&str; 2] = [INDEX, RETIREMENT];

/// Every scope a person can grant, with what the consent page says of it.
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
    granted(requested, registered, false)
}

/// [`grant`] for a confidential client acting for itself (client credentials): the service scopes
/// may be granted too, after the others.
///
/// # Errors
/// The scope that may not be granted.
pub fn grant_to_service(requested: Option<&str>, registered: &str) -> Result<String, String> {
    granted(requested, registered, true)
}

fn granted(requested: Option<&str>, registered: &str, service: bool) -> Result<String, String> {
    let registered = if registered.trim().is_empty() { LEGACY_DEFAULT } else { registered };
    let grantable = KNOWN.iter().map(|(k, _)| *k).chain(SERVICE.into_iter().filter(|_| service));
    let grantable: Vec<&str> = grantable.collect();
    // Nothing asked for: everything registered that this grant may carry.
    let all_registered = registered.split_whitespace().filter(|s| grantable.contains(s)).collect::<Vec<_>>().join(" ");
    let requested = requested.map(str::trim).filter(|r| !r.is_empty()).unwrap_or(&all_registered);
    if let Some(bad) = requested.split_whitespace().find(|s| !has(registered, s) || !grantable.contains(s)) {
        return Err(bad.chars().take(40).collect());
    }
    let granted: Vec<&str> = grantable.into_iter().filter(|k| has(requested, k)).collect();
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
        // Service scopes: never to a person, even when registered; to the client itself on request.
        assert_eq!(grant(Some("index"), "openid index"), Err("index".into()));
        assert_eq!(grant(None, "openid index retirement").as_deref(), Ok("openid"));
        assert_eq!(grant_to_service(Some("retirement"), "index retirement").as_deref(), Ok("retirement"));
        assert_eq!(grant_to_service(None, "retirement index").as_deref(), Ok("index retirement"));
        assert_eq!(grant_to_service(Some("index"), "retirement"), Err("index".into()), "not registered");
        assert_eq!(
            described("chat email"),
            ["see your email address", "chat and read your conversations on your behalf"]
        );
    }
}
