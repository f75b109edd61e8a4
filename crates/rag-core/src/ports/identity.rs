//! Verifying a caller's token (Cognito JWTs, the local gateway's users).

use async_trait::async_trait;

use crate::domain::identity::Caller;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was sent (a blank one counts as none).
    #[error("no token")]
    Missing,
    /// A token issued for this service whose `exp` has passed: sign in again.
    #[error("token expired")]
    Expired,
    /// Anything else wrong with the token (malformed, bad signature, unknown
    /// key, wrong issuer, audience or use, no user); says what.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key set could not be fetched; not the caller's fault.
    #[error("token keys unavailable: {0}")]
    Unavailable(String),
}

/// Verifies a bearer token (a Cognito id token in production, a local token
/// in development) and names its user.
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The caller a valid token names, or why the token is refused.
    async fn verify(&self, token: &str) -> Result<Caller, AuthError>;
}
