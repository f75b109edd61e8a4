//! [`TokenVerifier`] for Cognito user pool tokens, verified against the
//! pool's JWKS.
//!
//! REST routes sit behind API Gateway's Cognito authorizer, but the WebSocket
//! `$connect` route gets the id token as `?token=` and must verify it itself
//! (the original trusted `?user=`). Checks: RS256 signature by a key of the
//! pool, `iss` is the pool, the token is for our app client (`aud` for id
//! tokens, `client_id` for access tokens), `token_use`, and `exp`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rag_core::domain::identity::Audience;
use rag_core::domain::identity::Caller;
use rag_core::ports::{AuthError, TokenVerifier};
use serde_json::{Map, Value};

/// Which Cognito token the verifier accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Id tokens (`token_use: "id"`, the app client in `aud`): what the
    /// frontend sends on the WebSocket URL.
    Id,
    /// Access tokens (`token_use: "access"`, the app client in `client_id`).
    Access,
}

/// A required setting is missing or the verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CognitoConfigError {
    /// This environment variable is required.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// The TLS stack could not be initialized.
    #[error("cannot build the JWKS HTTP client: {0}")]
    HttpClient(String),
}

/// Which pool and app client tokens must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoConfig {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool_id>`: the `iss` claim.
    pub issuer: String,
    /// The app client id: the audience.
    pub client_id: String,
    /// Where the pool's public keys are (issuer + `/.well-known/jwks.json`
    /// unless overridden for an emulator).
    pub jwks_url: String,
    /// Id tokens (the default, what the frontend has) or access tokens.
    pub token_use: TokenUse,
}

impl CognitoConfig {
    /// Id tokens of `client_id` in pool `pool_id` of `region`.
    pub fn new(region: &str, pool_id: &str, client_id: impl Into<String>) -> Self {
        let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}");
        Self {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            client_id: client_id.into(),
            token_use: TokenUse::Id,
        }
    }

    /// Fetch the keys elsewhere (an emulator serves them at its own URL).
    pub fn with_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = url.into();
        self
    }

    /// Accept access tokens instead of id tokens.
    pub fn with_token_use(mut self, token_use: TokenUse) -> Self {
        self.token_use = token_use;
        self
    }

    /// From `COGNITO_USER_POOL_ID`, `COGNITO_CLIENT_ID`, optional
    /// `COGNITO_JWKS_URL`, and the region of `AWS_REGION` (or the region
    /// prefix of the pool id, `us-east-1_AbC`, when that is unset).
    pub fn from_env() -> Result<Self, CognitoConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, CognitoConfigError> {
        let var = |name: &'static str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let pool_id = var("COGNITO_USER_POOL_ID")
            .ok_or(CognitoConfigError::Missing("COGNITO_USER_POOL_ID"))?;
        let client_id =
            var("COGNITO_CLIENT_ID").ok_or(CognitoConfigError::Missing("COGNITO_CLIENT_ID"))?;
        let region = var("AWS_REGION")
            .or_else(|| pool_id.split_once('_').map(|(r, _)| r.to_owned()))
            .ok_or(CognitoConfigError::Missing("AWS_REGION"))?;
        let config = Self::new(&region, &pool_id, client_id);
        Ok(match var("COGNITO_JWKS_URL") {
            Some(url) => config.with_jwks_url(url),
            None => config,
        })
    }
}

/// The clock the verifier checks `exp` against, in epoch seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Verifies Cognito JWTs; keys are cached for the life of the process.
pub struct CognitoVerifier {
    config: CognitoConfig,
    http: reqwest::Client,
    clock: Clock,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// When the keys were last fetched successfully; also serializes fetches.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for CognitoVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognitoVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CognitoVerifier {
    /// An unknown key id triggers a refetch (Cognito rotates keys), but not
    /// more often than this: forged `kid`s must not hammer the JWKS endpoint.
    pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

