//! A RouterOS API peer of the tests' own, for the Towerops MIKROTIK suite. No RouterOS
//! image is available here (MikroTik ships CHR images only under its own licence, and no
//! emulator runs in this sandbox), so this server is written from the public protocol
//! description: words with a 1–5 byte length prefix, sentences ended by an empty word,
//! `/login =name= =password=` (post-6.43), replies `!re`/`!done`/`!trap`/`!fatal`. Its
//! word codec is written here independently of `outpost_proto::routeros`, so a bug in
//! the agent's codec cannot be mirrored by the peer.
//!
//! Plain TCP or TLS (a self-signed certificate made by rcgen, which
//! [`RouterOs::rotate_certificate`] replaces to play a changed device or a man in the
//! middle), on an ephemeral loopback port. It records every sentence it received, so a
//! test can check word order, and answers after login according to its [`Mode`].

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{rustls, TlsAcceptor};

/// How the peer answers commands after a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/system/resource/print` and `/interface/print` answer rows; `/quit` ends the
    /// session; any other command is a `!trap` ("no such command prefix").
    Normal,
    /// Every command is answered `!fatal`, then the connection closes.
    Fatal,
    /// A reply whose first word announces 2 GiB.
    OversizedPrefix,
    /// A word announced as 100 bytes, 10 of them sent, then the connection closes.
    TruncatedWord,
    /// Bytes that are no RouterOS API at all (reserved control bytes first).
    Garbage,
    /// `!re` rows forever, never `!done`.
    NeverEnding,
    /// Reads the command and never answers.
    Silent,
    /// `/login` answered with the pre-6.43 MD5 challenge (`!done =ret=<hex>`).
    ChallengeLogin,
}

struct State {
    user: String,
    password: String,
    mode: Mode,
    received: Vec<Vec<String>>,
    connections: usize,
}

pub struct RouterOs {
    pub port: u16,
    state: Arc<Mutex<State>>,
    tls: Option<Arc<Mutex<(TlsAcceptor, CertificateDer<'static>)>>>,
    task: JoinHandle<()>,
}

fn self_signed() -> (TlsAcceptor, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "router".to_owned()])
        .unwrap();
    let der = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(rustls::ALL_VERSIONS)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone()], key)
    .unwrap();
    (TlsAcceptor::from(Arc::new(config)), der)
}

impl RouterOs {
    /// Plain API (as on port 8728) accepting `user`/`password`.
    pub async fn start(user: &str, password: &str) -> RouterOs {
        Self::start_with(user, password, None).await
    }

    /// API over TLS (as `api-ssl` on 8729) with a fresh self-signed certificate.
    pub async fn start_tls(user: &str, password: &str) -> RouterOs {
        Self::start_with(user, password, Some(Arc::new(Mutex::new(self_signed())))).await
    }

