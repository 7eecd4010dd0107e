//! One way every local endpoint of the stack runs: an axum [`Router`] served on a free port of
//! 127.0.0.1 by a task that stops when the [`LocalServer`] is dropped.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::{Context as _, Result};
use axum::Router;

/// A router served on 127.0.0.1; stops when dropped.
pub struct LocalServer {
    addr: SocketAddr,
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    /// Binds a free port of 127.0.0.1 and serves `app` there; `what` names the server in errors.
    pub async fn start(app: Router, what: &'static str) -> Result<LocalServer> {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.with_context(|| format!("cannot bind {what}"))?;
        let addr = listener.local_addr().with_context(|| format!("{what}: reading the bound address"))?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("{what} stopped: {e}");
            }
        });
        Ok(LocalServer { addr, endpoint: format!("http://{addr}"), task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A local server's state, locked: a lock poisoned by a panicking handler is still read, so one
/// failed request does not take the endpoint down for the rest of a test.
pub fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
