//! The transport under the runner: TLS (rustls) with an extra CA file, and an HTTP proxy taken
//! from the environment. Servers are raw sockets on 127.0.0.1; certificates are fixtures in
//! `tests/data` (see its README).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autoconfig_host::runner::Exit;
use common::{fast_config, put, spawn_runner, wait_for};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// The SSE response every server here sends: one put of environment `a`.
fn response() -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n{}",
        put(&[("a", 1)])
    )
}

/// A TLS server for 127.0.0.1 with the fixture certificate; counts accepted TCP connections.
async fn tls_server() -> (u16, Arc<AtomicUsize>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{DATA}/localhost-cert.pem"))
            .expect("cert file")
            .collect::<Result<_, _>>()
            .expect("certs");
    let key = PrivateKeyDer::from_pem_file(format!("{DATA}/localhost-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("tls config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = [0_u8; 4096];
                let _ = tls.read(&mut request).await;
                let _ = tls.write_all(response().as_bytes()).await;
                let _ = tls.flush().await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn tls_with_the_extra_ca_file_connects() {
    let (port, _) = tls_server().await;
    let mut config = fast_config(&format!("https://127.0.0.1:{port}"));
    config.ca_file = Some(format!("{DATA}/tls-ca.pem").into());
    let running = spawn_runner(config);
    running.wait_ops(&["add a@1", "ready"]).await;
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn tls_without_the_ca_is_refused_and_retried() {
    let (port, accepted) = tls_server().await;
    let running = spawn_runner(fast_config(&format!("https://127.0.0.1:{port}")));
    wait_for("a retry after the certificate was refused", || {
        accepted.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(
        running.calls.ops(),
        Vec::<String>::new(),
        "nothing from an untrusted server"
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[test]
fn http_proxy_from_the_environment_is_used() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let proxy = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("the host connects to the proxy");
        let mut reader = BufReader::new(socket.try_clone().expect("clone"));
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        std::io::Write::write_all(&mut socket, response().as_bytes()).expect("respond");
        // Hold the stream open until the host goes away.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        head
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_autoconfig-host"))
        .args([
            "--key",
            "proxy-test-key",
            "--stream-uri",
            "http://autoconfig.invalid",
        ])
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("AUTO_CONFIG_KEY")
        .env_remove("STREAM_URI")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let stdout = child.stdout.take().expect("piped");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(2)
        .map(|l| l.expect("a line"))
        .collect();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert_eq!(child.wait().expect("exit").code(), Some(0));
    let head = proxy.join().expect("the proxy thread");
    assert_eq!(
        head.first().map(String::as_str),
        Some("GET http://autoconfig.invalid/relay_auto_config HTTP/1.1")
    );
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("authorization: proxy-test-key")),
        "{head:?}"
    );
    assert!(
        lines[0].starts_with(r#"{"op":"add","env":{"envId":"a""#),
        "{lines:?}"
    );
    assert_eq!(lines[1], r#"{"op":"ready"}"#);
}
