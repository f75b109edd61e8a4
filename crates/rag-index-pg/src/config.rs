//! Where the database is and how connections are set up.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::SetupError;

/// The embedded server `scripts/pg.sh` starts.
pub const EMBEDDED_DATABASE_URL: &str = "postgres://rag@127.0.0.1:54329/amplify_rag";

/// Connection settings.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user[:password]@host:port/db[?sslmode=...]`.
    pub url: String,
    /// Pool size (`DATABASE_MAX_CONNECTIONS`).
    pub max_connections: u32,
    /// HNSW candidate list size per query (`hnsw.ef_search`).
    pub ef_search: u32,
    /// Longest a statement may run (`statement_timeout`): a query stuck on
    /// a lock or a runaway plan is cancelled by the server instead of
    /// holding a Lambda invocation, and its connection, until Lambda kills
    /// the function (which leaves the session behind on the server).
    pub statement_timeout: Duration,
    /// Longest a session may sit idle inside a transaction
    /// (`idle_in_transaction_session_timeout`): a function frozen or killed
    /// mid-transaction releases its row locks (a document's row, which the
    /// page ranges of a split document serialize on) within this time.
    pub idle_in_transaction_timeout: Duration,
    /// Whether a commit waits for its WAL to reach the disk. Off only for
    /// loads that are rebuilt rather than recovered (`ragctl bench`): a
    /// crash may then lose the last commits, never corrupt the database.
    pub synchronous_commit: bool,
}

impl PgConfig {
    /// `DATABASE_URL`, or the embedded server's address.
    pub fn from_env() -> Self {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| EMBEDDED_DATABASE_URL.to_owned());
        Self::new(url)
    }

    /// Settings for a server named by parts, as the Lambda functions get it
    /// (`RAG_POSTGRES_DB_*_ENDPOINT` as `host` or `host:port`, `port` for an
    /// endpoint without one, the user, the password resolved from Secrets
    /// Manager, the database name). Always over TLS (`sslmode=require`): RDS
    /// and RDS Proxy serve it, and the password must not cross the VPC in
    /// the clear.
    pub fn from_parts(
        endpoint: &str,
        port: u16,
        user: &str,
        password: &str,
        database: &str,
    ) -> Self {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let host = if endpoint.contains(':') {
            endpoint.to_owned()
        } else {
            format!("{endpoint}:{port}")
        };
        Self::new(format!(
            "postgres://{}:{}@{host}/{}?sslmode=require",
            utf8_percent_encode(user, NON_ALPHANUMERIC),
            utf8_percent_encode(password, NON_ALPHANUMERIC),
            utf8_percent_encode(database, NON_ALPHANUMERIC),
        ))
    }

    /// Settings for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            ef_search: 200,
            statement_timeout: Duration::from_secs(120),
            idle_in_transaction_timeout: Duration::from_secs(60),
            synchronous_commit: true,
        }
    }

    /// The URL without its password, for messages.
    pub fn redacted_url(&self) -> String {
        match url_parts(&self.url) {
            Some((scheme, creds, rest)) => {
                let user = creds.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{rest}")
            }
            None => self.url.clone(),
        }
    }

    /// Opens a pool. Every connection starts with the pgvector settings that
    /// filtered HNSW searches need (iterative scans keep scanning until
    /// enough rows pass the access filter) and the timeouts above, set as
    /// startup parameters so they cost no extra round trip.
    pub async fn connect(&self) -> Result<PgPool, SetupError> {
        self.pool_options()
            .connect_with(self.connect_options()?)
            .await
            .map_err(|source| SetupError::Connect {
                target: self.redacted_url(),
                source,
            })
    }

    /// A pool that opens its first connection when first used: for a
    /// function that needs the database on some requests only (the
    /// api-processor's document routes), so its cold start waits for none.
    pub fn connect_lazy(&self) -> Result<PgPool, SetupError> {
        Ok(self
            .pool_options()
            .connect_lazy_with(self.connect_options()?))
    }

    fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(10))
    }

    /// The server's address and the session settings every connection
    /// starts with.
    fn connect_options(&self) -> Result<PgConnectOptions, SetupError> {
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        let opts = PgConnectOptions::from_str(&self.url)
            .map_err(|e| SetupError::InvalidUrl(e.to_string()))?
            .options([
                ("statement_timeout", millis(self.statement_timeout)),
                (
                    "idle_in_transaction_session_timeout",
                    millis(self.idle_in_transaction_timeout),
                ),
                ("hnsw.ef_search", self.ef_search.to_string()),
                ("hnsw.iterative_scan", "relaxed_order".to_owned()),
                ("hnsw.max_scan_tuples", "40000".to_owned()),
                // Plan every search for its own parameters: a generic plan cannot
                // tell a one-document scope from a million-document one.
                ("plan_cache_mode", "force_custom_plan".to_owned()),
                (
                    "synchronous_commit",
                    if self.synchronous_commit { "on" } else { "off" }.to_owned(),
                ),
            ]);
        Ok(opts)
    }
}

