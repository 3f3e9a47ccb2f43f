//! Attachments against a real server: uploads (raw, multipart, chunked, streamed from a
//! generator) sent with messages over REST and WebSocket and downloaded byte for byte; the
//! limits (size mid-stream, quota, free disk, a client that stalls or hangs up) and the partial
//! files they leave behind; hostile files (HTML and SVG named `.png`, a decompression bomb, a
//! truncated image) served as downloads and never decoded; who may read what; files deleted
//! with their message, their room and after `orphan_ttl`; server memory during a 100 MiB upload;
//! and an acknowledged upload surviving kill -9.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{error_code, BinaryServer, Client, TestServer, Ws, PASSWORD};
use confab::clock::{Clock, ManualClock, SystemClock};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers: bytes, uploads, downloads, the data directory.

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `len` bytes that do not compress and are the same for the same seed (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A real PNG of `width` x `height` pixels, encoded by the `image` crate.
fn real_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// Uploads `bytes` as the raw body, named by `?name=`.
async fn upload(client: &Client, room: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let url = format!("{}/api/rooms/{room}/attachments", client.base);
    client
        .send(client.http.post(url).query(&[("name", name)]).body(bytes))
        .await
}

/// Uploads `bytes` and returns the Attachment, asserting 201 and the basics of its shape.
async fn uploaded(client: &Client, room: &str, name: &str, bytes: Vec<u8>) -> Value {
    let size = bytes.len();
    let sha = sha256_hex(&bytes);
    let (status, attachment) = upload(client, room, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "upload {name}: {attachment}");
    assert_eq!(attachment["size"], size, "{attachment}");
    assert_eq!(attachment["sha256"], sha.as_str(), "{attachment}");
    assert!(attachment["id"].as_str().is_some_and(|id| !id.is_empty()));
    attachment
}

fn id_of(attachment: &Value) -> String {
    attachment["id"]
        .as_str()
        .expect("attachment id")
        .to_string()
}

/// Uploads `bytes` as the `file` part of a multipart form (after a part that is not the file).
async fn upload_form(
    client: &Client,
    room: &str,
    filename: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let boundary = "confab-test-4f1d9b";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot the file\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let url = format!("{}/api/rooms/{room}/attachments", client.base);
    let request = client
        .http
        .post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    client.send(request).await
}

/// Sends a message carrying `attachments` over REST.
async fn send_with(
    client: &Client,
    room: &str,
    body: &str,
    attachments: &[&str],
) -> (StatusCode, Value) {
    client
        .post(
            &format!("/api/rooms/{room}/messages"),
            json!({ "body": body, "attachments": attachments }),
        )
        .await
}

/// Like `send_with`, asserting 201; returns the message.
async fn sent_with(client: &Client, room: &str, body: &str, attachments: &[&str]) -> Value {
    let (status, message) = send_with(client, room, body, attachments).await;
    assert_eq!(status, StatusCode::CREATED, "send: {message}");
    message
}

/// A GET of `path` as `client` with extra request headers: status, headers and raw body.
async fn fetch(
    client: &Client,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = client.http.get(format!("{}{path}", client.base));
    if let Some(token) = &client.token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

async fn status_of(client: &Client, path: &str) -> StatusCode {
    fetch(client, path, &[]).await.0
}

fn file_path(id: &str) -> String {
    format!("/api/attachments/{id}")
}

fn thumb_path(id: &str) -> String {
    format!("/api/attachments/{id}/thumbnail")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("ascii header")
}

/// Asserts the headers every stored file is served with, whatever its type.
fn assert_safe_headers(headers: &HeaderMap, sha256: &str) {
    assert_eq!(header(headers, "x-content-type-options"), "nosniff");
    let csp = header(headers, "content-security-policy");
    assert!(
        csp.split(';')
            .any(|directive| directive.trim() == "sandbox"),
        "the file's CSP must sandbox it: {csp}"
    );
    assert_eq!(header(headers, "etag"), format!("\"{sha256}\""));
    assert_eq!(header(headers, "accept-ranges"), "bytes");
}

/// Names of the entries of `dir` (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(list) => list
            .map(|entry| {
                entry
                    .expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn attachments_dir(data: &Path) -> PathBuf {
    data.join("attachments")
}

fn incoming_dir(data: &Path) -> PathBuf {
    attachments_dir(data).join("incoming")
}

fn room_dir(data: &Path, room: &str) -> PathBuf {
    attachments_dir(data).join(room)
}

/// Every file under `<data>/attachments/` outside `incoming/`, as `room/name`.
fn kept_files(data: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for room in entries(&attachments_dir(data)) {
        if room == "incoming" {
            continue;
        }
        for name in entries(&attachments_dir(data).join(&room)) {
            files.push(format!("{room}/{name}"));
        }
    }
    files
}

/// Waits (up to `within`) for `done`; false if it never held.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Joins `room` on a new WebSocket of `client`.
async fn joined_ws(client: &Client, room: &str) -> Ws {
    let mut ws = client.ws().await;
    ws.join(room, None, 0).await;
    ws
}

/// The next `message` frame's message (other frames skipped).
async fn next_message(ws: &mut Ws) -> Value {
    ws.recv_type("message").await["message"].clone()
}

fn ids_in(message: &Value) -> Vec<String> {
    message["attachments"]
        .as_array()
        .map(|list| list.iter().map(id_of).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: chunked bodies, bodies streamed from a generator, clients that stall
// or hang up mid-body, and refusals that come before the body is read.

enum Framing {
    Length(u64),
    Chunked,
}

/// What the client does once its pieces are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Ends the body (the chunked terminator) and waits for the answer.
    Finish,
    /// Sends nothing more, keeping the connection open.
    Stall,
    /// Shuts down its sending side (FIN) in the middle of the body.
    HangUp,
}

struct RawOutcome {
    /// Status and JSON body, or `None` when the connection closed without an answer.
    answer: Option<(u16, Value)>,
    /// Bytes of body written before the body ended or the server stopped taking them.
    sent: u64,
    /// SHA-256 of those bytes.
    sent_sha256: String,
}

/// POSTs `pieces` as the body of `path` on a raw socket, reading the answer while writing (so an
/// early refusal is seen), and tolerating a server that stops reading.
async fn raw_upload(
    base: &str,
    token: &str,
    path: &str,
    framing: Framing,
    pieces: impl Iterator<Item = Vec<u8>> + Send + 'static,
    then: Then,
) -> RawOutcome {
    let addr = base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let chunked = matches!(framing, Framing::Chunked);
    let framing = match framing {
        Framing::Length(length) => format!("content-length: {length}"),
        Framing::Chunked => "transfer-encoding: chunked".to_string(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/octet-stream\r\n{framing}\r\nconnection: close\r\n\r\n"
    );
    let (written_tx, written_rx) = tokio::sync::oneshot::channel::<(u64, String)>();
    let write = tokio::spawn(async move {
        let mut hasher = Sha256::new();
        let mut sent = 0u64;
        let mut ok = writer.write_all(head.as_bytes()).await.is_ok();
        for piece in pieces {
            if !ok {
                break;
            }
            if chunked {
                ok = writer
                    .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await
                    .is_ok();
            }
            ok = ok && writer.write_all(&piece).await.is_ok();
            if chunked {
                ok = ok && writer.write_all(b"\r\n").await.is_ok();
            }
            if ok {
                hasher.update(&piece);
                sent += piece.len() as u64;
            }
        }
        if ok && chunked && then == Then::Finish {
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        let _ = written_tx.send((sent, format!("{:x}", hasher.finalize())));
        match then {
            // The server treats a half-closed request as abandoned: keep the socket open.
            Then::Finish | Then::Stall => std::future::pending::<()>().await,
            Then::HangUp => drop(writer),
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(120), read_answer(&mut reader))
        .await
        .expect("the server answers or closes within 2 minutes");
    write.abort();
    let (sent, sent_sha256) = match tokio::time::timeout(Duration::from_secs(5), written_rx).await {
        Ok(Ok(written)) => written,
        _ => (0, String::new()),
    };
    RawOutcome {
        answer,
        sent,
        sent_sha256,
    }
}

async fn read_answer(reader: &mut tokio::net::tcp::OwnedReadHalf) -> Option<(u16, Value)> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * KIB];
    loop {
        if let Some(answer) = parse_answer(&buf, false) {
            return Some(answer);
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return parse_answer(&buf, true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A complete answer in `buf` (or, at `eof`, whatever body there is).
fn parse_answer(buf: &[u8], eof: bool) -> Option<(u16, Value)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let length = head.lines().find_map(|line| {
        line.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let rest = &buf[head_end..];
    let body = match length {
        Some(length) if rest.len() >= length => rest[..length].to_vec(),
        Some(_) => return None,
        None if head.contains("transfer-encoding: chunked") => dechunk(rest).or_else(|| {
            // A truncated chunked body at EOF: what there is.
            eof.then(Vec::new)
        })?,
        None if eof => rest.to_vec(),
        None => return None,
    };
    let text = String::from_utf8_lossy(&body);
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()))
    };
    Some((status, value))
}

/// A complete chunked body, decoded.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if rest.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn pieces_of(bytes: Vec<u8>, piece: usize) -> impl Iterator<Item = Vec<u8>> + Send + 'static {
    let pieces: Vec<Vec<u8>> = bytes.chunks(piece).map(<[u8]>::to_vec).collect();
    pieces.into_iter()
}

/// Asserts a raw upload was answered `status` with error `code`.
fn assert_refused(outcome: &RawOutcome, status: u16, code: &str) {
    let (got, body) = outcome
        .answer
        .as_ref()
        .unwrap_or_else(|| panic!("no answer; expected {status} {code}"));
    assert_eq!(*got, status, "{body}");
    assert_eq!(error_code(body), code, "{body}");
}

// ---------------------------------------------------------------------------------------------
// A hand-built decompression bomb (see src/attachments/inspect/fixtures.rs): a PNG whose header
// claims `width` x `height` pixels and whose IDAT inflates to a run of zeros.

fn png_of_zeros(width: u32, height: u32, color_type: u8, matches: usize) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, color_type, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &zlib_zeros(matches));
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&u32::try_from(data.len()).expect("fits").to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One fixed-Huffman deflate block: a literal zero, then `matches` copies of "258 bytes from
/// distance 1".
fn zlib_zeros(matches: usize) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.value(1, 1);
    bits.value(1, 2);
    bits.code(0b0011_0000, 8);
    for _ in 0..matches {
        bits.code(0b1100_0101, 8);
        bits.code(0, 5);
    }
    bits.code(0, 7);
    let mut zlib = vec![0x78, 0x01];
    zlib.extend_from_slice(&bits.finish());
    let total = u32::try_from(1 + 258 * matches).expect("small") % 65_521;
    zlib.extend_from_slice(&((total << 16) | 1).to_be_bytes());
    zlib
}

#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    current: u8,
    used: u8,
}

impl Bits {
    fn bit(&mut self, bit: u32) {
        self.current |= u8::from(bit & 1 == 1) << self.used;
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.current);
            self.current = 0;
            self.used = 0;
        }
    }

    fn value(&mut self, value: u32, count: u32) {
        (0..count).for_each(|i| self.bit(value >> i));
    }

    fn code(&mut self, code: u32, count: u32) {
        (0..count).rev().for_each(|i| self.bit(code >> i));
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.bytes.push(self.current);
        }
        self.bytes
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Uploads travel with messages.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_travel_with_messages_over_rest_and_websocket_byte_for_byte() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = alice.create_room("files").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let mut bob_ws = joined_ws(&bob, &room).await;
    let mut alice_ws = joined_ws(&alice, &room).await;

    // Raw body, with a hostile name.
    let log = noise(300 * KIB, 1);
    let raw = uploaded(&alice, &room, "../../etc/passwd\u{0}x", log.clone()).await;
    let name = raw["name"].as_str().expect("name");
    assert!(
        !name.contains('/') && !name.contains('\\') && !name.contains('\0'),
        "cleaned name: {name:?}"
    );
    assert_eq!(name, "passwdx");
    assert_eq!(raw["content_type"], "application/octet-stream", "{raw}");
    assert!(raw.get("thumbnail").is_none() && raw.get("width").is_none());

    // Multipart: the `file` part, named by its filename; the type comes from the bytes, not
    // from the part's claim (image/png).
    let notes = "meeting notes\nline two\n".repeat(200).into_bytes();
    let (status, form) = upload_form(&alice, &room, "notes.txt", &notes).await;
    assert_eq!(status, StatusCode::CREATED, "{form}");
    assert_eq!(form["name"], "notes.txt");
    assert_eq!(form["size"], notes.len());
    assert_eq!(form["sha256"], sha256_hex(&notes).as_str());
    assert!(
        form["content_type"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/plain")),
        "{form}"
    );

    // An empty file is a file.
    let empty = uploaded(&alice, &room, "", Vec::new()).await;
    assert_eq!(empty["name"], "file");
    let (status, _, body) = fetch(&alice, &file_path(&id_of(&empty)), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());

    // A form without a `file` part.
    let url = format!("{}/api/rooms/{room}/attachments", alice.base);
    let boundary = "b0undary";
    let (status, body) = alice
        .send(
            alice
                .http
                .post(url)
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .body(format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{boundary}--\r\n"
                )),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_upload");

    // Sent over REST with an empty body: the answer, the live frame and the history carry it.
    let message = sent_with(&alice, &room, "", &[&id_of(&raw)]).await;
    assert_eq!(message["attachments"], json!([raw.clone()]), "{message}");
    let live = next_message(&mut bob_ws).await;
    assert_eq!(live["id"], message["id"]);
    assert_eq!(live["attachments"], json!([raw.clone()]), "{live}");

    // Sent over the WebSocket, with a body this time.
    alice_ws
        .send_json(json!({
            "type": "send", "room": room, "body": "the notes", "nonce": "ws-1",
            "attachments": [id_of(&form)],
        }))
        .await;
    let acked = loop {
        let frame = alice_ws.recv().await;
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["type"] == "message" && frame["nonce"] == "ws-1" {
            break frame["message"].clone();
        }
    };
    assert_eq!(acked["attachments"], json!([form.clone()]), "{acked}");
    let live = next_message(&mut bob_ws).await;
    assert_eq!(live["id"], acked["id"]);
    assert_eq!(live["body"], "the notes");
    assert_eq!(live["attachments"], json!([form.clone()]), "{live}");

    let history = common::all_messages(&bob, &room).await;
    let carried: Vec<Value> = history
        .iter()
        .filter(|m| m.get("attachments").is_some())
        .map(|m| m["attachments"].clone())
        .collect();
    assert_eq!(carried, vec![json!([raw.clone()]), json!([form.clone()])]);

    // The other member downloads both, byte for byte.
    for (attachment, bytes) in [(&raw, &log), (&form, &notes)] {
        let (status, headers, body) = fetch(&bob, &file_path(&id_of(attachment)), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == **bytes, "downloaded bytes differ");
        assert_eq!(
            sha256_hex(&body),
            attachment["sha256"].as_str().expect("sha")
        );
        assert_eq!(header(&headers, "content-length"), bytes.len().to_string());
        assert_safe_headers(&headers, &sha256_hex(bytes));
    }

    // The same upload cannot be sent again, over the WebSocket either.
    alice_ws
        .send_json(json!({
            "type": "send", "room": room, "body": "", "nonce": "ws-2",
            "attachments": [id_of(&form)],
        }))
        .await;
    let refused = alice_ws.recv_type("error").await;
    assert_eq!(refused["code"], "invalid_attachment", "{refused}");
    // Without attachments, an empty body is still refused.
    let (status, body) = send_with(&alice, &room, "", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Size, quota and disk limits.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_over_quota_and_low_disk_uploads_are_refused_and_leave_nothing_behind() {
    let server = TestServer::start_with(|c| {
        c.attachments.max_bytes = MIB as u64;
        c.attachments.user_quota = (MIB + MIB / 2) as u64;
    })
    .await;
    let alice = server.user("alice").await;
    let token = alice.token.clone().expect("token");
    let room = alice.create_room("limits").await;
    let path = format!("/api/rooms/{room}/attachments?name=big.bin");

    // 3 MiB without a length: refused once more than 1 MiB has arrived.
    let outcome = raw_upload(
        &server.base,
        &token,
        &path,
        Framing::Chunked,
        (0..48).map(|i| noise(64 * KIB, i)),
        Then::Finish,
    )
    .await;
    assert_refused(&outcome, 413, "too_large");
    assert!(
        entries(&incoming_dir(&server.data)).is_empty(),
        "partial file left in incoming/: {:?}",
        entries(&incoming_dir(&server.data))
    );
    assert!(
        kept_files(&server.data).is_empty(),
        "{:?}",
        kept_files(&server.data)
    );

    // Exactly the limit fits.
    let first = uploaded(&alice, &room, "one.bin", noise(MIB, 2)).await;
    // The quota (1.5 MiB) has 0.5 MiB left: the second MiB is refused mid-stream.
    let outcome = raw_upload(
        &server.base,
        &token,
        &path,
        Framing::Length(MIB as u64),
        pieces_of(noise(MIB, 3), 64 * KIB),
        Then::Finish,
    )
    .await;
    assert_refused(&outcome, 413, "quota_exceeded");
    assert!(entries(&incoming_dir(&server.data)).is_empty());
    assert_eq!(
        kept_files(&server.data),
        vec![format!("{room}/{}", id_of(&first))]
    );
    // What is left of the quota still takes a small file.
    uploaded(&alice, &room, "small.bin", noise(100 * KIB, 4)).await;

    // Two uploads at once share one quota: of two MiB against 1.5 MiB, exactly one fits.
    let bob = server.user("bob").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let bob_token = bob.token.clone().expect("token");
    let both = futures_util::future::join_all((0..2).map(|i| {
        raw_upload(
            &server.base,
            &bob_token,
            &path,
            Framing::Length(MIB as u64),
            pieces_of(noise(MIB, 10 + i), 16 * KIB),
            Then::Finish,
        )
    }))
    .await;
    let mut statuses: Vec<u16> = both
        .iter()
        .map(|outcome| outcome.answer.as_ref().expect("an answer").0)
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        vec![201, 413],
        "{:?}",
        both.iter().map(|o| &o.answer).collect::<Vec<_>>()
    );
    let refused = both
        .iter()
        .find(|o| o.answer.as_ref().is_some_and(|a| a.0 == 413));
    assert_refused(refused.expect("refused"), 413, "quota_exceeded");
    let usage = server
        .state()
        .chat
        .store()
        .attachment_usage("bob")
        .expect("usage");
    assert_eq!(usage, MIB as u64);
    assert!(entries(&incoming_dir(&server.data)).is_empty());
    server.stop().await;

    // Less free disk than `min_free_disk` (1 EiB: never the case).
    let server = TestServer::start_with(|c| c.attachments.min_free_disk = 1 << 60).await;
    let alice = server.user("alice").await;
    let room = alice.create_room("full disk").await;
    let outcome = raw_upload(
        &server.base,
        alice.token.as_deref().expect("token"),
        &format!("/api/rooms/{room}/attachments?name=a.txt"),
        Framing::Length(10 * KIB as u64),
        pieces_of(noise(10 * KIB, 5), 10 * KIB),
        Then::Finish,
    )
    .await;
    assert_refused(&outcome, 507, "insufficient_storage");
    assert!(entries(&incoming_dir(&server.data)).is_empty());
    assert!(kept_files(&server.data).is_empty());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Clients that stop sending.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_abandoned_upload_is_given_up_and_its_partial_file_removed() {
    let server =
        TestServer::start_with(|c| c.attachments.idle_timeout = Duration::from_secs(1)).await;
    let alice = server.user("alice").await;
    let token = alice.token.clone().expect("token");
    let room = alice.create_room("stalls").await;
    let path = format!("/api/rooms/{room}/attachments?name=stalled.bin");
    let incoming = incoming_dir(&server.data);

    // 100 KiB of a declared MiB, then nothing.
    let started = Instant::now();
    let watcher = {
        let incoming = incoming.clone();
        tokio::spawn(async move {
            eventually(Duration::from_secs(10), || !entries(&incoming).is_empty()).await
        })
    };
    let outcome = raw_upload(
        &server.base,
        &token,
        &path,
        Framing::Length(MIB as u64),
        pieces_of(noise(100 * KIB, 1), 10 * KIB),
        Then::Stall,
    )
    .await;
    assert!(
        watcher.await.expect("watcher"),
        "the partial file was never seen in incoming/"
    );
    if outcome.answer.is_some() {
        assert_refused(&outcome, 400, "upload_interrupted");
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "given up after {:?}",
        started.elapsed()
    );
    assert!(
        eventually(Duration::from_secs(5), || entries(&incoming).is_empty()).await,
        "partial file left behind: {:?}",
        entries(&incoming)
    );

    // 100 KiB of a declared MiB, then the client hangs up.
    let outcome = raw_upload(
        &server.base,
        &token,
        &path,
        Framing::Length(MIB as u64),
        pieces_of(noise(100 * KIB, 2), 10 * KIB),
        Then::HangUp,
    )
    .await;
    if outcome.answer.is_some() {
        assert_refused(&outcome, 400, "upload_interrupted");
    }
    assert!(
        eventually(Duration::from_secs(5), || entries(&incoming).is_empty()).await,
        "partial file left behind: {:?}",
        entries(&incoming)
    );
    assert!(
        kept_files(&server.data).is_empty(),
        "{:?}",
        kept_files(&server.data)
    );
    // Nothing was counted against the quota, and uploads still work.
    uploaded(&alice, &room, "after.bin", noise(10 * KIB, 3)).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. How files are served.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_download_unless_raster_images_with_ranges_and_etags() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("serving").await;

    let html =
        b"<!DOCTYPE html><html><body><script>fetch('/api/auth/me')</script></body></html>".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#
        .to_vec();
    let mut ids = Vec::new();
    for bytes in [html, svg] {
        let attachment = uploaded(&alice, &room, "x.png", bytes.clone()).await;
        let content_type = attachment["content_type"].as_str().expect("type");
        assert!(!content_type.starts_with("image/"), "{attachment}");
        assert!(attachment.get("thumbnail").is_none(), "{attachment}");
        assert!(attachment.get("width").is_none(), "{attachment}");
        let id = id_of(&attachment);
        let (status, headers, body) = fetch(&alice, &file_path(&id), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == bytes);
        let disposition = header(&headers, "content-disposition");
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert_eq!(header(&headers, "content-type"), "application/octet-stream");
        assert_safe_headers(&headers, &sha256_hex(&bytes));
        assert_eq!(
            status_of(&alice, &thumb_path(&id)).await,
            StatusCode::NOT_FOUND
        );
        ids.push(id);
    }
    sent_with(&alice, &room, "", &[&ids[0], &ids[1]]).await;

    let png = real_png(400, 300);
    let attachment = uploaded(&alice, &room, "chart.png", png.clone()).await;
    assert_eq!(attachment["content_type"], "image/png");
    assert_eq!(attachment["width"], 400);
    assert_eq!(attachment["height"], 300);
    let id = id_of(&attachment);
    assert_eq!(attachment["thumbnail"], thumb_path(&id).as_str());
    let sha = sha256_hex(&png);
    let etag = format!("\"{sha}\"");

    let (status, headers, body) = fetch(&alice, &file_path(&id), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == png);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert!(header(&headers, "content-disposition").starts_with("inline"));
    assert_safe_headers(&headers, &sha);

    // `?download=true` makes even an image a download.
    let (_, headers, _) = fetch(&alice, &format!("{}?download=true", file_path(&id)), &[]).await;
    assert!(header(&headers, "content-disposition").starts_with("attachment"));

    // The preview: a small JPEG.
    let (status, headers, thumb) = fetch(&alice, &thumb_path(&id), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    let preview = image::load_from_memory_with_format(&thumb, image::ImageFormat::Jpeg)
        .expect("the thumbnail is a JPEG");
    assert!(preview.width() <= 320 && preview.height() <= 320);
    assert!(preview.width() < 400, "scaled down");

    // Ranges.
    let (status, headers, body) = fetch(&alice, &file_path(&id), &[("range", "bytes=10-19")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &png[10..20]);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 10-19/{}", png.len())
    );
    assert_eq!(header(&headers, "content-length"), "10");
    let (status, _, body) = fetch(&alice, &file_path(&id), &[("range", "bytes=-5")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &png[png.len() - 5..]);
    let (status, headers, _) = fetch(&alice, &file_path(&id), &[("range", "bytes=999999-")]).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes */{}", png.len())
    );

    // Conditional requests.
    let (status, headers, body) = fetch(&alice, &file_path(&id), &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&headers, "etag"), etag);
    let weak = format!("\"other\", W/{etag}");
    let (status, _, _) = fetch(&alice, &file_path(&id), &[("if-none-match", &weak)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED, "weak comparison");
    let (status, _, body) = fetch(
        &alice,
        &file_path(&id),
        &[("if-none-match", "\"something-else\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == png);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Images that must not be decoded.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_measured_not_decoded_and_broken_images_are_plain_files() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("bombs").await;

    // 20,000 x 20,000 RGB: 1.2 GB decoded, a few KiB on the wire.
    let bomb = png_of_zeros(20_000, 20_000, 2, 2_000);
    assert!(bomb.len() < 8 * KIB, "{} bytes", bomb.len());
    let started = Instant::now();
    let attachment = uploaded(&alice, &room, "bomb.png", bomb.clone()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the bomb took {took:?}");
    assert_eq!(attachment["content_type"], "image/png");
    assert_eq!(attachment["width"], 20_000);
    assert_eq!(attachment["height"], 20_000);
    assert!(attachment.get("thumbnail").is_none(), "{attachment}");
    let id = id_of(&attachment);
    let (status, _, body) = fetch(&alice, &thumb_path(&id), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_slice(&body).expect("json error");
    error_code(&body);
    let (status, _, body) = fetch(&alice, &file_path(&id), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == bomb);

    // A truncated image and garbage behind a PNG signature: stored, no preview, no 500.
    let png = real_png(200, 100);
    let truncated = png[..png.len() / 2].to_vec();
    let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
    garbage.extend_from_slice(&noise(4 * KIB, 9));
    for bytes in [truncated, garbage] {
        let attachment = uploaded(&alice, &room, "broken.png", bytes.clone()).await;
        assert!(attachment.get("thumbnail").is_none(), "{attachment}");
        let id = id_of(&attachment);
        assert_eq!(
            status_of(&alice, &thumb_path(&id)).await,
            StatusCode::NOT_FOUND
        );
        let (status, _, body) = fetch(&alice, &file_path(&id), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == bytes);
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Who may read what.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_read_files_and_only_the_uploader_reads_unsent_ones() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (status, room) = alice
        .post("/api/rooms", json!({"name": "secret", "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_str().expect("id").to_string();
    let (status, body) = alice
        .put(&format!("/api/rooms/{room}/members/bob"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let png = real_png(64, 64);
    let attachment = uploaded(&alice, &room, "plan.png", png.clone()).await;
    let id = id_of(&attachment);
    let (file, thumb) = (file_path(&id), thumb_path(&id));
    assert!(attachment.get("thumbnail").is_some());

    // Unsent: its uploader only.
    assert_eq!(status_of(&alice, &file).await, StatusCode::OK);
    assert_eq!(status_of(&alice, &thumb).await, StatusCode::OK);
    for (who, client) in [("bob (member)", &bob), ("carol (outsider)", &carol)] {
        for path in [&file, &thumb] {
            let (status, _, body) = fetch(client, path, &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who} {path}");
            let body: Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(error_code(&body), "not_found");
        }
    }
    let anonymous = server.client();
    assert_eq!(status_of(&anonymous, &file).await, StatusCode::UNAUTHORIZED);
    // Nor can an outsider upload to the room, or send the upload.
    let (status, body) = upload(&carol, &room, "x.txt", b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(entries(&incoming_dir(&server.data)).is_empty());
    let (status, body) = send_with(&bob, &room, "mine now", &[&id]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_attachment");

    // Sent: every member, nobody else.
    sent_with(&alice, &room, "the plan", &[&id]).await;
    let (status, _, body) = fetch(&bob, &file, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == png);
    assert_eq!(status_of(&bob, &thumb).await, StatusCode::OK);
    assert_eq!(status_of(&carol, &file).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&carol, &thumb).await, StatusCode::NOT_FOUND);

    // Removed from the room: gone for them.
    let (status, body) = alice
        .delete(&format!("/api/rooms/{room}/members/bob"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(status_of(&bob, &file).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&bob, &thumb).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&alice, &file).await, StatusCode::OK);

    // A public room: its files are for its members too; joining opens them.
    let lobby = alice.create_room("lobby").await;
    let shared = uploaded(&alice, &lobby, "hello.txt", b"hello, world".to_vec()).await;
    sent_with(&alice, &lobby, "", &[&id_of(&shared)]).await;
    let shared = file_path(&id_of(&shared));
    assert_eq!(status_of(&carol, &shared).await, StatusCode::NOT_FOUND);
    let (status, _) = carol.post_empty(&format!("/api/rooms/{lobby}/join")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_of(&carol, &shared).await, StatusCode::OK);
    // Ids that are not attachments at all.
    assert_eq!(
        status_of(&alice, &file_path("not-an-id")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(&alice, &file_path("01ARZ3NDEKTSV4RRFFQ69G5FAV")).await,
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Lifecycle: sends that are refused, files deleted with their message and room, and swept.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_take_only_own_unsent_uploads_of_the_room_and_at_most_ten() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = alice.create_room("rules").await;
    let other = alice.create_room("elsewhere").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);

    let first = id_of(&uploaded(&alice, &room, "a.txt", b"a".to_vec()).await);
    sent_with(&alice, &room, "once", &[&first]).await;
    let elsewhere = id_of(&uploaded(&alice, &other, "b.txt", b"b".to_vec()).await);
    let bobs = id_of(&uploaded(&bob, &room, "c.txt", b"c".to_vec()).await);
    for (what, ids) in [
        ("already sent", vec![first.as_str()]),
        ("another room's", vec![elsewhere.as_str()]),
        ("someone else's", vec![bobs.as_str()]),
        ("unknown", vec!["01ARZ3NDEKTSV4RRFFQ69G5FAV"]),
        ("malformed", vec!["../../etc/passwd"]),
        ("named twice", vec![bobs.as_str(), bobs.as_str()]),
    ] {
        let (status, body) = send_with(&alice, &room, "again", &ids).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(error_code(&body), "invalid_attachment", "{what}");
    }
    // Refused sends took nothing: each upload still goes with its own sender and room.
    sent_with(&alice, &other, "", &[&elsewhere]).await;
    sent_with(&bob, &room, "", &[&bobs]).await;

    // A retried send (same nonce) answers with the original, attachments and all.
    let retried = id_of(&uploaded(&alice, &room, "r.txt", b"r".to_vec()).await);
    let send = json!({"body": "", "nonce": "retry-1", "attachments": [retried]});
    let (status, original) = alice
        .post(&format!("/api/rooms/{room}/messages"), send.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{original}");
    let (status, again) = alice
        .post(&format!("/api/rooms/{room}/messages"), send)
        .await;
    assert!(status.is_success(), "{status} {again}");
    assert_eq!(again["id"], original["id"]);
    assert_eq!(ids_in(&again), vec![retried.clone()]);

    // Sends racing for one upload: exactly one takes it.
    let contested = id_of(&uploaded(&alice, &room, "d.txt", b"d".to_vec()).await);
    let racing = futures_util::future::join_all((0..6).map(|i| {
        let (alice, room, contested) = (&alice, &room, &contested);
        async move { send_with(alice, room, &format!("race {i}"), &[contested]).await }
    }))
    .await;
    let mut won = 0;
    for (status, body) in &racing {
        if *status == StatusCode::CREATED {
            won += 1;
        } else {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error_code(body), "invalid_attachment");
        }
    }
    assert_eq!(won, 1, "{racing:?}");
    let carrying = common::all_messages(&alice, &room)
        .await
        .iter()
        .filter(|m| ids_in(m) == vec![contested.clone()])
        .count();
    assert_eq!(carrying, 1);

    let mut eleven = Vec::new();
    for i in 0..11u8 {
        eleven.push(id_of(
            &uploaded(&alice, &room, &format!("{i}.txt"), vec![b'0' + i]).await,
        ));
    }
    let refs: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let (status, body) = send_with(&alice, &room, "", &refs).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "too_many_attachments");
    let ten = sent_with(&alice, &room, "", &refs[..10]).await;
    assert_eq!(ids_in(&ten), eleven[..10].to_vec());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_deleted_with_their_message_and_their_room() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = alice.create_room("doomed message").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);

    let png = id_of(&uploaded(&alice, &room, "p.png", real_png(64, 48)).await);
    let txt = id_of(&uploaded(&alice, &room, "t.txt", b"text".to_vec()).await);
    let kept = id_of(&uploaded(&alice, &room, "k.txt", b"kept".to_vec()).await);
    let message = sent_with(&alice, &room, "two files", &[&png, &txt]).await;
    let keeper = sent_with(&alice, &room, "", &[&kept]).await;
    let dir = room_dir(&server.data, &room);
    for name in [
        png.clone(),
        format!("{png}.thumb"),
        txt.clone(),
        kept.clone(),
    ] {
        assert!(dir.join(&name).is_file(), "{name} stored");
    }

    // An edit keeps the files.
    let message_id = message["id"].as_str().expect("id");
    let (status, edited) = alice
        .patch(
            &format!("/api/rooms/{room}/messages/{message_id}"),
            json!({"body": "two files, edited"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(ids_in(&edited), vec![png.clone(), txt.clone()]);
    assert!(dir.join(&png).is_file());

    // Deleting the message deletes its files (by the time the deletion is answered).
    let (status, tombstone) = alice
        .delete(&format!("/api/rooms/{room}/messages/{message_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert!(ids_in(&tombstone).is_empty(), "{tombstone}");
    for name in [png.clone(), format!("{png}.thumb"), txt.clone()] {
        assert!(!dir.join(&name).exists(), "{name} outlived its message");
    }
    for client in [&alice, &bob] {
        assert_eq!(
            status_of(client, &file_path(&png)).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_of(client, &thumb_path(&png)).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_of(client, &file_path(&txt)).await,
            StatusCode::NOT_FOUND
        );
    }
    let history = common::all_messages(&bob, &room).await;
    let deleted = history
        .iter()
        .find(|m| m["id"] == message["id"])
        .expect("tombstone in history");
    assert!(ids_in(deleted).is_empty(), "{deleted}");
    // The other message's file is untouched.
    assert!(dir.join(&kept).is_file());
    assert_eq!(status_of(&bob, &file_path(&kept)).await, StatusCode::OK);
    assert_eq!(ids_in(&keeper), vec![kept.clone()]);

    // Deleting the room deletes its directory, unsent uploads included.
    let unsent = id_of(&uploaded(&alice, &room, "u.txt", b"unsent".to_vec()).await);
    assert!(dir.join(&unsent).is_file());
    let (status, body) = alice.delete(&format!("/api/rooms/{room}")).await;
    assert!(status.is_success(), "{status} {body}");
    assert!(!dir.exists(), "room directory left: {:?}", entries(&dir));
    assert_eq!(
        status_of(&alice, &file_path(&kept)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(&alice, &file_path(&unsent)).await,
        StatusCode::NOT_FOUND
    );
    // Their space is given back: the quota counts only what is stored.
    let usage = server
        .state()
        .chat
        .store()
        .attachment_usage("alice")
        .expect("usage");
    assert_eq!(usage, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsent_uploads_are_swept_after_orphan_ttl() {
    let server = TestServer::start_with(|c| {
        c.attachments.orphan_ttl = Duration::from_secs(1);
        c.rooms.sweep_interval = Duration::from_secs(1);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("orphans").await;
    let orphan = id_of(&uploaded(&alice, &room, "o.png", real_png(32, 32)).await);
    let dir = room_dir(&server.data, &room);
    assert!(dir.join(&orphan).is_file());
    assert!(
        eventually(Duration::from_secs(10), || entries(&dir).is_empty()).await,
        "orphan still there: {:?}",
        entries(&dir)
    );
    assert_eq!(
        status_of(&alice, &file_path(&orphan)).await,
        StatusCode::NOT_FOUND
    );
    let (status, body) = send_with(&alice, &room, "", &[&orphan]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_attachment");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_go_after_their_ttl_and_sent_files_with_their_expired_room() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let server = TestServer::start_with_clock(clock.clone(), |c| {
        c.rooms.ttl = Duration::from_secs(24 * 3600);
        c.rooms.sweep_interval = Duration::from_millis(200);
        c.attachments.orphan_ttl = Duration::from_secs(3600);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("expiring").await;
    let orphan = id_of(&uploaded(&alice, &room, "o.txt", b"orphan".to_vec()).await);
    let sent = id_of(&uploaded(&alice, &room, "s.png", real_png(32, 32)).await);
    sent_with(&alice, &room, "", &[&sent]).await;
    let dir = room_dir(&server.data, &room);

    // Within the orphan TTL nothing goes.
    clock.advance_ms(59 * 60 * 1000);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(dir.join(&orphan).is_file(), "swept before its TTL");

    clock.advance_ms(2 * 60 * 1000);
    assert!(
        eventually(Duration::from_secs(10), || !dir.join(&orphan).exists()).await,
        "the orphan outlived its TTL"
    );
    assert!(dir.join(&sent).is_file() && dir.join(format!("{sent}.thumb")).is_file());
    assert_eq!(status_of(&alice, &file_path(&sent)).await, StatusCode::OK);
    assert_eq!(
        status_of(&alice, &file_path(&orphan)).await,
        StatusCode::NOT_FOUND
    );

    // The room expires: unreadable at once, its directory gone at the next sweep.
    clock.advance_ms(24 * 3600 * 1000);
    assert_eq!(
        status_of(&alice, &file_path(&sent)).await,
        StatusCode::NOT_FOUND
    );
    assert!(
        eventually(Duration::from_secs(10), || !dir.exists()).await,
        "expired room's files left: {:?}",
        entries(&dir)
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Memory during a large upload.

/// `VmRSS` or `VmHWM` of process `pid`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_upload_keeps_server_memory_flat() {
    const SIZE: usize = 100 * MIB;
    const PIECE: usize = 64 * KIB;
    let dir = tempfile::tempdir().expect("tempdir");
    let max_bytes = (2 * SIZE).to_string();
    let server = BinaryServer::start(
        dir.path(),
        &[
            ("CONFAB_ATTACHMENTS__MAX_BYTES", &max_bytes),
            ("CONFAB_STORAGE__CACHE_MB", "16"),
        ],
    );
    let pid = server.pid();
    let alice = server.client().register("alice").await;
    let token = alice.token.clone().expect("token");
    let room = alice.create_room("big files").await;
    // Warm up the upload path (buffers, blocking threads) before the baseline.
    uploaded(&alice, &room, "warm-up.bin", noise(4 * MIB, 1)).await;
    let baseline = memory_kib(pid, "VmRSS:");
    // Reset the peak so that VmHWM measures this upload only (best effort), and sample too.
    let peak_reset = reset_peak(pid);
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(memory_kib(pid, "VmRSS:"));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };

    let started = Instant::now();
    let outcome = raw_upload(
        &server.base,
        &token,
        &format!("/api/rooms/{room}/attachments?name=big.bin"),
        Framing::Chunked,
        (0..(SIZE / PIECE) as u64).map(|i| noise(PIECE, 1000 + i)),
        Then::Finish,
    )
    .await;
    let took = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let sampled = sampler.join().expect("sampler");
    let (status, attachment) = outcome.answer.expect("an answer");
    assert_eq!(status, 201, "{attachment}");
    assert_eq!(outcome.sent, SIZE as u64);
    assert_eq!(attachment["size"], SIZE);
    assert_eq!(attachment["sha256"], outcome.sent_sha256.as_str());

    let peak = if peak_reset {
        sampled.max(memory_kib(pid, "VmHWM:"))
    } else {
        sampled
    };
    let growth_mib = peak.saturating_sub(baseline) as f64 / 1024.0;
    eprintln!(
        "100 MiB upload in {took:?}: RSS {baseline} KiB -> peak {peak} KiB (+{growth_mib:.1} MiB; \
         VmHWM reset: {peak_reset})"
    );
    assert!(
        growth_mib < 32.0,
        "server RSS grew by {growth_mib:.1} MiB during a 100 MiB upload"
    );
    // The stored file is the whole upload.
    let stored = room_dir(dir.path(), &room).join(id_of(&attachment));
    assert_eq!(
        std::fs::metadata(&stored).expect("stored file").len(),
        SIZE as u64
    );
    server.kill9();
}

/// Peak RSS growth of process `pid` over `baseline`, in KiB, since the peak was last reset.
fn peak_growth_kib(pid: u32, baseline: u64) -> u64 {
    memory_kib(pid, "VmHWM:").saturating_sub(baseline)
}

/// Resets the peak RSS (`VmHWM`) of `pid`; false where the kernel does not allow it.
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_decodes_are_bounded_in_number_so_bombs_at_once_cost_one_decode() {
    // 4,000 x 4,000 RGB: within the pixel limit, so decoded for a preview; 300 KiB that
    // inflate to 48 MB.
    const SIDE: usize = 4_000;
    let bomb = png_of_zeros(SIDE as u32, SIDE as u32, 2, SIDE * (3 * SIDE + 1) / 258 + 1);
    assert!(bomb.len() < 400 * KIB);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BinaryServer::start(dir.path(), &[("CONFAB_STORAGE__CACHE_MB", "16")]);
    let pid = server.pid();
    let alice = server.client().register("alice").await;
    let room = alice.create_room("bombs").await;
    uploaded(&alice, &room, "warm-up.png", real_png(64, 64)).await;

    let baseline = memory_kib(pid, "VmRSS:");
    if !reset_peak(pid) {
        eprintln!("cannot reset VmHWM here; skipping the memory comparison");
        return;
    }
    let one = uploaded(&alice, &room, "one.png", bomb.clone()).await;
    assert!(one.get("thumbnail").is_some(), "decoded: {one}");
    let single = peak_growth_kib(pid, baseline);

    let baseline = memory_kib(pid, "VmRSS:");
    assert!(reset_peak(pid));
    let four = futures_util::future::join_all((0..4).map(|i| {
        let (alice, room, bomb) = (&alice, &room, bomb.clone());
        async move { uploaded(alice, room, &format!("{i}.png"), bomb).await }
    }))
    .await;
    assert!(four.iter().all(|a| a.get("thumbnail").is_some()));
    let parallel = peak_growth_kib(pid, baseline);
    eprintln!("one 4000x4000 decode: +{single} KiB; four uploads at once: +{parallel} KiB");
    assert!(single > 20 * 1024, "the decode was measured: +{single} KiB");
    assert!(
        parallel < single * 5 / 2,
        "four bombs at once took +{parallel} KiB, one alone +{single} KiB: decodes must queue"
    );
    server.kill9();
}

// ---------------------------------------------------------------------------------------------
// 9. Durability.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_upload_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BinaryServer::start(dir.path(), &[]);
    let alice = server.client().register("alice").await;
    let room = alice.create_room("durable").await;
    let bytes = noise(700 * KIB, 42);
    let png = real_png(120, 80);
    let file = uploaded(&alice, &room, "data.bin", bytes.clone()).await;
    let image = uploaded(&alice, &room, "image.png", png.clone()).await;
    server.kill9();

    // A partial upload a crash left behind: removed at start.
    let stale = incoming_dir(dir.path()).join("stale.part");
    std::fs::write(&stale, b"half an upload").expect("write stale");

    let server = BinaryServer::start(dir.path(), &[]);
    let (status, login) = server
        .client()
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let mut alice = server.client();
    alice.token = Some(login["token"].as_str().expect("token").to_string());
    for (attachment, original) in [(&file, &bytes), (&image, &png)] {
        let (status, _, body) = fetch(&alice, &file_path(&id_of(attachment)), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == **original, "bytes differ after the restart");
        assert_eq!(
            sha256_hex(&body),
            attachment["sha256"].as_str().expect("sha")
        );
    }
    assert_eq!(
        status_of(&alice, &thumb_path(&id_of(&image))).await,
        StatusCode::OK
    );
    assert!(!stale.exists(), "incoming/ is emptied at start");
    // Still unsent, still the uploader's to send.
    let message = sent_with(&alice, &room, "", &[&id_of(&file), &id_of(&image)]).await;
    assert_eq!(ids_in(&message).len(), 2);
    server.kill9();
}
