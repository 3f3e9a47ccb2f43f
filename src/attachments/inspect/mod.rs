//! What an uploaded file really is, judged from its bytes alone.
//!
//! The client's file name and `Content-Type` header are never consulted: a browser renders what it
//! is told is an image, so only the four raster formats whose decoders run here may ever be served
//! inline (see [`is_inline_image`]). Everything in this module blocks and can spend a lot of CPU
//! and memory on one file; callers run it in `spawn_blocking` behind a small semaphore.

mod jpeg;
mod thumbnail;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use image::ImageFormat;

/// Default largest image, in pixels, decoded for a thumbnail (an 8,000 x 6,000 photo fits).
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
/// Default budget for everything one decode allocates, the decoded pixels included.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;
/// Default longest side of a thumbnail, in pixels.
pub const DEFAULT_THUMBNAIL_SIZE: u32 = 320;
/// Default largest image file looked into: the JPEG decoder reads a whole file even for its
/// header, so a bigger one would cost its size in memory.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The content type of valid UTF-8 text, HTML, XML and SVG included: served as `text/plain` they
/// cannot run script even where some other header is forgotten.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// The content type of anything not recognised.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// How much of a file is read to sniff its type: every signature `infer` knows sits in the first
/// KiB or so, and 8 KiB of text is enough to call the file text.
const SNIFF_LEN: u64 = 8 * 1024;

/// Limits on what is decoded, from the config.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Images with more pixels than this get dimensions but no thumbnail, so a small file that
    /// claims 20,000 x 20,000 pixels costs a header read and nothing more.
    pub max_pixels: u64,
    /// Budget for the allocations of one decode, the decoded pixels included.
    pub max_decoded_bytes: u64,
    /// The longest side of a thumbnail; smaller images keep their size.
    pub thumbnail_size: u32,
    /// Image files larger than this are typed but neither measured nor previewed.
    pub max_file_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            thumbnail_size: DEFAULT_THUMBNAIL_SIZE,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// What the bytes of a stored file are.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The MIME type detected from the bytes: e.g. `image/png`, `application/pdf`,
    /// [`TEXT_PLAIN`] for UTF-8 text without NUL bytes, [`OCTET_STREAM`] when unknown.
    pub content_type: String,
    /// Set for PNG, JPEG, GIF and WebP whose header could be read.
    pub image: Option<ImageInfo>,
}

/// The size of an image and its thumbnail.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// Width as displayed, i.e. after the EXIF orientation is applied.
    pub width: u32,
    /// Height as displayed, i.e. after the EXIF orientation is applied.
    pub height: u32,
    /// A JPEG that fits in `thumbnail_size` on its longest side, re-encoded from pixels so that no
    /// metadata of the original (EXIF, GPS position) survives. `None` when the image is too large
    /// or could not be decoded.
    pub thumbnail: Option<Vec<u8>>,
}

/// Sniffs the content type of the file at `path` from its first bytes and, for PNG, JPEG, GIF and
/// WebP, reads its dimensions and makes a thumbnail.
///
/// Only I/O errors on the file itself are errors: a corrupt, truncated or oversized image still
/// yields its sniffed content type, with dimensions if its header was readable.
pub fn inspect(path: &Path, limits: &ImageLimits) -> io::Result<Inspection> {
    let mut file = File::open(path)?;
    let mut head = Vec::new();
    (&mut file).take(SNIFF_LEN).read_to_end(&mut head)?;
    let more_follows = head.len() as u64 == SNIFF_LEN;
    let content_type = sniff(&head, more_follows);

    let small_enough = file.metadata()?.len() <= limits.max_file_bytes;
    let image = match decodable_format(content_type) {
        Some(format) if small_enough => {
            file.seek(SeekFrom::Start(0))?;
            // A truncated JPEG would decode with grey rows for the missing part: no preview.
            let whole = format != ImageFormat::Jpeg || jpeg::is_complete(&mut file)?;
            file.seek(SeekFrom::Start(0))?;
            thumbnail::inspect_image(file, format, limits, whole)
        }
        _ => None,
    };
    Ok(Inspection {
        content_type: content_type.to_owned(),
        image,
    })
}

/// Whether a file of this content type may be shown in the browser rather than downloaded.
///
/// An allowlist of the raster formats [`inspect`] itself sniffs and decodes: SVG and HTML can carry
/// script and are never inline, whatever else is added to the sniffer.
pub fn is_inline_image(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    ["image/png", "image/jpeg", "image/gif", "image/webp"]
        .iter()
        .any(|inline| essence.eq_ignore_ascii_case(inline))
}

/// The content type of a file that starts with `head`; `more_follows` when the file is longer.
fn sniff(head: &[u8], more_follows: bool) -> &'static str {
    match infer::get(head) {
        // infer's text matchers name HTML, XML and shell scripts, types a browser may act on; as
        // text they are harmless. It has no SVG matcher today; the check keeps an upgrade honest.
        Some(kind)
            if kind.matcher_type() != infer::MatcherType::Text
                && !kind.mime_type().contains("svg") =>
        {
            kind.mime_type()
        }
        _ if is_utf8_text(head, more_follows) => TEXT_PLAIN,
        _ => OCTET_STREAM,
    }
}

fn is_utf8_text(head: &[u8], more_follows: bool) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // The sniff window may end inside a multi-byte character.
        Err(err) => more_follows && err.error_len().is_none(),
    }
}

/// The image format to decode for a sniffed content type: the inline types, and nothing else.
fn decodable_format(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}
