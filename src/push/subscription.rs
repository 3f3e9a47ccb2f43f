//! What a browser's push subscription must look like before it is stored: an endpoint URL the
//! server may call, and keys that are a real P-256 point and a 16-byte secret.

use base64ct::{Base64UrlUnpadded, Encoding};
use url::Url;

use crate::error::{Error, Result};
use crate::integrations::outbound::{Outbound, OutboundError, MAX_URL_LEN};

/// An uncompressed P-256 point: 0x04, x, y.
const P256DH_LEN: usize = 65;
const AUTH_LEN: usize = 16;

/// The endpoint, checked for shape only (addresses are checked by `check_destination`).
pub fn parse_endpoint(raw: &str, allow_insecure: bool) -> Result<Url> {
    let invalid = |why: String| Error::invalid("invalid_endpoint", why);
    if raw.len() > MAX_URL_LEN {
        return Err(invalid(format!(
            "the endpoint is longer than {MAX_URL_LEN} bytes"
        )));
    }
    let url =
        Url::parse(raw).map_err(|err| invalid(format!("the endpoint is not a URL: {err}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        other => {
            return Err(invalid(format!(
                "the endpoint must be an https:// URL, not {other}:"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.host().is_none() {
        return Err(invalid(
            "the endpoint needs a host and no credentials".into(),
        ));
    }
    Ok(url)
}

/// Refuses an endpoint whose host is or resolves to an internal address.
pub async fn check_destination(outbound: &Outbound, url: &Url) -> Result<()> {
    outbound
        .check_destination(url)
        .await
        .map_err(|err| match err {
            OutboundError::ForbiddenAddress { .. } => Error::invalid(
                "forbidden_endpoint",
                "the endpoint's host is a loopback, private, link-local or other internal address",
            ),
            other => Error::invalid("invalid_endpoint", other.to_string()),
        })
}

/// The browser's keys, decoded and checked; returned base64url without padding.
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(String, String)> {
    let invalid = |why: &str| Error::invalid("invalid_keys", why.to_string());
    let point = decode(p256dh).ok_or_else(|| invalid("keys.p256dh is not base64url"))?;
    if point.len() != P256DH_LEN || p256::PublicKey::from_sec1_bytes(&point).is_err() {
        return Err(invalid(
            "keys.p256dh must be an uncompressed P-256 public key (65 bytes) on the curve",
        ));
    }
    let secret = decode(auth).ok_or_else(|| invalid("keys.auth is not base64url"))?;
    if secret.len() != AUTH_LEN {
        return Err(invalid("keys.auth must be 16 bytes"));
    }
    Ok((
        Base64UrlUnpadded::encode_string(&point),
        Base64UrlUnpadded::encode_string(&secret),
    ))
}

/// Base64url, with or without padding (browsers send it without).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text.trim().trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    #[test]
    fn endpoints_must_be_https_urls_with_a_host_unless_insecure_is_allowed() {
        assert!(parse_endpoint("https://push.example.org/x", false).is_ok());
        for bad in [
            "http://push.example.org/x",
            "ftp://push.example.org/x",
            "https://user:pw@push.example.org/x",
            "not a url",
            "",
        ] {
            let err = parse_endpoint(bad, false).expect_err(bad);
            assert_eq!(err.code(), "invalid_endpoint", "{bad}");
        }
        assert!(parse_endpoint("http://127.0.0.1:9/x", true).is_ok());
        let long = format!("https://push.example.org/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(
            parse_endpoint(&long, false).expect_err("long").code(),
            "invalid_endpoint"
        );
    }

    #[test]
    fn keys_must_be_a_point_on_the_curve_and_a_sixteen_byte_secret() {
        let key = p256::SecretKey::random(&mut argon2::password_hash::rand_core::OsRng);
        let point = key.public_key().to_sec1_bytes();
        let good = Base64UrlUnpadded::encode_string(&point);
        let auth = Base64UrlUnpadded::encode_string(&[7u8; 16]);
        assert_eq!(
            check_keys(&good, &auth).expect("valid"),
            (good.clone(), auth.clone())
        );
        // Padded base64url is accepted too.
        assert!(check_keys(&format!("{good}="), &format!("{auth}==")).is_ok());
        let mut off_curve = point.to_vec();
        off_curve[64] ^= 1;
        let compressed = key.public_key().to_encoded_point(true);
        for (p256dh, secret) in [
            (Base64UrlUnpadded::encode_string(&off_curve), auth.clone()),
            (
                Base64UrlUnpadded::encode_string(compressed.as_bytes()),
                auth.clone(),
            ),
            ("!!".to_string(), auth.clone()),
            (good.clone(), Base64UrlUnpadded::encode_string(&[7u8; 15])),
            (good.clone(), "%%".to_string()),
        ] {
            assert_eq!(
                check_keys(&p256dh, &secret).expect_err("bad keys").code(),
                "invalid_keys",
                "{p256dh} {secret}"
            );
        }
    }
}
