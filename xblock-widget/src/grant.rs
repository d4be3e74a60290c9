//! The gateway's HTTP answers the widget reads: token grants (the token endpoints, the sign-in
//! popup's message) and error bodies.

use ibal_protocol::json::Value;

/// A token pair as the gateway's token endpoints and the sign-in popup return it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrant {
    /// The access token (a JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: f64,
    /// The refresh token, when one was issued.
    pub refresh_token: Option<String>,
    /// The username, when the endpoint says it (not the refresh grant).
    pub username: Option<String>,
}

fn text(obj: &Value, name: &str) -> Option<String> {
    obj.get(name).and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// Parses a token response (`{"access_token","expires_in","refresh_token","username",…}`) from a JSON
/// object; `None` when `access_token` is missing.
#[must_use]
pub fn parse_token_grant(value: &Value) -> Option<TokenGrant> {
    Some(TokenGrant {
        access_token: text(value, "access_token")?,
        expires_in: value.get("expires_in").and_then(Value::as_f64).unwrap_or(900.0),
        refresh_token: text(value, "refresh_token"),
        username: text(value, "username"),
    })
}

/// An HTTP error body of the gateway: `{"error":{"code","message"}}` → `(code, message)`.
#[must_use]
pub fn parse_http_error(body: &str) -> Option<(String, String)> {
    let value = Value::parse(body)?;
    let err = value.get("error")?;
    let field = |name: &str| err.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    Some((field("code"), field("message")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_grants_and_http_errors() {
        let v = Value::parse(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":900,"refresh_token":"r","username":"u"}"#,
        )
        .unwrap_or(Value::Null);
        assert_eq!(
            parse_token_grant(&v),
            Some(TokenGrant {
                access_token: "a".into(),
                expires_in: 900.0,
                refresh_token: Some("r".into()),
                username: Some("u".into())
            })
        );
        assert_eq!(parse_token_grant(&Value::parse(r#"{"token_type":"Bearer"}"#).unwrap_or(Value::Null)), None);
        assert_eq!(parse_token_grant(&Value::parse(r#"{"access_token":""}"#).unwrap_or(Value::Null)), None);
        assert_eq!(
            parse_http_error(r#"{"error":{"code":"invalid_credentials","message":"Wrong username or password"}}"#),
            Some(("invalid_credentials".into(), "Wrong username or password".into()))
        );
        assert_eq!(parse_http_error("<html>"), None);
    }
}
