//! Who is asking: the identity every index row and every query is scoped by.

use serde::{Deserialize, Serialize};

/// The authenticated principal behind a request.
///
/// Adapters build it from a verified token (Cognito claims on Lambda, local
/// tokens in development); the core never trusts a user name that arrived in a
/// request body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Caller {
    /// Stable user id (Cognito `username` / email in Amplify).
    pub user: String,
}

impl Caller {
    /// A caller for a user id that an adapter has already authenticated.
    pub fn new(user: impl Into<String>) -> Self {
        Self { user: user.into() }
    }
}

impl Caller {
    /// The caller named by verified Cognito claims (from API Gateway's
    /// authorizer or a verified id token): `cognito:username`, then
    /// `username` (access tokens), then `sub`. `None` if none is a non-empty
    /// string.
    pub fn from_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        ["cognito:username", "username", "sub"]
            .iter()
            .filter_map(|k| claims.get(*k).and_then(|v| v.as_str()))
            .find(|v| !v.trim().is_empty())
            .map(Caller::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_username_claim_wins_and_empty_claims_name_nobody() {
        let claims = serde_json::json!({"sub": "1234", "cognito:username": "alice"});
        assert_eq!(
            Caller::from_claims(claims.as_object().unwrap()),
            Some(Caller::new("alice"))
        );
        let claims = serde_json::json!({"sub": "1234", "cognito:username": " "});
        assert_eq!(
            Caller::from_claims(claims.as_object().unwrap()),
            Some(Caller::new("1234"))
        );
        assert_eq!(Caller::from_claims(&serde_json::Map::new()), None);
    }
}

/// The application a token must have been issued to, and how the token
/// says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// An id token: `token_use` is `id` and `aud` names the client.
    IdToken(&'a str),
    /// An access token: `token_use` is `access` and `client_id` names it.
    AccessToken(&'a str),
}

/// The checks every token verifier makes once the signature holds, in one
/// order and wording, so local tokens are verified exactly like Cognito's:
/// issuer, token use, audience, expiry (against `now`, epoch seconds), then
/// the user the claims name.
pub fn check_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    issuer: &str,
    audience: Audience<'_>,
    now: i64,
) -> Result<Caller, crate::ports::AuthError> {
    use crate::ports::AuthError;
    use serde_json::Value;
    let invalid = |why: &str| AuthError::Invalid(why.to_owned());
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid("wrong issuer"));
    }
    let (token_use, client) = match audience {
        Audience::IdToken(c) => ("id", c),
        Audience::AccessToken(c) => ("access", c),
    };
    if claims.get("token_use").and_then(Value::as_str) != Some(token_use) {
        return Err(invalid("wrong token use"));
    }
    let for_us = match audience {
        Audience::IdToken(_) => match claims.get("aud") {
            Some(Value::String(aud)) => aud == client,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client)),
            _ => false,
        },
        Audience::AccessToken(_) => claims.get("client_id").and_then(Value::as_str) == Some(client),
    };
    if !for_us {
        return Err(invalid("wrong audience"));
    }
    let exp = claims
        .get("exp")
        .and_then(|e| e.as_i64().or_else(|| e.as_f64().map(|f| f as i64)))
        .ok_or_else(|| invalid("no expiry"))?;
    if now >= exp {
        return Err(AuthError::Expired);
    }
    Caller::from_claims(claims).ok_or_else(|| invalid("token names no user"))
}
