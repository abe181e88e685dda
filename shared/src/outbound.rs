//! Outbound HTTP(S) connections: hyper 1's pooled HTTP/1.1 client (keep-alive) over rustls
//! ([`crate::tls`]), through the proxy the environment names.
//!
//! Proxies are read once per connector from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (and their
//! lower-case forms) and `NO_PROXY`, as curl reads them (hyper-util's matcher):
//! - an `https` destination is reached through a `CONNECT` tunnel, then TLS to the destination
//!   itself, so the proxy never sees the traffic;
//! - an `http` destination is sent to the proxy in absolute form;
//! - credentials in the proxy's URL (`http://user:pass@proxy:3128`) go as `Proxy-Authorization`.
//!
//! The proxy itself is spoken to in plain HTTP: an `https://` or `socks5://` proxy URL is refused
//! at connect, with an error that says so. The connect timeout covers everything up to a ready connection (TCP,
//! the tunnel, the TLS handshake).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// How long an idle pooled connection is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The proxies of the environment, read once. Cheap to clone.
#[derive(Clone)]
pub struct Proxies(Arc<Matcher>);

impl Proxies {
    /// From `HTTP(S)_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper or lower case).
    pub fn from_env() -> Self {
        Self(Arc::new(Matcher::from_env()))
    }

    /// No proxy at all.
    pub fn none() -> Self {
        Self(Arc::new(Matcher::builder().build()))
    }

    /// For `request`, sent through [`connector`]: the proxy's credentials, when its URL has them
    /// and the request goes to the proxy itself (plain `http`; a tunnel sends them in its
    /// `CONNECT`).
    pub fn authorize<B>(&self, request: &mut http::Request<B>) {
        if request.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
            return;
        }
        if let Some(auth) = self
            .0
            .intercept(request.uri())
            .and_then(|i| i.basic_auth().cloned())
        {
            request
                .headers_mut()
                .insert(http::header::PROXY_AUTHORIZATION, auth);
        }
    }
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The matcher may hold the proxy's credentials.
        f.write_str("Proxies")
    }
}

/// What the client connects with: TLS (or not, for `http`) over [`Dialer`], within the connect
/// timeout.
pub type Connector = Timed<HttpsConnector<Dialer>>;

/// A connector for `http` and `https` URLs with `tls`, through `proxies`.
pub fn connector(
    tls: rustls::ClientConfig,
    proxies: &Proxies,
    connect_timeout: Option<Duration>,
) -> Connector {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let dialer = Dialer {
        tcp,
        proxies: proxies.clone(),
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(dialer);
    Timed {
        inner: https,
        limit: connect_timeout,
    }
}

/// A pooled client over `connector` (idle connections kept [`POOL_IDLE_TIMEOUT`]).
pub fn client<B>(connector: Connector) -> Client<Connector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

/// Why a connection could not be made: the connect timeout passed.
#[derive(Debug, thiserror::Error)]
#[error("no connection within the connect timeout ({0:?})")]
pub struct ConnectTimedOut(pub Duration);

/// A proxy URL that is not `http://` (`https://`, `socks5://`...): only plain-HTTP proxies are
/// spoken to.
#[derive(Debug, thiserror::Error)]
#[error("the proxy {0} is not an http:// proxy, the only kind supported")]
pub struct UnsupportedProxy(String);

/// `error`, or the first error it was caused by, that is a `T`.
pub fn cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        next = e.source();
    }
    None
}

/// TCP to the destination, or to the proxy that [`Proxies`] picks for it: a `CONNECT` tunnel
/// for `https`, the proxy itself for `http` (the connection then says it is proxied, so hyper
/// sends the request in absolute form).
#[derive(Clone)]
pub struct Dialer {
    tcp: HttpConnector,
    proxies: Proxies,
}

impl Service<Uri> for Dialer {
    type Response = Conn;
    type Error = BoxError;
    type Future = Connecting<Conn>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let proxy = self.proxies.0.intercept(&dst);
        Box::pin(async move {
            let Some(proxy) = proxy else {
                return Ok(Conn::direct(tcp.call(dst).await?));
            };
            if proxy.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
                let shown = format!(
                    "{}://{}",
                    proxy.uri().scheme_str().unwrap_or(""),
                    proxy.uri().authority().map_or("", |a| a.host())
                );
                return Err(UnsupportedProxy(shown).into());
            }
            if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Ok(Conn::direct(tunnel.call(dst).await?))
            } else {
                Ok(Conn {
                    io: tcp.call(proxy.uri().clone()).await?,
                    proxied: true,
                })
            }
        })
    }
}

/// A TCP connection, to the destination (or a tunnel to it) or to an HTTP proxy.
pub struct Conn {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl Conn {
    fn direct(io: TokioIo<TcpStream>) -> Self {
        Self { io, proxied: false }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// A connector whose connections must be ready within `limit` ([`ConnectTimedOut`]).
#[derive(Clone)]
pub struct Timed<S> {
    inner: S,
    limit: Option<Duration>,
}

impl<S> Service<Uri> for Timed<S>
where
    S: Service<Uri>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Connecting<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let limit = self.limit;
        Box::pin(async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .map_err(|_| ConnectTimedOut(limit))?
                    .map_err(Into::into),
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}
