//! Passwords that change under a running process.
//!
//! On Lambda the database password comes from a Secrets Manager secret that
//! rotation replaces. Connections already open keep working, but a warm
//! container opening a new one with the old password is refused, and would
//! be for the rest of its life. So the index re-reads the password from its
//! source when the server refuses a login, and tries the connection again.

use std::sync::Arc;

use async_trait::async_trait;
use rag_core::ports::IndexError;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Transaction};

use crate::index::backend;

/// Where the current database password is read from (a Secrets Manager
/// secret in the Lambda functions).
#[async_trait]
pub trait PasswordSource: Send + Sync {
    /// The password as the source holds it now; the error says why not.
    async fn password(&self) -> Result<String, String>;
}

/// Whether the server refused the login: a wrong password
/// (`invalid_password`, 28P01) or one no longer valid for the role
/// (`invalid_authorization_specification`, 28000).
pub(crate) fn is_login_refused(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("28P01" | "28000")))
}

/// The pool, and the source to refresh its password from.
#[derive(Clone)]
pub(crate) struct Connections {
    pub pool: PgPool,
    pub password: Option<Arc<dyn PasswordSource>>,
}

impl Connections {
    /// A connection; a refused login re-reads the password and tries once
    /// more.
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>, IndexError> {
        match self.pool.acquire().await {
            Err(e) if is_login_refused(&e) && self.refresh_password().await => {
                self.pool.acquire().await.map_err(backend)
            }
            other => other.map_err(backend),
        }
    }

    /// A transaction, with the same retry as [`Connections::acquire`].
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, IndexError> {
        match self.pool.begin().await {
            Err(e) if is_login_refused(&e) && self.refresh_password().await => {
                self.pool.begin().await.map_err(backend)
            }
            other => other.map_err(backend),
        }
    }

    /// Re-reads the password and gives it to the pool's future connections;
    /// `false` when there is no source or it cannot say.
    async fn refresh_password(&self) -> bool {
        let Some(source) = &self.password else {
            tracing::error!("the database refused the login, and no password source is configured");
            return false;
        };
        match source.password().await {
            Ok(password) => {
                let options = (*self.pool.connect_options()).clone().password(&password);
                self.pool.set_connect_options(options);
                tracing::warn!("the database refused the login; password re-read from its source");
                true
            }
            Err(why) => {
                tracing::error!(error = %why, "the database refused the login, and the password could not be re-read");
                false
            }
        }
    }
}
