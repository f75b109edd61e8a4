//! Local identity: short-lived tokens that stand in for Cognito id tokens.
//!
//! The local gateway must check identity exactly as production does, so
//! tokens are JWTs with Cognito's id-token claims (`iss`, `aud`,
//! `token_use: "id"`, `cognito:username`, `sub`, `iat`, `exp`) and are
//! verified with the same checks, in the same order, with the same reasons
//! as `rag_aws::cognito::CognitoVerifier`. The difference is the key: HS256
//! with a secret created once per install (32 random bytes, hex, in a file
//! only its owner can read), instead of the pool's RS256 keys.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rag_core::domain::identity::Audience;
use rag_core::domain::identity::Caller;
use rag_core::ports::{AuthError, TokenVerifier};
use serde_json::{json, Map, Value};

use crate::fsio;

/// The clock tokens are issued and checked against, in epoch seconds.
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Why a secret could not be loaded or a token issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The secret file could not be read or created.
    #[error("token secret {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The secret file holds something other than a long enough hex secret.
    #[error("token secret {path} is invalid: {reason}")]
    BadSecret {
        /// The secret file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A secret given directly is too short to sign with.
    #[error("token secret is {bytes} bytes, at least {needed} needed")]
    WeakSecret {
        /// Its length.
        bytes: usize,
        /// [`LocalTokens::SECRET_BYTES`].
        needed: usize,
    },
    /// The operating system gave no randomness.
    #[error("no randomness for a token secret: {0}")]
    Random(String),
    /// Tokens must name a user.
    #[error("a token needs a non-empty user name")]
    NoUser,
    /// The token could not be signed.
    #[error("cannot sign token: {0}")]
    Sign(String),
}

/// Issues and verifies local identity tokens (see the module docs).
pub struct LocalTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    clock: Clock,
}

impl std::fmt::Debug for LocalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("LocalTokens").finish_non_exhaustive()
    }
}

impl LocalTokens {
    /// The `iss` of every local token.
    pub const ISSUER: &'static str = "amplify-rag-async-local";
    /// The `aud` of every local token (Cognito puts the app client id there).
    pub const AUDIENCE: &'static str = "amplify-rag-async-local";
    /// Secret length in bytes: the HS256 key size.
    pub const SECRET_BYTES: usize = 32;

    /// Loads the install's secret from `path`, creating it (32 random bytes,
    /// hex, mode 0600) the first time. Two processes starting at once agree
    /// on one secret: it is published with a link that fails if the file
    /// already exists.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self, TokenError> {
        let path = path.as_ref();
        match Self::read_secret(path) {
            Ok(secret) => return Self::from_secret(&secret).map_err(|e| e.at(path)),
            Err(TokenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(e) => return Err(e),
        }
        Self::create_secret(path)?;
        let secret = Self::read_secret(path)?;
        Self::from_secret(&secret).map_err(|e| e.at(path))
    }

    /// Tokens signed with `secret` (at least 32 bytes), on the system clock.
    pub fn from_secret(secret: &[u8]) -> Result<Self, TokenError> {
        if secret.len() < Self::SECRET_BYTES {
            return Err(TokenError::WeakSecret {
                bytes: secret.len(),
                needed: Self::SECRET_BYTES,
            });
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
        })
    }

    /// Replaces the clock (epoch seconds), so expiry can be tested
    /// deterministically, as `CognitoVerifier::with_clock` does.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn read_secret(path: &Path) -> Result<Vec<u8>, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
            path: path.to_owned(),
            source,
        })?;
        warn_if_readable_by_others(path);
        fsio::unhex(text.trim()).ok_or_else(|| TokenError::BadSecret {
            path: path.to_owned(),
            reason: "not hex".into(),
        })
    }

    fn create_secret(path: &Path) -> Result<(), TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        let mut secret = [0u8; Self::SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| TokenError::Random(e.to_string()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let temp = dir.join(format!(".secret.{}.tmp", uuid::Uuid::new_v4().simple()));
        let written = (|| {
            let mut file = private_file(&temp)?;
            file.write_all(fsio::hex(&secret).as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        })();
        let published = written.and_then(|()| std::fs::hard_link(&temp, path));
        let _ = std::fs::remove_file(&temp);
        match published {
            Ok(()) => {
                tracing::info!(path = %path.display(), "local token secret created");
                Ok(())
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    /// A token for `user`, valid for `ttl`.
    pub fn issue(&self, user: &str, ttl: Duration) -> Result<String, TokenError> {
        if user.trim().is_empty() {
            return Err(TokenError::NoUser);
        }
        let now = (self.clock)();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = json!({
            "iss": Self::ISSUER,
            "aud": Self::AUDIENCE,
            "token_use": "id",
            "cognito:username": user,
            "sub": user,
            "iat": now,
            "exp": now.saturating_add(ttl),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }
}

impl TokenError {
    fn at(self, path: &Path) -> Self {
        match self {
            TokenError::WeakSecret { bytes, needed } => TokenError::BadSecret {
                path: path.to_owned(),
                reason: format!("{bytes} bytes, at least {needed} needed"),
            },
            other => other,
        }
    }
}

/// A new file only its owner can read and write.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A secret others can read lets them sign in as anyone: say so.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "local token secret is readable by other users; chmod 600 it");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The claims checks after the signature: exactly those of Cognito tokens.
fn check_claims(claims: &Map<String, Value>, now: i64) -> Result<Caller, AuthError> {
    rag_core::domain::identity::check_claims(
        claims,
        LocalTokens::ISSUER,
        Audience::IdToken(LocalTokens::AUDIENCE),
        now,
    )
}

#[async_trait]
impl TokenVerifier for LocalTokens {
    async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token".into()))?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Invalid("unsupported algorithm".into()));
        }
        // Signature and algorithm only; the claims are checked below against
        // our own clock.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                AuthError::Invalid("bad signature".into())
            }
            _ => AuthError::Invalid("malformed token".into()),
        })?;
        let result = check_claims(&data.claims, (self.clock)());
        if let Err(e) = &result {
            tracing::debug!(reason = %e, "local token refused");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_checked_in_cognitos_order() {
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        let good = claims(json!({
            "iss": LocalTokens::ISSUER, "aud": LocalTokens::AUDIENCE, "token_use": "id",
            "exp": 100, "sub": "alice", "cognito:username": "alice"
        }));
        assert_eq!(check_claims(&good, 99), Ok(Caller::new("alice")));
        assert_eq!(check_claims(&good, 100), Err(AuthError::Expired));
        let access = claims(json!({
            "iss": LocalTokens::ISSUER, "aud": LocalTokens::AUDIENCE, "token_use": "access",
            "exp": 100, "sub": "alice"
        }));
        assert_eq!(
            check_claims(&access, 0),
            Err(AuthError::Invalid("wrong token use".into()))
        );
        let nobody = claims(json!({
            "iss": LocalTokens::ISSUER, "aud": [LocalTokens::AUDIENCE], "token_use": "id", "exp": 100
        }));
        assert_eq!(
            check_claims(&nobody, 0),
            Err(AuthError::Invalid("token names no user".into()))
        );
        let no_exp = claims(json!({
            "iss": LocalTokens::ISSUER, "aud": LocalTokens::AUDIENCE, "token_use": "id", "sub": "a"
        }));
        assert_eq!(
            check_claims(&no_exp, 0),
            Err(AuthError::Invalid("no expiry".into()))
        );
    }
}
