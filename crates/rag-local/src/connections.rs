//! WebSocket connections and their subscriptions in process memory.
//!
//! Not persisted on purpose: the connections themselves die with the
//! process, so after a restart every client reconnects and resubscribes.
//! Semantics mirror the DynamoDB store: a connection holds any number of
//! subscriptions, each subscription carries the connection's user and TTL,
//! expired entries are invisible to reads, and removing a connection drops
//! its subscriptions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rag_core::ports::{Connection, ConnectionStore, ConnectionStoreError, Subscriber};

/// Epoch seconds, injectable so TTLs can be tested deterministically.
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug, Clone)]
struct Subscription {
    user: String,
    ttl: i64,
}

#[derive(Debug, Default)]
struct State {
    connections: HashMap<String, Connection>,
    /// connectionId → statusId → subscription.
    subscriptions: HashMap<String, BTreeMap<String, Subscription>>,
    /// statusId → connectionIds (the `StatusIdIndex` GSI).
    by_status: HashMap<String, BTreeSet<String>>,
}

impl State {
    fn drop_subscription(&mut self, connection_id: &str, status_id: &str) {
        if let Some(subs) = self.subscriptions.get_mut(connection_id) {
            subs.remove(status_id);
            if subs.is_empty() {
                self.subscriptions.remove(connection_id);
            }
        }
        self.unindex(connection_id, status_id);
    }

    fn drop_subscriptions(&mut self, connection_id: &str) {
        for (status_id, _) in self.subscriptions.remove(connection_id).unwrap_or_default() {
            self.unindex(connection_id, &status_id);
        }
    }

    /// Removes one entry of the index by statusId.
    fn unindex(&mut self, connection_id: &str, status_id: &str) {
        if let Some(conns) = self.by_status.get_mut(status_id) {
            conns.remove(connection_id);
            if conns.is_empty() {
                self.by_status.remove(status_id);
            }
        }
    }

    /// Forgets everything expired (what DynamoDB's TTL sweeper does), so a
    /// long-running gateway does not accumulate dead connections.
    fn sweep(&mut self, now: i64) {
        let dead: Vec<String> = self
            .connections
            .values()
            .filter(|c| c.ttl < now)
            .map(|c| c.connection_id.clone())
            .collect();
        for id in dead {
            self.connections.remove(&id);
        }
        let stale: Vec<(String, String)> = self
            .subscriptions
            .iter()
            .flat_map(|(conn, subs)| {
                subs.iter()
                    .filter(|(_, s)| s.ttl < now)
                    .map(|(status, _)| (conn.clone(), status.clone()))
            })
            .collect();
        for (conn, status) in stale {
            self.drop_subscription(&conn, &status);
        }
    }
}

/// A [`ConnectionStore`] in process memory (the local gateway's).
pub struct MemoryConnectionStore {
    state: Mutex<State>,
    clock: Clock,
}

impl std::fmt::Debug for MemoryConnectionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryConnectionStore")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryConnectionStore {
    /// An empty store on the system clock.
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
        }
    }
}

impl MemoryConnectionStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the clock (epoch seconds) that TTLs are checked against.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, ConnectionStoreError> {
        self.state
            .lock()
            .map_err(|_| ConnectionStoreError("connection store poisoned".into()))
    }
}

#[async_trait]
impl ConnectionStore for MemoryConnectionStore {
    async fn put(&self, connection: &Connection) -> Result<(), ConnectionStoreError> {
        let now = (self.clock)();
        let mut state = self.lock()?;
        state.sweep(now);
        state
            .connections
            .insert(connection.connection_id.clone(), connection.clone());
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, ConnectionStoreError> {
        let now = (self.clock)();
        Ok(self
            .lock()?
            .connections
            .get(connection_id)
            .filter(|c| c.ttl >= now)
            .cloned())
    }

    async fn remove(&self, connection_id: &str) -> Result<(), ConnectionStoreError> {
        let mut state = self.lock()?;
        state.connections.remove(connection_id);
        state.drop_subscriptions(connection_id);
        tracing::debug!(connection_id, "connection removed");
        Ok(())
    }

    async fn subscribe(
        &self,
        connection: &Connection,
        status_id: &str,
    ) -> Result<(), ConnectionStoreError> {
        let mut state = self.lock()?;
        state
            .subscriptions
            .entry(connection.connection_id.clone())
            .or_default()
            .insert(
                status_id.to_owned(),
                Subscription {
                    user: connection.user.clone(),
                    ttl: connection.ttl,
                },
            );
        state
            .by_status
            .entry(status_id.to_owned())
            .or_default()
            .insert(connection.connection_id.clone());
        Ok(())
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        status_id: Option<&str>,
    ) -> Result<(), ConnectionStoreError> {
        let mut state = self.lock()?;
        match status_id {
            Some(status_id) => state.drop_subscription(connection_id, status_id),
            None => state.drop_subscriptions(connection_id),
        }
        Ok(())
    }

    async fn subscription_count(&self, connection_id: &str) -> Result<usize, ConnectionStoreError> {
        let now = (self.clock)();
        let state = self.lock()?;
        Ok(state
            .subscriptions
            .get(connection_id)
            .map_or(0, |subs| subs.values().filter(|s| s.ttl >= now).count()))
    }

    async fn subscribers(&self, status_id: &str) -> Result<Vec<Subscriber>, ConnectionStoreError> {
        let now = (self.clock)();
        let state = self.lock()?;
        let Some(connections) = state.by_status.get(status_id) else {
            return Ok(Vec::new());
        };
        Ok(connections
            .iter()
            .filter_map(|conn| {
                let sub = state.subscriptions.get(conn)?.get(status_id)?;
                (sub.ttl >= now).then(|| Subscriber {
                    connection_id: conn.clone(),
                    user: sub.user.clone(),
                })
            })
            .collect())
    }
}
