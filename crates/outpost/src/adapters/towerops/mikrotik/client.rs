//! A RouterOS API session: connect (plain or TLS), `/login`, commands, `/quit`.
//!
//! Every read and write is bounded twice: by the published per-step timeouts (30 s to
//! dial, 30 s per sentence read) and by the job's deadline, whichever comes first.
//! Login is the post-6.43 one (`/login =name= =password=` in one sentence). A router that
//! answers with the pre-6.43 MD5 challenge (`!done =ret=<hex>`) is refused with an error
//! saying so: the original agent does not speak it either, and RouterOS older than 6.43
//! (2018) is out of support.

use std::time::{Duration, Instant};

use outpost_proto::routeros::{
    command_sentence, encode_sentence, parse_reply, Decoder, Limits, Reply, ReplyKind,
    RouterOsError,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The original's dial timeout.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The original's read timeout, per sentence.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// One command's reply may carry at most this many bytes of words (the original's).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// ... and at most this many sentences (the original's).
pub const MAX_SENTENCES: usize = 10_000;
/// How long `/quit` may take on the way out (best effort).
const QUIT_TIMEOUT: Duration = Duration::from_secs(1);
const READ_CHUNK: usize = 64 << 10;

/// Why a session failed. Messages never carry the password.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the router closed the connection")]
    Closed,
    #[error("bad reply from the router: {0}")]
    Protocol(#[from] RouterOsError),
    #[error("the reply is over the limit of {0}")]
    TooLarge(String),
    /// `!fatal`: the router ends the session.
    #[error("fatal: {0}")]
    Fatal(String),
    /// `!trap`: the command failed; its message.
    #[error("{0}")]
    Trap(String),
    #[error("login failed: {0}")]
    Login(String),
    #[error("the router asked for the pre-6.43 MD5 challenge login, which is not supported (RouterOS 6.43 or later is needed)")]
    ChallengeLogin,
    #[error("{0}")]
    HostKey(String),
    #[error("tls: {0}")]
    Tls(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection to a router.
pub struct Session {
    io: Box<dyn Io>,
    dec: Decoder,
    deadline: Instant,
    chunk: Vec<u8>,
}

/// What one command answered: its rows (`!re`, and `!done` when it carries attributes).
pub type Rows = Vec<Reply>;

/// Runs `f` until the earlier of `step` from now and `deadline`.
async fn bounded<T>(
    deadline: Instant,
    step: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, ClientError> {
    let until = deadline.min(Instant::now() + step);
    match tokio::time::timeout_at(tokio::time::Instant::from_std(until), f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ClientError::Timeout(what)),
    }
}

impl Session {
    /// Connects to `ip:port` (TCP; TLS when `tls` is given, its certificate pinned on
    /// first use) by `deadline`.
    pub async fn connect(
        ip: &str,
        port: u16,
        tls: Option<&super::tls::Pinning>,
        deadline: Instant,
    ) -> Result<Session, ClientError> {
        // An IP address as the server sends it; a host name is resolved (within the same
        // bound), as the original's dial does.
        let tcp = bounded(
            deadline,
            DIAL_TIMEOUT,
            "connecting",
            tokio::net::TcpStream::connect((ip, port)),
        )
        .await?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(p) => Box::new(p.handshake(tcp, ip, port, deadline).await?),
        };
        Ok(Session {
            io,
            dec: Decoder::new(Limits::default()),
            deadline,
            chunk: vec![0; READ_CHUNK],
        })
    }

    async fn send(&mut self, words: &[String]) -> Result<(), ClientError> {
        let mut bytes = Vec::new();
        encode_sentence(words, &mut bytes);
        let deadline = self.deadline;
        let io = &mut self.io;
        bounded(deadline, READ_TIMEOUT, "sending", async {
            io.write_all(&bytes).await?;
            io.flush().await
        })
        .await
    }

    async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some(words) = self.dec.next_sentence()? {
                return Ok(parse_reply(&words)?);
            }
            let deadline = self.deadline;
            let (io, chunk) = (&mut self.io, &mut self.chunk);
            let n = bounded(
                deadline,
                READ_TIMEOUT,
                "waiting for the router's reply",
                async { io.read(chunk).await },
            )
            .await?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.dec.feed(&self.chunk[..n]);
        }
    }

    /// Sends one sentence and reads its reply to `!done`: the rows, or the `!trap`'s
    /// message (after its `!done`), or the `!fatal`.
    async fn call(&mut self, words: &[String]) -> Result<Rows, ClientError> {
        self.send(words).await?;
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        let mut trap: Option<String> = None;
        loop {
            let r = self.read_reply().await?;
            bytes += r
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>();
            if bytes > MAX_RESPONSE_BYTES {
                return Err(ClientError::TooLarge(format!("{MAX_RESPONSE_BYTES} bytes")));
            }
            match r.kind {
                ReplyKind::Re => {
                    if rows.len() >= MAX_SENTENCES {
                        return Err(ClientError::TooLarge(format!("{MAX_SENTENCES} sentences")));
                    }
                    rows.push(r);
                }
                ReplyKind::Empty => {}
                ReplyKind::Trap => {
                    // Keep reading to `!done`; the first trap's message is the error.
                    if trap.is_none() {
                        let msg = r.attribute("message").unwrap_or("").to_owned();
                        trap = Some(if msg.is_empty() {
                            r.attribute_map()
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        } else {
                            msg
                        });
                    }
                }
                ReplyKind::Fatal => {
                    return Err(ClientError::Fatal(r.other.join(" ")));
                }
                ReplyKind::Done => {
                    if let Some(t) = trap {
                        return Err(ClientError::Trap(t));
                    }
                    if !r.attributes.is_empty() {
                        rows.push(r);
                    }
                    return Ok(rows);
                }
            }
        }
    }

    /// `/login` with name and password (post-6.43).
    pub async fn login(&mut self, user: &str, password: &SecretString) -> Result<(), ClientError> {
        let words = vec![
            "/login".to_owned(),
            format!("=name={user}"),
            format!("=password={}", password.expose_secret()),
        ];
        match self.call(&words).await {
            Ok(rows) => {
                if rows
                    .iter()
                    .any(|r| r.kind == ReplyKind::Done && r.attribute("ret").is_some())
                {
                    return Err(ClientError::ChallengeLogin);
                }
                Ok(())
            }
            Err(ClientError::Trap(m)) => Err(ClientError::Login(m)),
            Err(e) => Err(e),
        }
    }

    /// Runs one command: `command` then `words` (or the `args` map) as one sentence.
    pub async fn run(
        &mut self,
        command: &str,
        words: &[String],
        args: &std::collections::BTreeMap<String, String>,
    ) -> Result<Rows, ClientError> {
        self.call(&command_sentence(command, words, args)).await
    }

    /// `/quit`, best effort and briefly; the router answers `!fatal` and closes.
    pub async fn quit(mut self) {
        let mut bytes = Vec::new();
        encode_sentence(&["/quit"], &mut bytes);
        let io = &mut self.io;
        let _ = tokio::time::timeout(QUIT_TIMEOUT, async {
            io.write_all(&bytes).await?;
            io.shutdown().await
        })
        .await;
    }
}