    /// A verifier for `config`, with the system clock.
    pub fn new(config: CognitoConfig) -> Result<Self, CognitoConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CognitoConfigError::HttpClient(e.to_string()))?;
        Ok(Self {
            config,
            http,
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// Replaces the clock (epoch seconds), so expiry can be tested
    /// deterministically.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        // A poisoned lock still holds a complete map (it is only ever
        // replaced whole), so use it.
        let keys = match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        keys.get(kid).cloned()
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have refreshed the keys while we waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if last_fetch.is_some_and(|t| t.elapsed() < Self::MIN_REFETCH_INTERVAL) {
            return Err(AuthError::Invalid("unknown signing key".into()));
        }
        let keys = self.fetch_keys().await?;
        *last_fetch = Some(Instant::now());
        tracing::info!(jwks_url = %self.config.jwks_url, keys = keys.len(), "Cognito keys fetched");
        let key = keys.get(kid).cloned();
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
        key.ok_or_else(|| AuthError::Invalid("unknown signing key".into()))
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, AuthError> {
        let unavailable = |what: String| {
            tracing::warn!(jwks_url = %self.config.jwks_url, error = %what, "cannot fetch Cognito keys");
            AuthError::Unavailable(what)
        };
        let response = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .map_err(|e| unavailable(format!("JWKS request failed: {e}")))?;
        if !response.status().is_success() {
            return Err(unavailable(format!(
                "JWKS endpoint answered {}",
                response.status()
            )));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| unavailable(format!("invalid JWKS: {e}")))?;
        Ok(set
            .keys
            .iter()
            .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
            .filter(|jwk| {
                matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
                    && matches!(
                        jwk.common.public_key_use,
                        None | Some(PublicKeyUse::Signature)
                    )
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect())
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    config: &CognitoConfig,
    now: i64,
) -> Result<Caller, AuthError> {
    let audience = match config.token_use {
        TokenUse::Id => Audience::IdToken(&config.client_id),
        TokenUse::Access => Audience::AccessToken(&config.client_id),
    };
    rag_core::domain::identity::check_claims(claims, &config.issuer, audience, now)
}

#[async_trait]
impl TokenVerifier for CognitoVerifier {
    async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid("unsupported algorithm".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("token has no key id".into()))?;
        let key = self.key(&kid).await?;
        // Signature and algorithm only; the claims are checked below against
        // our own clock.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        AuthError::Invalid("bad signature".into())
                    }
                    _ => AuthError::Invalid("malformed token".into()),
                }
            })?;
        let result = check_claims(&data.claims, &self.config, (self.clock)());
        if let Err(e) = &result {
            tracing::debug!(reason = %e, "token refused");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn claims_are_checked_in_order() {
        let config = CognitoConfig::new("us-east-1", "us-east-1_pool", "client");
        let iss = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool";
        let id = claims(serde_json::json!({
            "iss": iss, "aud": "client", "token_use": "id", "exp": 100,
            "sub": "1234", "cognito:username": "alice"
        }));
        assert_eq!(check_claims(&id, &config, 99), Ok(Caller::new("alice")));
        assert_eq!(check_claims(&id, &config, 100), Err(AuthError::Expired));
        let other = CognitoConfig::new("us-east-1", "us-east-1_pool", "other");
        assert_eq!(
            check_claims(&id, &other, 200),
            Err(AuthError::Invalid("wrong audience".into()))
        );
        let access_config = config.clone().with_token_use(TokenUse::Access);
        assert_eq!(
            check_claims(&id, &access_config, 99),
            Err(AuthError::Invalid("wrong token use".into()))
        );
        let access = claims(serde_json::json!({
            "iss": iss, "client_id": "client", "token_use": "access", "exp": 100,
            "username": "alice"
        }));
        assert_eq!(
            check_claims(&access, &access_config, 99),
            Ok(Caller::new("alice"))
        );
        let no_exp = claims(
            serde_json::json!({"iss": iss, "aud": ["client"], "token_use": "id", "sub": "s"}),
        );
        assert_eq!(
            check_claims(&no_exp, &config, 0),
            Err(AuthError::Invalid("no expiry".into()))
        );
    }

    #[test]
    fn config_from_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = CognitoConfig::from_vars(env(&[
            ("COGNITO_USER_POOL_ID", "eu-west-1_Abc"),
            ("COGNITO_CLIENT_ID", "client-1"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            CognitoConfig::new("eu-west-1", "eu-west-1_Abc", "client-1")
        );
        let c = CognitoConfig::from_vars(env(&[
            ("COGNITO_USER_POOL_ID", "us-east-2_Abc"),
            ("COGNITO_CLIENT_ID", "client-1"),
            (
                "COGNITO_JWKS_URL",
                "http://127.0.0.1:5000/us-east-2_Abc/.well-known/jwks.json",
            ),
        ]))
        .unwrap();
        assert_eq!(
            c.issuer,
            "https://cognito-idp.us-east-2.amazonaws.com/us-east-2_Abc"
        );
        assert!(c.jwks_url.starts_with("http://127.0.0.1:5000/"));
        assert!(matches!(
            CognitoConfig::from_vars(env(&[("COGNITO_USER_POOL_ID", "p")])),
            Err(CognitoConfigError::Missing("COGNITO_CLIENT_ID"))
        ));
    }

    #[test]
    fn the_default_jwks_url_is_the_pools() {
        let c = CognitoConfig::new("eu-west-1", "eu-west-1_X", "c");
        assert_eq!(
            c.jwks_url,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/jwks.json"
        );
        assert_eq!(c.token_use, TokenUse::Id);
    }
}
