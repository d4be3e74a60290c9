//! RSA public keys from a JWK set (RFC 7517), as the LMS (Open edX JWTs, chat tickets) and LTI
//! platforms publish them. jsonwebtoken's `Jwk` reads each key; keys of other types (EC, or RSA keys
//! for encryption) are skipped one by one, so a platform that publishes them beside its signing keys
//! still works.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};

/// The RSA signature keys of one JWK set, each with its `kid` when it has one.
#[derive(Clone)]
pub struct RsaKeys(Vec<(Option<String>, DecodingKey)>);

impl std::fmt::Debug for RsaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(kid, _)| kid)).finish()
    }
}

impl RsaKeys {
    /// Reads a JWK set. An RSA signature key that cannot be used is an error (it is a
    /// misconfiguration, not something to skip silently); a set without any is one too.
    ///
    /// # Errors
    /// A sentence saying what is wrong, for the operator.
    pub fn parse(json: &str) -> Result<Self, String> {
        let set: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not a JWK set: {e}"))?;
        let entries =
            set.get("keys").and_then(serde_json::Value::as_array).ok_or("not a JWK set: no \"keys\" array")?;
        let mut keys = Vec::new();
        for entry in entries {
            if entry.get("kty").and_then(serde_json::Value::as_str) != Some("RSA") {
                continue;
            }
            let jwk = match serde_json::from_value::<Jwk>(entry.clone()) {
                Ok(jwk) => jwk,
                // An algorithm jsonwebtoken does not know (RSA-OAEP…) is for encryption: not ours.
                Err(_)
                    if entry.get("alg").and_then(serde_json::Value::as_str).is_some_and(|a| !a.starts_with("RS")) =>
                {
                    continue;
                }
                Err(e) => return Err(format!("an RSA key is malformed: {e}")),
            };
            let signs = jwk.common.key_algorithm.is_none_or(|alg| {
                matches!(
                    alg,
                    KeyAlgorithm::RS256
                        | KeyAlgorithm::RS384
                        | KeyAlgorithm::RS512
                        | KeyAlgorithm::PS256
                        | KeyAlgorithm::PS384
                        | KeyAlgorithm::PS512
                )
            });
            if !signs || matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty());
            if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
                continue;
            }
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|e| format!("the RSA key {} is unusable: {e}", kid.as_deref().unwrap_or("without a kid")))?;
            keys.push((kid, key));
        }
        if keys.is_empty() {
            return Err("the JWK set holds no RSA signature key".into());
        }
        Ok(Self(keys))
    }

    /// Fails unless every key names itself (`kid`): senders that must say which key signed.
    ///
    /// # Errors
    /// A sentence for the operator.
    pub fn require_kids(self) -> Result<Self, String> {
        if self.0.iter().any(|(kid, _)| kid.is_none()) { Err("every key needs a kid".into()) } else { Ok(self) }
    }

    /// The key named `kid`; without a kid, the only key (several keys and no kid: none).
    pub fn find(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            Some(kid) => self.0.iter().find(|(k, _)| k.as_deref() == Some(kid)).map(|(_, key)| key),
            None if self.0.len() == 1 => self.0.first().map(|(_, key)| key),
            None => None,
        }
    }

    /// Every key, for a token that names none among several.
    pub fn iter(&self) -> impl Iterator<Item = &DecodingKey> {
        self.0.iter().map(|(_, key)| key)
    }

    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.0.iter().map(|(kid, _)| kid.as_deref())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 2048-bit modulus (RFC 7517 appendix A.1's example key).
    const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn rsa(kid: Option<&str>, extra: &str) -> String {
        let kid = kid.map(|k| format!(r#","kid":"{k}""#)).unwrap_or_default();
        format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB"{kid}{extra}}}"#)
    }

    #[test]
    fn reads_rsa_signature_keys_and_skips_the_rest() {
        let set = format!(
            r#"{{"keys":[{},{{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},{},{}]}}"#,
            rsa(Some("sig-1"), r#","use":"sig","alg":"RS256""#),
            rsa(Some("enc-1"), r#","use":"enc""#),
            rsa(Some("oaep"), r#","alg":"RSA-OAEP-256""#),
        );
        let keys = RsaKeys::parse(&set).expect("one signature key");
        assert_eq!(keys.kids().collect::<Vec<_>>(), [Some("sig-1")]);
        assert!(keys.find(Some("sig-1")).is_some());
        assert!(keys.find(Some("enc-1")).is_none());
        assert!(keys.find(None).is_some(), "the only key answers a token without a kid");
    }

    #[test]
    fn several_keys_need_a_kid_to_choose() {
        let set = format!(r#"{{"keys":[{},{}]}}"#, rsa(Some("a"), ""), rsa(None, ""));
        let keys = RsaKeys::parse(&set).expect("two keys");
        assert!(keys.find(None).is_none());
        assert_eq!(keys.iter().count(), 2);
        assert_eq!(keys.require_kids().expect_err("one key has no kid"), "every key needs a kid");
    }

    #[test]
    fn unusable_sets_are_refused_with_a_reason() {
        assert!(RsaKeys::parse("nope").expect_err("not JSON").starts_with("not a JWK set"));
        assert!(RsaKeys::parse(r#"{"kty":"RSA"}"#).expect_err("a key, not a set").contains("keys"));
        assert!(RsaKeys::parse(r#"{"keys":[]}"#).expect_err("empty").contains("no RSA signature key"));
        let broken = r#"{"keys":[{"kty":"RSA","kid":"k","n":"!!","e":"AQAB"}]}"#;
        assert!(RsaKeys::parse(broken).is_err(), "a malformed modulus is refused, not skipped");
        let incomplete = r#"{"keys":[{"kty":"RSA","kid":"k","e":"AQAB"}]}"#;
        assert!(RsaKeys::parse(incomplete).is_err(), "a signature key without its modulus is refused");
    }
}