impl PgConfig {
    /// The same server, user and options, database `name`: a benchmark's
    /// or a test's database of its own beside the configured one.
    pub fn with_database(&self, name: &str) -> Self {
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.url.as_str(), None),
        };
        let server = match base.split_once("://") {
            Some((scheme, rest)) => {
                format!(
                    "{scheme}://{}",
                    rest.split_once('/').map_or(rest, |(a, _)| a)
                )
            }
            None => base.to_owned(),
        };
        let url = match query {
            Some(query) => format!("{server}/{name}?{query}"),
            None => format!("{server}/{name}"),
        };
        Self {
            url,
            ..self.clone()
        }
    }

    /// The database this configuration names, if its URL names one.
    pub fn database(&self) -> Option<String> {
        let opts = PgConnectOptions::from_str(&self.url).ok()?;
        opts.get_database().map(str::to_owned)
    }

    /// [`PgConfig::connect`], creating the database first if the server
    /// has none of that name (a benchmark's or a test's own database).
    pub async fn connect_creating(&self) -> Result<PgPool, SetupError> {
        match self.connect().await {
            Err(SetupError::Connect {
                source: sqlx::Error::Database(e),
                ..
            }) if e.code().as_deref() == Some("3D000") => {
                let opts = PgConnectOptions::from_str(&self.url)
                    .map_err(|e| SetupError::InvalidUrl(e.to_string()))?;
                let name = opts
                    .get_database()
                    .ok_or_else(|| SetupError::InvalidUrl("no database name".into()))?
                    .replace('"', "\"\"");
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts.database("postgres"))
                    .await?;
                let created =
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                        .execute(&admin)
                        .await;
                admin.close().await;
                match created {
                    // Created meanwhile by another process: as good.
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
                    other => {
                        other?;
                    }
                }
                self.connect().await
            }
            other => other,
        }
    }
}

fn url_parts(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (creds, host) = rest.rsplit_once('@')?;
    Some((scheme, creds, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_encoded_into_a_url() {
        let c = PgConfig::from_parts("db.example:6543", 3306, "rag", "p@ss/w:rd", "amplify");
        assert_eq!(
            c.url,
            "postgres://rag:p%40ss%2Fw%3Ard@db.example:6543/amplify?sslmode=require"
        );
        assert_eq!(
            c.redacted_url(),
            "postgres://rag@db.example:6543/amplify?sslmode=require"
        );
        // An endpoint without a port takes the configured one.
        assert!(PgConfig::from_parts("h", 3306, "u", "p", "d")
            .url
            .ends_with("@h:3306/d?sslmode=require"));
        assert!(PgConnectOptions::from_str(&c.url).is_ok());
    }

    #[test]
    fn a_sibling_database_keeps_server_credentials_and_options() {
        let c = PgConfig::from_parts("h:6543", 5432, "rag", "p/w", "amplify");
        let b = c.with_database("amplify_bench");
        assert_eq!(
            b.url,
            "postgres://rag:p%2Fw@h:6543/amplify_bench?sslmode=require"
        );
        assert_eq!(b.database().as_deref(), Some("amplify_bench"));
        assert_eq!(
            PgConfig::new("postgres://u@h/db").with_database("x").url,
            "postgres://u@h/x"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            PgConfig::new("postgres://u:secret@h:5432/db").redacted_url(),
            "postgres://u@h:5432/db"
        );
        assert_eq!(
            PgConfig::new("postgres://h/db").redacted_url(),
            "postgres://h/db"
        );
    }
}
