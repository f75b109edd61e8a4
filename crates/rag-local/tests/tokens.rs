//! Local tokens are verified like Cognito id tokens: signature, issuer,
//! audience, token use and expiry, with the same reasons.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rag_core::domain::identity::Caller;
use rag_core::ports::{AuthError, TokenVerifier};
use rag_local::LocalTokens;
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn secret_of(path: &std::path::Path) -> Vec<u8> {
    let hex = std::fs::read_to_string(path).unwrap();
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn claims() -> Value {
    json!({
        "iss": LocalTokens::ISSUER, "aud": LocalTokens::AUDIENCE, "token_use": "id",
        "cognito:username": "alice", "sub": "alice", "iat": now(), "exp": now() + 600,
    })
}

fn invalid(reason: &str) -> Result<Caller, AuthError> {
    Err(AuthError::Invalid(reason.into()))
}

#[tokio::test]
async fn issued_tokens_verify_and_carry_cognitos_claims() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = LocalTokens::load_or_create(dir.path().join("secret")).unwrap();
    let token = tokens.issue("alice", Duration::from_secs(3600)).unwrap();
    assert_eq!(tokens.verify(&token).await, Ok(Caller::new("alice")));
    assert_eq!(
        tokens.verify(&format!("  {token}\n")).await,
        Ok(Caller::new("alice"))
    );

    let payload: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&token)
        .unwrap()
        .claims;
    assert_eq!(payload["iss"], "amplify-rag-async-local");
    assert_eq!(payload["aud"], "amplify-rag-async-local");
    assert_eq!(payload["token_use"], "id");
    assert_eq!(payload["cognito:username"], "alice");
    assert_eq!(payload["sub"], "alice");
    let (iat, exp) = (
        payload["iat"].as_i64().unwrap(),
        payload["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert!((iat - now()).abs() < 60);
    assert!(tokens.issue(" ", Duration::from_secs(60)).is_err());
}

#[tokio::test]
async fn the_secret_is_created_once_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/secret");
    let first = LocalTokens::load_or_create(&path).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.trim().len(), 64, "32 bytes, hex");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let second = LocalTokens::load_or_create(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        written,
        "not recreated"
    );
    let token = first.issue("alice", Duration::from_secs(60)).unwrap();
    assert_eq!(second.verify(&token).await, Ok(Caller::new("alice")));
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1,
        "no temporaries"
    );

    std::fs::write(dir.path().join("bad"), "not hex").unwrap();
    assert!(LocalTokens::load_or_create(dir.path().join("bad")).is_err());
    std::fs::write(dir.path().join("short"), "abcd").unwrap();
    assert!(LocalTokens::load_or_create(dir.path().join("short")).is_err());
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    let tokens = LocalTokens::load_or_create(&path).unwrap();
    let token = tokens.issue("alice", Duration::from_secs(3600)).unwrap();
    let later = LocalTokens::load_or_create(&path)
        .unwrap()
        .with_clock(|| chrono::Utc::now().timestamp() + 2 * 3600);
    assert_eq!(later.verify(&token).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn tokens_of_another_install_or_tampered_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let ours = LocalTokens::load_or_create(dir.path().join("ours")).unwrap();
    let theirs = LocalTokens::load_or_create(dir.path().join("theirs")).unwrap();
    let token = theirs.issue("alice", Duration::from_secs(600)).unwrap();
    assert_eq!(ours.verify(&token).await, invalid("bad signature"));

    // Same signature, payload edited to name another user.
    let own = ours.issue("alice", Duration::from_secs(600)).unwrap();
    let parts: Vec<&str> = own.split('.').collect();
    let forged_payload = {
        let claims = json!({
            "iss": LocalTokens::ISSUER, "aud": LocalTokens::AUDIENCE, "token_use": "id",
            "cognito:username": "mallory", "sub": "mallory", "iat": now(), "exp": now() + 600,
        });
        let other = sign(&claims, b"0123456789abcdef0123456789abcdef");
        other.split('.').nth(1).unwrap().to_owned()
    };
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(ours.verify(&tampered).await, invalid("bad signature"));
    assert_eq!(ours.verify("not.a.token").await, invalid("malformed token"));
    assert_eq!(ours.verify("garbage").await, invalid("malformed token"));
}

#[tokio::test]
async fn wrong_issuer_audience_use_or_algorithm_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    let tokens = LocalTokens::load_or_create(&path).unwrap();
    let secret = secret_of(&path);
    assert_eq!(
        tokens.verify(&sign(&claims(), &secret)).await,
        Ok(Caller::new("alice"))
    );

    let with = |key: &str, value: Value| {
        let mut c = claims();
        c[key] = value;
        sign(&c, &secret)
    };
    assert_eq!(
        tokens
            .verify(&with(
                "iss",
                json!("https://cognito-idp.us-east-1.amazonaws.com/x")
            ))
            .await,
        invalid("wrong issuer")
    );
    assert_eq!(
        tokens.verify(&with("aud", json!("other-app"))).await,
        invalid("wrong audience")
    );
    assert_eq!(
        tokens.verify(&with("token_use", json!("access"))).await,
        invalid("wrong token use")
    );
    let mut no_user = claims();
    no_user.as_object_mut().unwrap().remove("cognito:username");
    no_user.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        tokens.verify(&sign(&no_user, &secret)).await,
        invalid("token names no user")
    );

    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(
        tokens.verify(&hs512).await,
        invalid("unsupported algorithm")
    );
    // alg "none": a header saying so, no signature.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        sign(&claims(), &secret).split('.').nth(1).unwrap()
    );
    assert!(matches!(
        tokens.verify(&none).await,
        Err(AuthError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_missing_token_is_missing() {
    let tokens = LocalTokens::from_secret(&[7u8; 32]).unwrap();
    assert_eq!(tokens.verify("").await, Err(AuthError::Missing));
    assert_eq!(tokens.verify("   ").await, Err(AuthError::Missing));
    assert!(
        LocalTokens::from_secret(&[7u8; 16]).is_err(),
        "short secrets are refused"
    );
}
