//! CognitoVerifier against tokens issued by moto's Cognito user pool.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ExplicitAuthFlowsType};
use aws_sdk_cognitoidentityprovider::Client;
use rag_aws::{CognitoConfig, CognitoVerifier, TokenUse};
use rag_core::ports::{AuthError, TokenVerifier};
use rag_core::Caller;

struct Pool {
    id: String,
    client_a: String,
    client_b: String,
    /// (id token, access token) of `alice` through client A.
    tokens_a: (String, String),
    /// The id token of `alice` through client B.
    id_token_b: String,
}

async fn login(
    cognito: &Client,
    pool: &str,
    client: &str,
    user: &str,
    password: &str,
) -> (String, String) {
    let out = cognito
        .admin_initiate_auth()
        .user_pool_id(pool)
        .client_id(client)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .unwrap();
    let auth = out.authentication_result().unwrap();
    (
        auth.id_token().unwrap().to_owned(),
        auth.access_token().unwrap().to_owned(),
    )
}

async fn pool() -> Pool {
    let cognito = Client::new(&common::sdk().await);
    let id = cognito
        .create_user_pool()
        .pool_name(common::unique("pool"))
        .send()
        .await
        .unwrap()
        .user_pool()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let mut clients = Vec::new();
    for name in ["web", "other"] {
        let out = cognito
            .create_user_pool_client()
            .user_pool_id(&id)
            .client_name(name)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
            .send()
            .await
            .unwrap();
        clients.push(
            out.user_pool_client()
                .unwrap()
                .client_id()
                .unwrap()
                .to_owned(),
        );
    }
    let password = "Corr3ct-Horse-Battery!";
    cognito
        .admin_create_user()
        .user_pool_id(&id)
        .username("alice")
        .send()
        .await
        .unwrap();
    cognito
        .admin_set_user_password()
        .user_pool_id(&id)
        .username("alice")
        .password(password)
        .permanent(true)
        .send()
        .await
        .unwrap();
    let tokens_a = login(&cognito, &id, &clients[0], "alice", password).await;
    let (id_token_b, _) = login(&cognito, &id, &clients[1], "alice", password).await;
    Pool {
        id,
        client_a: clients[0].clone(),
        client_b: clients[1].clone(),
        tokens_a,
        id_token_b,
    }
}

fn config(pool: &Pool, client: &str) -> CognitoConfig {
    CognitoConfig::new("us-east-1", &pool.id, client).with_jwks_url(format!(
        "{}/{}/.well-known/jwks.json",
        common::endpoint(),
        pool.id
    ))
}

fn invalid(reason: &str) -> Result<Caller, AuthError> {
    Err(AuthError::Invalid(reason.into()))
}

#[tokio::test]
async fn id_tokens_of_our_client_name_their_user() {
    let pool = pool().await;
    let verifier = CognitoVerifier::new(config(&pool, &pool.client_a)).unwrap();
    let (id_token, access_token) = &pool.tokens_a;
    assert_eq!(verifier.verify(id_token).await, Ok(Caller::new("alice")));
    // Cached keys: a second verification needs no fetch (and still works).
    assert_eq!(verifier.verify(id_token).await, Ok(Caller::new("alice")));
    // Another app client's token is not for us.
    assert_eq!(
        verifier.verify(&pool.id_token_b).await,
        invalid("wrong audience")
    );
    // An access token is not an id token.
    assert_eq!(
        verifier.verify(access_token).await,
        invalid("wrong token use")
    );
    // Unless access tokens are what we accept.
    let access =
        CognitoVerifier::new(config(&pool, &pool.client_a).with_token_use(TokenUse::Access))
            .unwrap();
    assert_eq!(access.verify(access_token).await, Ok(Caller::new("alice")));
    assert_eq!(access.verify(id_token).await, invalid("wrong token use"));
    // Client B's verifier takes client B's token.
    let b = CognitoVerifier::new(config(&pool, &pool.client_b)).unwrap();
    assert_eq!(b.verify(&pool.id_token_b).await, Ok(Caller::new("alice")));
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let pool = pool().await;
    let later = chrono::Utc::now().timestamp() + 2 * 3600;
    let verifier = CognitoVerifier::new(config(&pool, &pool.client_a))
        .unwrap()
        .with_clock(move || later);
    assert_eq!(
        verifier.verify(&pool.tokens_a.0).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_invalid() {
    use base64::Engine as _;
    let pool = pool().await;
    let verifier = CognitoVerifier::new(config(&pool, &pool.client_a)).unwrap();
    let token = &pool.tokens_a.0;

    assert_eq!(verifier.verify("").await, Err(AuthError::Missing));
    assert_eq!(verifier.verify("garbage").await, invalid("malformed token"));
    assert_eq!(verifier.verify("a.b.c").await, invalid("malformed token"));

    // A flipped bit in the middle of the signature.
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let mut sig = signature.as_bytes().to_vec();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{rest}.{}", String::from_utf8(sig).unwrap());
    assert_eq!(verifier.verify(&tampered).await, invalid("bad signature"));

    // Claims rewritten to another user, original signature kept.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["cognito:username"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(verifier.verify(&forged).await, invalid("bad signature"));

    // Another algorithm in the header (e.g. `none` or HS256) is refused.
    let hs = format!(
        "{}.{}.{}",
        b64.encode(r#"{"alg":"HS256","kid":"dummy"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(verifier.verify(&hs).await, invalid("unsupported algorithm"));

    // Configured for another pool (same keys at moto): wrong issuer.
    let other_pool = CognitoConfig::new("us-east-1", "us-east-1_SomethingElse", &pool.client_a)
        .with_jwks_url(config(&pool, &pool.client_a).jwks_url);
    let verifier = CognitoVerifier::new(other_pool).unwrap();
    assert_eq!(verifier.verify(token).await, invalid("wrong issuer"));
}

#[tokio::test]
async fn unreachable_keys_are_unavailable_not_invalid() {
    let pool = pool().await;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let verifier = CognitoVerifier::new(
        config(&pool, &pool.client_a).with_jwks_url(format!("http://{addr}/jwks.json")),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&pool.tokens_a.0).await,
        Err(AuthError::Unavailable(_))
    ));
    // A JWKS URL that answers 404, or 200 with something that is no key set,
    // is unavailable too. (moto answers any `/<pool>/.well-known/jwks.json`,
    // even of a pool that does not exist, so these use other paths.)
    for path in ["no/such/jwks.json", "moto-api/data.json"] {
        let verifier = CognitoVerifier::new(
            config(&pool, &pool.client_a).with_jwks_url(format!("{}/{path}", common::endpoint())),
        )
        .unwrap();
        assert!(
            matches!(
                verifier.verify(&pool.tokens_a.0).await,
                Err(AuthError::Unavailable(_))
            ),
            "{path}"
        );
    }
}
