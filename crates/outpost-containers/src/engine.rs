//! The connection to the container engine: a bollard client on a Unix socket, opened on the
//! first call (an agent that never runs a container job opens no socket), its API version
//! negotiated once, on that first call. Every call runs within a deadline: the shorter of
//! `call_timeout` and what is left of the job's own deadline. An engine that is absent,
//! gone, or slower than that is [`EngineError::Unavailable`], naming the socket.
//!
//! The operations live beside this file, one concept each (`containers`, `logs`, `stats`,
//! `exec`, `images`); they all go through [`Engine::call`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;

use crate::error::EngineError;

/// Where the engine listens when neither the config nor `DOCKER_HOST` says.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// What the engine connection is built from (the `containers.*` config keys).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Path of the engine's Unix socket (`unix://` prefix accepted).
    pub socket: String,
    /// The longest any one call may take, whatever the job's deadline.
    pub call_timeout: Duration,
    /// `privileged` containers are refused unless set.
    pub allow_privileged: bool,
}

impl EngineSettings {
    /// The socket to use: the configured one, else `DOCKER_HOST` when it is a `unix://`
    /// address (the variable every Docker tool honours), else [`DEFAULT_SOCKET`].
    pub fn socket_from(configured: Option<&str>, docker_host: Option<&str>) -> String {
        if let Some(s) = configured.filter(|s| !s.is_empty()) {
            return s.trim_start_matches("unix://").to_owned();
        }
        if let Some(p) = docker_host.and_then(|h| h.strip_prefix("unix://")) {
            if !p.is_empty() {
                return p.to_owned();
            }
        }
        DEFAULT_SOCKET.to_owned()
    }
}

struct Inner {
    settings: EngineSettings,
    /// Set by the first call that reached the engine and agreed on an API version; a
    /// failed first contact leaves it empty, so the next call tries again (an engine
    /// started after the agent is found).
    client: tokio::sync::OnceCell<Docker>,
}

/// The engine handle the executors share. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// bollard's own request timeout, in seconds: long, because our deadlines (which also
/// cover streamed bodies, where bollard's does not reach) are the ones that count.
const BOLLARD_TIMEOUT_SECS: u64 = 24 * 3600;

impl Engine {
    /// A handle; nothing is opened until the first call.
    pub fn new(settings: EngineSettings) -> Self {
        Engine {
            inner: Arc::new(Inner {
                settings,
                client: tokio::sync::OnceCell::new(),
            }),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// The socket path, as errors name it.
    pub fn socket(&self) -> &str {
        &self.inner.settings.socket
    }

    /// Whether a call has reached the engine yet (nothing is opened before).
    pub fn connected(&self) -> bool {
        self.inner.client.initialized()
    }

    /// How long a call started now may take.
    pub fn budget(&self, deadline: Instant) -> Duration {
        deadline
            .saturating_duration_since(Instant::now())
            .min(self.inner.settings.call_timeout)
    }

    pub(crate) fn unavailable(&self, why: impl Into<String>) -> EngineError {
        EngineError::Unavailable {
            socket: self.socket().to_owned(),
            why: why.into(),
        }
    }

    pub(crate) fn map(&self, e: bollard::errors::Error) -> EngineError {
        EngineError::from_bollard(self.socket(), e)
    }

    fn slow(&self, budget: Duration) -> EngineError {
        self.unavailable(format!("no answer within {} ms", budget.as_millis()))
    }

    /// The client, connecting and negotiating the API version on first use.
    async fn client(&self) -> Result<Docker, EngineError> {
        let docker = self
            .inner
            .client
            .get_or_try_init(|| async {
                let docker = Docker::connect_with_socket(
                    self.socket(),
                    BOLLARD_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
                .map_err(|e| self.map(e))?;
                let docker = docker.negotiate_version().await.map_err(|e| self.map(e))?;
                tracing::info!(
                    socket = self.socket(),
                    api = %docker.client_version(),
                    "containers: engine connected"
                );
                Ok::<_, EngineError>(docker)
            })
            .await?;
        Ok(docker.clone())
    }

    /// Runs one engine call within the call's budget (`deadline` and `call_timeout`).
    pub(crate) async fn call<T, F, Fut>(&self, deadline: Instant, f: F) -> Result<T, EngineError>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = Result<T, bollard::errors::Error>>,
    {
        let budget = self.budget(deadline);
        let work = async {
            let docker = self.client().await?;
            f(docker).await.map_err(|e| self.map(e))
        };
        match tokio::time::timeout(budget, work).await {
            Ok(r) => r,
            Err(_) => Err(self.slow(budget)),
        }
    }

    /// Like [`call`](Self::call) for work that composes several requests and maps its own
    /// errors (a stream read to its end, an exec and its inspect).
    pub(crate) async fn call_with<T, F, Fut>(
        &self,
        deadline: Instant,
        f: F,
    ) -> Result<T, EngineError>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        let budget = self.budget(deadline);
        let work = async {
            let docker = self.client().await?;
            f(docker).await
        };
        match tokio::time::timeout(budget, work).await {
            Ok(r) => r,
            Err(_) => Err(self.slow(budget)),
        }
    }

    /// The connected client for a stream that outlives one call's budget (logs follow,
    /// pull progress): connecting is bounded by `deadline`, the stream by its caller.
    pub(crate) async fn client_by(&self, deadline: Instant) -> Result<Docker, EngineError> {
        let budget = self.budget(deadline);
        match tokio::time::timeout(budget, self.client()).await {
            Ok(r) => r,
            Err(_) => Err(self.slow(budget)),
        }
    }

    /// `GET /_ping`: whether the engine answers now.
    pub async fn ping(&self, deadline: Instant) -> Result<(), EngineError> {
        self.call(deadline, |d| async move { d.ping().await.map(drop) })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_socket_comes_from_config_then_docker_host_then_default() {
        assert_eq!(
            EngineSettings::socket_from(Some("/run/a.sock"), Some("unix:///run/b.sock")),
            "/run/a.sock"
        );
        assert_eq!(
            EngineSettings::socket_from(None, Some("unix:///run/b.sock")),
            "/run/b.sock"
        );
        // A TCP DOCKER_HOST is not a socket this agent speaks (no TLS): the default stands.
        assert_eq!(
            EngineSettings::socket_from(None, Some("tcp://10.0.0.1:2376")),
            DEFAULT_SOCKET
        );
        assert_eq!(EngineSettings::socket_from(None, None), DEFAULT_SOCKET);
    }

    #[tokio::test]
    async fn issue15_absent_engine_is_engine_unavailable_naming_the_socket() {
        let engine = Engine::new(EngineSettings {
            socket: "/nonexistent/outpost-test.sock".into(),
            call_timeout: Duration::from_secs(2),
            allow_privileged: false,
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let e = engine.ping(deadline).await.err();
        let e = e.map(|e| (e.code(), e.to_string()));
        assert!(
            matches!(&e, Some(("engine_unavailable", m)) if m.contains("/nonexistent/outpost-test.sock")),
            "{e:?}"
        );
        assert!(!engine.connected());
    }
}
