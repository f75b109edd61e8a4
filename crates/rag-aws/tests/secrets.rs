//! resolve_secret against moto: plain and RDS-style JSON secrets.

mod common;

use rag_aws::{resolve_secret, SecretError};

#[tokio::test]
async fn secrets_resolve_to_their_password() {
    let client = aws_sdk_secretsmanager::Client::new(&common::sdk().await);
    let plain = common::unique("db-plain");
    let rds = common::unique("db-rds");
    let no_password = common::unique("db-nopw");
    for (name, value) in [
        (&plain, "s3cret pw"),
        (
            &rds,
            r#"{"username":"rag","password":"p@ss{w}rd","engine":"postgres","port":5432}"#,
        ),
        (&no_password, r#"{"username":"rag"}"#),
    ] {
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(resolve_secret(&client, &plain).await.unwrap(), "s3cret pw");
    assert_eq!(resolve_secret(&client, &rds).await.unwrap(), "p@ss{w}rd");
    let err = resolve_secret(&client, &no_password).await.unwrap_err();
    assert!(matches!(err, SecretError::NoPassword(_)), "{err:?}");
    assert!(!err.to_string().contains("rag\""));
    let missing = common::unique("db-missing");
    assert!(matches!(
        resolve_secret(&client, &missing).await,
        Err(SecretError::NotFound(name)) if name == missing
    ));
}
