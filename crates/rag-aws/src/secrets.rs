//! The database password from Secrets Manager.
//!
//! `RAG_POSTGRES_DB_SECRET` names a secret; the original used the name itself
//! as the password. The secret holds either the password as a plain string
//! or, for RDS-managed secrets, JSON with a `password` field.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;

use crate::error::describe;

/// Why a secret could not be resolved. Never contains the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret of that name: a deployment mistake worth saying plainly.
    #[error("secret {0:?} not found")]
    NotFound(String),
    /// The secret holds binary data, never a password.
    #[error("secret {0:?} has no string value")]
    NotAString(String),
    /// JSON (RDS-style) but without the field we need.
    #[error("secret {0:?} is JSON without a string \"password\" field")]
    NoPassword(String),
    /// Secrets Manager could not be asked (network, permissions).
    #[error("secrets manager error: {0}")]
    Backend(String),
}

/// The password a secret holds: the `password` field of a JSON object, or
/// the whole string. `None` for a JSON object without a string `password`.
pub fn password_from_secret_string(secret: &str) -> Option<String> {
    if secret.trim_start().starts_with('{') {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(secret) {
            return fields
                .get("password")
                .and_then(|p| p.as_str())
                .map(str::to_owned);
        }
    }
    Some(secret.to_owned())
}

/// Resolves the secret `name` (a name or ARN) to the password it holds.
pub async fn resolve_secret(client: &Client, name: &str) -> Result<String, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| {
            if e.code() == Some("ResourceNotFoundException") {
                SecretError::NotFound(name.to_owned())
            } else {
                SecretError::Backend(describe(&e))
            }
        })?;
    let value = out
        .secret_string()
        .ok_or_else(|| SecretError::NotAString(name.to_owned()))?;
    let password = password_from_secret_string(value)
        .ok_or_else(|| SecretError::NoPassword(name.to_owned()))?;
    tracing::debug!(secret = name, "database secret resolved");
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_rds_secrets() {
        assert_eq!(password_from_secret_string("p@ss").as_deref(), Some("p@ss"));
        assert_eq!(
            password_from_secret_string(r#"{"username":"rag","password":"x y"}"#).as_deref(),
            Some("x y")
        );
        assert_eq!(password_from_secret_string(r#"{"username":"rag"}"#), None);
        // Not JSON after all: a password may start with a brace.
        assert_eq!(password_from_secret_string("{abc").as_deref(), Some("{abc"));
    }
}
