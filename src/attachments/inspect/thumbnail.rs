//! Dimensions and a thumbnail for the raster formats that are served inline.
//!
//! The header is read and the pixel count checked before anything is decoded: decoders allocate
//! the whole output up front, so a few KiB that claim 20,000 x 20,000 pixels would otherwise cost
//! gigabytes before the first row turned out to be missing.

use std::fs::File;
use std::io::BufReader;
use std::panic::{self, AssertUnwindSafe};

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{
    DynamicImage, ImageDecoder, ImageFormat, ImageReader, ImageResult, Limits, Rgb, RgbImage,
};

use super::{ImageInfo, ImageLimits};

/// JPEG quality of thumbnails: small files without visible artefacts at thumbnail size.
const THUMBNAIL_QUALITY: u8 = 80;

/// Dimensions and thumbnail of `file`, already sniffed as `format` (no thumbnail unless
/// `whole`); `None` when even its header cannot be read.
pub(super) fn inspect_image(
    file: File,
    format: ImageFormat,
    limits: &ImageLimits,
    whole: bool,
) -> Option<ImageInfo> {
    let (decoder, orientation) = guarded("header", || read_header(file, format, limits))?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    let thumbnail = if !whole {
        tracing::debug!(width, height, "truncated image; no thumbnail");
        None
    } else if pixels > limits.max_pixels {
        tracing::debug!(width, height, "image too large to decode; no thumbnail");
        None
    } else {
        guarded("decode", || make_thumbnail(decoder, orientation, limits))
    };
    let (width, height) = displayed_size((width, height), orientation);
    Some(ImageInfo {
        width,
        height,
        thumbnail,
    })
}

/// A decoder positioned after the header, and the image's EXIF orientation.
fn read_header(
    file: File,
    format: ImageFormat,
    limits: &ImageLimits,
) -> ImageResult<(impl ImageDecoder, Orientation)> {
    let mut reader = ImageReader::with_format(BufReader::new(file), format);
    // No width or height limit yet: an oversized image must still report its size.
    let mut header_limits = Limits::no_limits();
    header_limits.max_alloc = Some(limits.max_decoded_bytes);
    reader.limits(header_limits);
    // The JPEG decoder reads the whole file into memory even for this: bounded by the upload size
    // limit, not by `limits`.
    let mut decoder = reader.into_decoder()?;
    // A broken EXIF block is no reason to lose the thumbnail: show the pixels as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok((decoder, orientation))
}

/// Decodes the image (the first frame of an animation) and re-encodes it, scaled down and upright,
/// as a JPEG without any of the original's metadata.
fn make_thumbnail(
    mut decoder: impl ImageDecoder,
    orientation: Orientation,
    limits: &ImageLimits,
) -> ImageResult<Vec<u8>> {
    let (width, height) = decoder.dimensions();
    let mut budget = Limits::no_limits();
    budget.max_image_width = Some(width);
    budget.max_image_height = Some(height);
    budget.max_alloc = Some(limits.max_decoded_bytes);
    // The decoded pixels count against the budget; what is left bounds the decoder's own buffers.
    budget.reserve(decoder.total_bytes())?;
    decoder.set_limits(budget)?;
    let image = DynamicImage::from_decoder(decoder)?;

    let size = limits.thumbnail_size.max(1);
    // Scaling before rotating turns the rotation into a copy of a few thousand pixels.
    let mut image = if image.width() > size || image.height() > size {
        image.thumbnail(size, size)
    } else {
        image
    };
    image.apply_orientation(orientation);

    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, THUMBNAIL_QUALITY)
        .encode_image(&flatten_onto_white(&image))?;
    Ok(jpeg)
}

/// Width and height as displayed: EXIF rotations by a quarter turn swap them.
fn displayed_size((width, height): (u32, u32), orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    }
}

/// RGB pixels for JPEG, which has no alpha: transparent areas become white, as on a light page,
/// rather than the black that dropping the alpha channel would show.
fn flatten_onto_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, pixel) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, alpha] = pixel.0.map(u16::from);
        // At most 255 * 255 + 127, so u16 holds it and the quotient fits a u8.
        let over_white = |c: u16| ((c * alpha + 255 * (255 - alpha) + 127) / 255) as u8;
        *out = Rgb([over_white(r), over_white(g), over_white(b)]);
    }
    rgb
}

/// Runs one decoder step; its errors and its panics both mean "no result" and are logged.
///
/// Decoders parse hostile bytes and should not panic, but one that does must not take a blocking
/// worker, and the upload with it, down. Unwind safety is asserted because everything the step
/// touches is owned by it and dropped with it.
fn guarded<T>(step: &'static str, run: impl FnOnce() -> ImageResult<T>) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, step, "image not usable");
            None
        }
        Err(_) => {
            tracing::warn!(step, "image decoder panicked");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_decoder_step_yields_nothing_instead_of_unwinding() {
        let result: Option<()> = guarded("test", || panic!("hostile bytes"));
        assert_eq!(result, None);
        assert_eq!(guarded("test", || Ok(7)), Some(7));
    }

    #[test]
    fn quarter_turns_swap_the_displayed_size() {
        assert_eq!(displayed_size((4, 3), Orientation::Rotate270FlipH), (3, 4));
        assert_eq!(displayed_size((4, 3), Orientation::Rotate180), (4, 3));
    }
}
