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
