//! Serving the router on a TCP listener, with the limits a server facing a network needs: at most
//! `max_connections` connections at once (more wait in the kernel's queue rather than costing memory),
//! a deadline for a request's headers (a slow-header client is dropped), TLS when a certificate is
//! configured (reloaded when its files change, so a renewed certificate needs no restart), each
//! request told its peer's address, and a graceful shutdown that lets requests in flight finish.
//!
//! Written on hyper directly rather than `axum::serve`, which offers none of the limits.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// How a listener serves.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers (and a TLS handshake).
    pub header_read_timeout: Duration,
    /// Terminate TLS with this certificate and key (PEM files).
    pub tls: Option<TlsFiles>,
    /// How long requests in flight may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            tls: None,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// How often the files are checked for a change.
    pub reload_every: Duration,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key { path: String, reason: String },
}

/// The certificate TLS handshakes use now; swapped when the files change.
#[derive(Debug)]
struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

fn load_certified(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate { path: files.cert.display().to_string(), reason };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("it holds no PEM certificate".into()));
    }
    let key_error = |reason: String| TlsError::Key { path: files.key.display().to_string(), reason };
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_error(e.to_string()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|e| key_error(e.to_string()))?;
    Ok(CertifiedKey::new(chain, signing))
}

fn modified(files: &TlsFiles) -> Option<(SystemTime, SystemTime)> {
    let time = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Some((time(&files.cert)?, time(&files.key)?))
}

/// Checks that the certificate and key can be used, without serving anything.
pub fn check_tls(files: &TlsFiles) -> Result<(), TlsError> {
    load_certified(files).map(|_| ())
}

/// A TLS acceptor whose certificate is read again whenever its files change. Fails at once when the
/// files cannot be used, so a misconfigured start stops with the reason.
pub fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let certificates = Arc::new(Certificates { current: RwLock::new(Arc::new(load_certified(files)?)) });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Certificate { path: files.cert.display().to_string(), reason: e.to_string() })?
        .with_no_client_auth()
        .with_cert_resolver(certificates.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let watched = files.clone();
    tokio::spawn(async move {
        let mut seen = modified(&watched);
        loop {
            tokio::time::sleep(watched.reload_every).await;
            let now = modified(&watched);
            if now.is_none() || now == seen {
                continue;
            }
            match load_certified(&watched) {
                Ok(loaded) => {
                    *certificates.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
                    seen = now;
                    tracing::info!(cert = %watched.cert.display(), "reloaded the TLS certificate");
                }
                // A half-written renewal: keep serving the old certificate and try again.
                Err(error) => tracing::warn!(%error, "the TLS certificate changed but cannot be used yet"),
            }
        }
    });
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish (for at
/// most the configured grace).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ListenConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = match &config.tls {
        Some(files) => Some(tls_acceptor(files).map_err(std::io::Error::other)?),
        None => None,
    };
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().call(request)
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let deadline = config.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let outcome = match acceptor {
                Some(acceptor) => match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let connection = http.serve_connection(TokioIo::new(tls), service);
                        watcher.watch(connection).await
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%remote, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                },
                None => {
                    let connection = http.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
            };
            if let Err(error) = outcome {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after the shutdown grace were cut off");
    }
    Ok(())
}

/// The peer address type the router's [`ConnectInfo`] holds.
pub type Peer = ConnectInfo<SocketAddr>;