    async fn start_with(
        user: &str,
        password: &str,
        tls: Option<Arc<Mutex<(TlsAcceptor, CertificateDer<'static>)>>>,
    ) -> RouterOs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            user: user.to_owned(),
            password: password.to_owned(),
            mode: Mode::Normal,
            received: Vec::new(),
            connections: 0,
        }));
        let (st, acceptor) = (state.clone(), tls.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                st.lock().unwrap().connections += 1;
                let st = st.clone();
                let acceptor = acceptor.as_ref().map(|a| a.lock().unwrap().0.clone());
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(tcp, st).await,
                        Some(a) => {
                            if let Ok(s) = a.accept(tcp).await {
                                serve(s, st).await;
                            }
                        }
                    }
                });
            }
        });
        RouterOs {
            port,
            state,
            tls,
            task,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Every sentence received, in order, across connections.
    pub fn received(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().received.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// The certificate presented now (DER), for TLS peers.
    pub fn certificate_der(&self) -> Option<Vec<u8>> {
        self.tls
            .as_ref()
            .map(|t| t.lock().unwrap().1.as_ref().to_vec())
    }

    /// A new self-signed certificate for every later connection, on the same port.
    pub fn rotate_certificate(&self) {
        if let Some(t) = &self.tls {
            *t.lock().unwrap() = self_signed();
        }
    }
}

impl Drop for RouterOs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The length prefix, as the protocol description gives it.
fn put_len(n: usize, out: &mut Vec<u8>) {
    let n = n as u32;
    match n {
        0..=0x7F => out.push(n as u8),
        0x80..=0x3FFF => out.extend_from_slice(&((n | 0x8000) as u16).to_be_bytes()),
        0x4000..=0x1F_FFFF => out.extend_from_slice(&(n | 0xC0_0000).to_be_bytes()[1..]),
        0x20_0000..=0x0FFF_FFFF => out.extend_from_slice(&(n | 0xE000_0000).to_be_bytes()),
        _ => {
            out.push(0xF0);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn sentence(words: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for w in words {
        put_len(w.len(), &mut out);
        out.extend_from_slice(w.as_bytes());
    }
    out.push(0);
    out
}

async fn read_len<S: AsyncRead + Unpin>(s: &mut S) -> Option<usize> {
    let b0 = s.read_u8().await.ok()?;
    let (extra, first) = match b0 {
        0x00..=0x7F => return Some(usize::from(b0)),
        0x80..=0xBF => (1, u32::from(b0 & 0x3F)),
        0xC0..=0xDF => (2, u32::from(b0 & 0x1F)),
        0xE0..=0xEF => (3, u32::from(b0 & 0x0F)),
        0xF0 => (4, 0),
        _ => return None,
    };
    let mut n = first;
    for _ in 0..extra {
        n = (n << 8) | u32::from(s.read_u8().await.ok()?);
    }
    Some(n as usize)
}

/// One sentence from the agent, `None` when the connection ends or misbehaves.
async fn read_sentence<S: AsyncRead + Unpin>(s: &mut S) -> Option<Vec<String>> {
    let mut words = Vec::new();
    loop {
        let n = read_len(s).await?;
        if n == 0 {
            return Some(words);
        }
        if n > 1 << 20 {
            return None;
        }
        let mut w = vec![0; n];
        s.read_exact(&mut w).await.ok()?;
        words.push(String::from_utf8_lossy(&w).into_owned());
    }
}

fn attr<'a>(words: &'a [String], key: &str) -> Option<&'a str> {
    let prefix = format!("={key}=");
    words.iter().find_map(|w| w.strip_prefix(prefix.as_str()))
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, st: Arc<Mutex<State>>) {
    let mut logged_in = false;
    while let Some(words) = read_sentence(&mut s).await {
        let (mode, user, password) = {
            let mut g = st.lock().unwrap();
            g.received.push(words.clone());
            (g.mode, g.user.clone(), g.password.clone())
        };
        let command = words.first().map(String::as_str).unwrap_or("");
        let tag: Vec<String> = words
            .iter()
            .filter(|w| w.starts_with(".tag="))
            .cloned()
            .collect();
        let with_tag = |mut w: Vec<String>| {
            w.extend(tag.iter().cloned());
            w
        };
        let send = |w: Vec<String>| {
            let refs: Vec<&str> = w.iter().map(String::as_str).collect();
            sentence(&refs)
        };
        if command == "/login" {
            let out = if mode == Mode::ChallengeLogin {
                send(with_tag(vec![
                    "!done".into(),
                    "=ret=0123456789abcdef0123456789abcdef".into(),
                ]))
            } else if attr(&words, "name") == Some(user.as_str())
                && attr(&words, "password") == Some(password.as_str())
            {
                logged_in = true;
                send(with_tag(vec!["!done".into()]))
            } else {
                let mut o = send(with_tag(vec![
                    "!trap".into(),
                    "=message=invalid user name or password (6)".into(),
                ]));
                o.extend(send(with_tag(vec!["!done".into()])));
                o
            };
            if s.write_all(&out).await.is_err() {
                return;
            }
            continue;
        }
        if command == "/quit" {
            let _ = s
                .write_all(&sentence(&["!fatal", "session terminated on request"]))
                .await;
            return;
        }
        if !logged_in {
            let _ = s.write_all(&sentence(&["!fatal", "not logged in"])).await;
            return;
        }
        match mode {
            Mode::Normal | Mode::ChallengeLogin => {
                let out = answer(command, &words, &send, &with_tag);
                if s.write_all(&out).await.is_err() {
                    return;
                }
            }
            Mode::Fatal => {
                let _ = s.write_all(&sentence(&["!fatal", "out of memory"])).await;
                return;
            }
            Mode::OversizedPrefix => {
                let _ = s
                    .write_all(&[0xF0, 0x7F, 0xFF, 0xFF, 0xFF, b'!', b'r', b'e'])
                    .await;
                hold(&mut s).await;
                return;
            }
            Mode::TruncatedWord => {
                let mut out = Vec::new();
                put_len(100, &mut out);
                out.extend_from_slice(b"=name=eth");
                let _ = s.write_all(&out).await;
                let _ = s.shutdown().await;
                return;
            }
            Mode::Garbage => {
                let _ = s
                    .write_all(b"\xff\xfe\xfdHTTP/1.1 400 Bad Request\r\n\r\n")
                    .await;
                hold(&mut s).await;
                return;
            }
            Mode::NeverEnding => {
                let row = sentence(&["!re", "=name=again", "=comment=never done"]);
                let mut batch = Vec::new();
                for _ in 0..256 {
                    batch.extend_from_slice(&row);
                }
                while s.write_all(&batch).await.is_ok() {}
                return;
            }
            Mode::Silent => {
                hold(&mut s).await;
                return;
            }
        }
    }
}

/// Keeps the connection open, reading and discarding, until the agent closes it.
async fn hold<S: AsyncRead + Unpin>(s: &mut S) {
    let mut sink = [0u8; 4096];
    while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
}

fn answer(
    command: &str,
    words: &[String],
    send: &dyn Fn(Vec<String>) -> Vec<u8>,
    with_tag: &dyn Fn(Vec<String>) -> Vec<String>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let row = |pairs: &[(&str, &str)]| {
        let mut w = vec!["!re".to_owned()];
        w.extend(pairs.iter().map(|(k, v)| format!("={k}={v}")));
        with_tag(w)
    };
    match command {
        "/system/resource/print" => {
            out.extend(send(row(&[
                ("uptime", "1w2d3h"),
                ("version", "7.16.2 (stable)"),
                ("cpu-load", "3"),
                ("board-name", "CHR"),
            ])));
            out.extend(send(with_tag(vec!["!done".into()])));
        }
        "/interface/print" => {
            // A `?type=` query filters, as the router's would.
            let want = words.iter().find_map(|w| w.strip_prefix("?type="));
            for (id, name, kind) in [("*1", "ether1", "ether"), ("*2", "wlan1", "wlan")] {
                if want.is_none_or(|t| t == kind) {
                    out.extend(send(row(&[(".id", id), ("name", name), ("type", kind)])));
                }
            }
            out.extend(send(with_tag(vec!["!done".into()])));
        }
        "/system/identity/set" => {
            out.extend(send(with_tag(vec!["!done".into(), "=ret=ok".into()])));
        }
        _ => {
            out.extend(send(with_tag(vec![
                "!trap".into(),
                "=category=0".into(),
                "=message=no such command prefix".into(),
            ])));
            out.extend(send(with_tag(vec!["!done".into()])));
        }
    }
    out
}
