//! Arbitrary bytes as a backup file, through the verifier `confab backup verify` and restore's
//! first pass run (`Store::verify_backup_from`). It must refuse damage with an error, never
//! panic, hang or buffer more than a line.
//!
//! The fuzzer cannot compute SHA-256, so most inputs stop at the checksum. Each input is
//! therefore read a second time "sealed": with its last line's `sha256` replaced by the real
//! digest of the bytes before it, which lets mutations reach the checks behind the checksum
//! (counts, the first bad line's error).

#![no_main]

use std::io::BufReader;

use confab::store::{BackupError, Store};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    verify(data);
    if let Some(sealed) = seal(data) {
        verify(&sealed);
    }
});

fn verify(data: &[u8]) {
    // A small read buffer, varied with the input, so lines straddle `fill_buf` calls the way
    // they do in a large file read through the verifier's 64 KiB buffer.
    let capacity = 1 + data.len() % 61;
    let mut last_progress = 0;
    let result = Store::verify_backup_from(BufReader::with_capacity(capacity, data), &mut |b| {
        assert!(b >= last_progress, "progress went backwards");
        last_progress = b;
    });
    match result {
        Ok(stats) => assert_eq!(stats.bytes, data.len() as u64, "a valid file is read whole"),
        Err(BackupError::Io(err)) => panic!("reading from memory cannot fail: {err}"),
        Err(_) => {}
    }
}

/// `data` with the `sha256` of its last line (a JSON object ending in `\n`) set to the digest
/// of every byte before that line, as a correct writer would have; `None` if there is no such
/// line or it already holds that digest.
fn seal(data: &[u8]) -> Option<Vec<u8>> {
    let body = data.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut trailer: serde_json::Value = serde_json::from_slice(&body[start..]).ok()?;
    let digest: String = Sha256::digest(&body[..start])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let slot = trailer.as_object_mut()?.get_mut("sha256")?;
    if slot.as_str() == Some(digest.as_str()) {
        return None;
    }
    *slot = serde_json::Value::String(digest);
    let mut sealed = body[..start].to_vec();
    serde_json::to_writer(&mut sealed, &trailer).ok()?;
    sealed.push(b'\n');
    Some(sealed)
}
