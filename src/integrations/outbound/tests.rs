//! The guard against real sockets: a tiny HTTP server on 127.0.0.1 answering a canned response,
//! reached (or not) through the real reqwest client.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);

fn net(text: &str) -> IpNet {
    text.parse().expect("test network")
}

fn open() -> Outbound {
    Outbound::new(vec![net("127.0.0.1/32")], TIMEOUT).expect("client")
}

fn closed() -> Outbound {
    Outbound::new(Vec::new(), TIMEOUT).expect("client")
}

fn url(text: &str) -> Url {
    Url::parse(text).expect("test url")
}

fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

/// A server on 127.0.0.1 that answers every request with `response`, counting connections
/// and keeping each request (head and body) as text.
struct Canned {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    async fn start(response: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (Arc::clone(&connections), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (response, seen) = (response.clone(), Arc::clone(&seen));
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    seen.lock().expect("lock").push(request);
                    // The client may hang up early (capped body): write errors are expected.
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    fn url(&self, host: &str, path: &str) -> Url {
        url(&format!("http://{host}:{}{path}", self.addr.port()))
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The request head and its `Content-Length` body, as (lossy) text.
async fn read_request(socket: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return String::from_utf8_lossy(&data).into_owned();
            }
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

fn answer(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn ok_json() -> Vec<u8> {
    answer(
        "200 OK",
        "Content-Type: application/json\r\n",
        br#"{"ok":true}"#,
    )
}

/// A listener nobody serves: after a refused call it must have no connection waiting (on
/// loopback the kernel completes the handshake before `connect` returns, so any connection
/// attempt would already be queued).
async fn assert_never_connected(listener: &TcpListener) {
    let waiting = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
    assert!(waiting.is_err(), "the guard let a connection through");
}

fn assert_forbidden(result: Result<OutboundResponse, OutboundError>, host: &str, address: IpAddr) {
    match result {
        Err(OutboundError::ForbiddenAddress {
            host: got_host,
            address: got_address,
        }) => {
            assert_eq!(got_host, host);
            assert_eq!(got_address, address);
        }
        other => panic!("expected ForbiddenAddress for {host}, got {other:?}"),
    }
}

#[tokio::test]
async fn loopback_is_refused_without_allowed_networks_and_never_connected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = url(&format!("http://127.0.0.1:{port}/hook"));
    let result = closed().post_json(&target, &[], b"{}".to_vec()).await;
    let err = result.as_ref().expect_err("refused");
    assert_eq!(err.code(), "forbidden_url");
    assert_forbidden(result, "127.0.0.1", loopback());
    assert_never_connected(&listener).await;
}

#[tokio::test]
async fn allowed_network_reaches_the_server_with_headers_and_body() {
    let server = Canned::start(ok_json()).await;
    let headers = [("X-Confab-Signature", "sha256=abc".to_owned())];
    let body = br#"{"event":"message"}"#.to_vec();
    let response = open()
        .post_json(&server.url("127.0.0.1", "/hook"), &headers, body)
        .await
        .expect("delivered");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"ok":true}"#);
    assert!(!response.truncated);
    assert_eq!(response.content_type.as_deref(), Some("application/json"));

    let requests = server.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let lower = request.to_ascii_lowercase();
    assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
    assert!(
        lower.contains(&format!("user-agent: confab/{}", env!("CARGO_PKG_VERSION"))),
        "{request}"
    );
    assert!(
        lower.contains("content-type: application/json"),
        "{request}"
    );
    assert!(
        lower.contains("x-confab-signature: sha256=abc"),
        "{request}"
    );
    assert!(request.ends_with(r#"{"event":"message"}"#), "{request}");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = url(&format!("http://localhost:{port}/"));
    let result = closed().post_json(&target, &[], Vec::new()).await;
    match result {
        Err(OutboundError::ForbiddenAddress { host, address }) => {
            assert_eq!(host, "localhost");
            assert!(address.is_loopback(), "{address}");
        }
        other => panic!("expected ForbiddenAddress, got {other:?}"),
    }
    assert_never_connected(&listener).await;
}

#[tokio::test]
async fn a_name_resolving_into_an_allowed_network_is_reached() {
    let server = Canned::start(ok_json()).await;
    // If localhost also resolves to ::1 here, the resolver leaves that address out.
    let response = open()
        .post_json(&server.url("localhost", "/"), &[], Vec::new())
        .await
        .expect("delivered");
    assert_eq!(response.status, 200);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn redirects_are_answers_not_followed() {
    let server = Canned::start(answer("302 Found", "Location: http://10.0.0.1/\r\n", b"")).await;
    let response = open()
        .post_json(&server.url("127.0.0.1", "/"), &[], Vec::new())
        .await
        .expect("answered");
    assert_eq!(response.status, 302);
    assert!(response.body.is_empty());
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn internal_literals_are_refused_before_any_connect() {
    let outbound = open();
    // Unroutable or absent here: a connect attempt would hang or fail differently, so a quick
    // ForbiddenAddress proves the guard answered first.
    let cases = [
        ("http://[::1]:9/", "[::1]", "::1"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
            "169.254.169.254",
        ),
        ("http://10.0.0.1/", "10.0.0.1", "10.0.0.1"),
        (
            "http://[::ffff:169.254.169.254]/",
            "[::ffff:a9fe:a9fe]",
            "::ffff:a9fe:a9fe",
        ),
        ("http://[fd00::1]/", "[fd00::1]", "fd00::1"),
        ("http://0.0.0.0:9/", "0.0.0.0", "0.0.0.0"),
    ];
    for (target, host, address) in cases {
        let started = Instant::now();
        let result = outbound.post_json(&url(target), &[], Vec::new()).await;
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{target} took too long"
        );
        assert_forbidden(result, host, address.parse().expect("ip"));
    }
}

#[tokio::test]
async fn bodies_are_capped_at_64_kib() {
    let big = vec![b'a'; 200 * 1024];
    let server = Canned::start(answer("200 OK", "", &big)).await;
    let response = open()
        .post_json(&server.url("127.0.0.1", "/"), &[], Vec::new())
        .await
        .expect("answered");
    assert_eq!(response.body.len(), MAX_RESPONSE_BODY);
    assert!(response.truncated);

    let exact = vec![b'b'; MAX_RESPONSE_BODY];
    let server = Canned::start(answer("200 OK", "", &exact)).await;
    let response = open()
        .post_json(&server.url("127.0.0.1", "/"), &[], Vec::new())
        .await
        .expect("answered");
    assert_eq!(response.body, exact);
    assert!(!response.truncated);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accept and hold the connection without ever answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let outbound =
        Outbound::new(vec![net("127.0.0.1/32")], Duration::from_millis(300)).expect("client");
    let started = Instant::now();
    let result = outbound
        .post_json(&url(&format!("http://127.0.0.1:{port}/")), &[], Vec::new())
        .await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(OutboundError::Timeout));
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let err = open()
        .post_json(&url(&format!("http://127.0.0.1:{port}/")), &[], Vec::new())
        .await
        .expect_err("nothing listens");
    assert_eq!(err.code(), "connect_failed", "{err}");
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_tls_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(&ok_json()).await;
            let _ = socket.shutdown().await;
        }
    });
    let err = open()
        .post_json(&url(&format!("https://127.0.0.1:{port}/")), &[], Vec::new())
        .await
        .expect_err("not TLS");
    assert_eq!(err.code(), "tls_failed", "{err}");
}

#[tokio::test]
async fn check_destination_refuses_internal_and_unresolvable_hosts() {
    let outbound = closed();
    let err = outbound
        .check_destination(&url("http://localhost/"))
        .await
        .expect_err("loopback");
    assert!(
        matches!(&err, OutboundError::ForbiddenAddress { host, address } if host == "localhost" && address.is_loopback()),
        "{err:?}"
    );
    let err = outbound
        .check_destination(&url("https://does-not-exist.invalid/"))
        .await
        .expect_err("unresolvable");
    assert_eq!(
        err,
        OutboundError::Unresolvable("does-not-exist.invalid".into())
    );
    // IP literals in the odd forms `url` normalises (decimal, hex, short, trailing dot, mapped).
    for raw in [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://127.0.0.1./",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[::]/",
    ] {
        let parsed = outbound.validate_url(raw).expect("valid syntax");
        let err = outbound
            .check_destination(&parsed)
            .await
            .expect_err("internal");
        assert_eq!(err.code(), "forbidden_url", "{raw}: {err}");
    }
    outbound
        .check_destination(&url("https://8.8.8.8/hook"))
        .await
        .expect("public literal");

    let open = Outbound::new(vec![net("127.0.0.0/8"), net("::1/128")], TIMEOUT).expect("client");
    open.check_destination(&url("http://localhost:8080/"))
        .await
        .expect("allowed");
}

#[test]
fn odd_ipv4_forms_are_normalised_by_url() {
    for raw in [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://127.0.0.1./",
    ] {
        assert_eq!(
            url(raw).host(),
            Some(Host::Ipv4([127, 0, 0, 1].into())),
            "{raw}"
        );
    }
}

#[test]
fn validate_url_takes_plain_http_and_https_only() {
    let outbound = closed();
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    for raw in [
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/plain,hi",
        "http://",
        "https:///",
        "/relative/path",
        "example.com/hook",
        "https://user:secret@example.com/hook",
        "https://user@example.com/hook",
        "https://:secret@example.com/hook",
        long.as_str(),
    ] {
        let err = outbound.validate_url(raw).expect_err(raw);
        assert_eq!(err.code(), "invalid_url", "{raw}: {err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    let ok = outbound
        .validate_url("https://hooks.example.com:8443/in/abc?x=1")
        .expect("valid");
    assert_eq!(ok.host_str(), Some("hooks.example.com"));
    outbound
        .validate_url("http://[2001:4860::1]/")
        .expect("valid literal");
}
