//! Verifying a caller's token (Cognito JWTs, the local gateway's users).

use async_trait::async_trait;

use crate::domain::identity::Caller;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("token expired")]
    Expired,
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
    async fn verify(&self, token: &str) -> Result<Caller, AuthError>;
}
