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
