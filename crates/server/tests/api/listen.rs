//! The listener: a client that dribbles its headers is dropped, connections beyond the limit wait
//! their turn, and TLS serves the configured certificate and picks up a renewed one without a restart.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tessera_server::listen::{ListenConfig, TlsFiles, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn started(config: ListenConfig) -> std::net::SocketAddr {
    let app = Router::new().route("/health", get(|| async { "ok" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { serve(listener, app, config, std::future::pending()).await.unwrap() });
    addr
}

/// Reads until the server closes the connection or `wait` passes; returns what arrived and whether
/// it was closed.
async fn read_all(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&text).into_owned(), true),
            Ok(Ok(n)) => text.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&text).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let addr =
        started(ListenConfig { header_read_timeout: Duration::from_millis(500), ..ListenConfig::default() }).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (_, closed) = read_all(&mut slow, Duration::from_secs(10)).await;
    assert!(closed, "the connection was closed");
    let mut quick = TcpStream::connect(addr).await.unwrap();
    quick.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_all(&mut quick, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    let config =
        ListenConfig { max_connections: 2, header_read_timeout: Duration::from_secs(30), ..ListenConfig::default() };
    let addr = started(config).await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut held = TcpStream::connect(addr).await.unwrap();
        held.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        holders.push(held);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_all(&mut third, Duration::from_millis(500)).await;
    assert!(answer.is_empty(), "served while both slots were taken: {answer}");
    drop(holders);
    let (answer, _) = read_all(&mut third, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "served once a slot freed: {answer}");
}

/// A CA and a certificate for 127.0.0.1 it signed, written to `dir` as cert.pem and key.pem; returns
/// the CA certificate (PEM) a client trusts.
fn certificate(dir: &std::path::Path, name: &str) -> String {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    // Written whole, then renamed, as certificate tools do.
    std::fs::write(dir.join("cert.tmp"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.tmp"), key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("key.tmp"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
    ca_cert.pem()
}

async fn https_status(addr: std::net::SocketAddr, ca: &str) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let reply = client.get(format!("https://{addr}/health")).send().await.map_err(|e| format!("{e:?}"))?;
    Ok(reply.status().as_u16())
}

#[tokio::test]
async fn tls_serves_the_certificate_and_picks_up_a_renewed_one() {
    let dir = std::env::temp_dir().join(format!("tessera-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = certificate(&dir, "first");
    let files =
        TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem"), reload_every: Duration::from_millis(100) };
    let addr = started(ListenConfig { tls: Some(files), ..ListenConfig::default() }).await;
    assert_eq!(https_status(addr, &first).await, Ok(200));
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (answer, _) = read_all(&mut plain, Duration::from_secs(5)).await;
    assert!(!answer.contains("200"), "plain HTTP is not served on a TLS listener: {answer}");

    // Renewed on disk (a new CA, so the old trust fails): served from the next handshake on.
    tokio::time::sleep(Duration::from_millis(1100)).await; // file times change visibly
    let second = certificate(&dir, "second");
    let mut served = Err(String::new());
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        served = https_status(addr, &second).await;
        if served.is_ok() {
            break;
        }
    }
    assert_eq!(served, Ok(200), "the renewed certificate is served");
    assert!(https_status(addr, &first).await.is_err(), "the old one is not");
    std::fs::remove_dir_all(&dir).ok();
}
