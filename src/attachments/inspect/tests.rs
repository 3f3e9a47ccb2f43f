use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::{DynamicImage, Frame, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use super::fixtures::{exif_app1_rotate90_with_gps, insert_after_soi, png_of_zeros, GPS_MARKER};
use super::*;

/// Writes `bytes` under `name` in a fresh directory and inspects the file.
fn inspect_bytes(name: &str, bytes: &[u8], limits: &ImageLimits) -> Inspection {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    inspect(&path, limits).expect("inspect")
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    if format == ImageFormat::Gif {
        // The default GIF speed runs the best palette search, seconds of CPU per fixture.
        GifEncoder::new_with_speed(&mut bytes, 30)
            .encode_frame(Frame::new(image.to_rgba8()))
            .expect("encode fixture");
    } else {
        image.write_to(&mut bytes, format).expect("encode fixture");
    }
    bytes.into_inner()
}

/// A non-square image with some structure, so that encoders have real work and orientation shows.
fn landscape(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    })
}

fn decode_thumbnail(info: &ImageInfo) -> DynamicImage {
    let jpeg = info.thumbnail.as_ref().expect("a thumbnail");
    image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).expect("thumbnail is a JPEG")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn each_inline_format_gets_its_type_size_and_a_scaled_jpeg_thumbnail() {
    let rgb = DynamicImage::ImageRgb8(landscape(480, 240));
    let rgba = DynamicImage::ImageRgba8(rgb.to_rgba8());
    let cases = [
        (ImageFormat::Png, &rgba, "image/png"),
        (ImageFormat::Jpeg, &rgb, "image/jpeg"),
        (ImageFormat::Gif, &rgba, "image/gif"),
        (ImageFormat::WebP, &rgba, "image/webp"),
    ];
    for (format, image, content_type) in cases {
        // The name lies on purpose: only the bytes count.
        let found = inspect_bytes(
            "upload.bin",
            &encode(image, format),
            &ImageLimits::default(),
        );
        assert_eq!(found.content_type, content_type);
        assert!(is_inline_image(&found.content_type));
        let info = found.image.expect("image info");
        assert_eq!((info.width, info.height), (480, 240), "{content_type}");
        let thumbnail = decode_thumbnail(&info);
        assert_eq!(thumbnail.dimensions(), (320, 160), "{content_type}");
    }
}

#[test]
fn small_images_are_not_upscaled_and_the_longest_side_follows_the_limit() {
    let png = encode(
        &DynamicImage::ImageRgb8(landscape(40, 100)),
        ImageFormat::Png,
    );
    let found = inspect_bytes("a.png", &png, &ImageLimits::default());
    assert_eq!(
        decode_thumbnail(&found.image.expect("image")).dimensions(),
        (40, 100)
    );

    let limits = ImageLimits {
        thumbnail_size: 25,
        ..ImageLimits::default()
    };
    let found = inspect_bytes("a.png", &png, &limits);
    assert_eq!(
        decode_thumbnail(&found.image.expect("image")).dimensions(),
        (10, 25)
    );
}

#[test]
fn transparency_is_flattened_onto_white() {
    let clear = RgbaImage::from_pixel(8, 8, Rgba([0, 0, 0, 0]));
    let png = encode(&DynamicImage::ImageRgba8(clear), ImageFormat::Png);
    let found = inspect_bytes("clear.png", &png, &ImageLimits::default());
    let thumbnail = decode_thumbnail(&found.image.expect("image")).to_rgb8();
    let Rgb([r, g, b]) = *thumbnail.get_pixel(4, 4);
    assert!(r > 245 && g > 245 && b > 245, "got {r},{g},{b}");
}

#[test]
fn exif_orientation_is_applied_and_no_metadata_reaches_the_thumbnail() {
    let jpeg = encode(
        &DynamicImage::ImageRgb8(landscape(64, 32)),
        ImageFormat::Jpeg,
    );
    let tagged = insert_after_soi(&jpeg, &exif_app1_rotate90_with_gps());
    assert!(contains(&tagged, b"Exif") && contains(&tagged, GPS_MARKER));

    let found = inspect_bytes("photo.jpg", &tagged, &ImageLimits::default());
    assert_eq!(found.content_type, "image/jpeg");
    let info = found.image.expect("image info");
    // Orientation 6: stored 64 wide, shown 32 wide and 64 high.
    assert_eq!((info.width, info.height), (32, 64));
    assert_eq!(decode_thumbnail(&info).dimensions(), (32, 64));
    let thumbnail = info.thumbnail.expect("thumbnail");
    assert!(
        !contains(&thumbnail, b"Exif"),
        "EXIF copied into the thumbnail"
    );
    assert!(
        !contains(&thumbnail, b"GPS"),
        "GPS data copied into the thumbnail"
    );
}

#[test]
fn the_zero_png_builder_makes_a_valid_png() {
    // 7 rows of a filter byte and 36 grey pixels are 259 zero bytes: one literal and one
    // 258-byte match. Decoding it proves the bomb below differs from a real PNG only in its size.
    let png = png_of_zeros(36, 7, 0, 1);
    let found = inspect_bytes("zeros.png", &png, &ImageLimits::default());
    let info = found.image.expect("image info");
    let thumbnail = decode_thumbnail(&info).to_luma8();
    assert_eq!(thumbnail.dimensions(), (36, 7));
    assert!(thumbnail.pixels().all(|p| p.0[0] < 8), "a black image");
}

#[test]
fn a_decompression_bomb_reports_its_size_and_is_never_decoded() {
    // 20,000 x 20,000 RGB claims 1.2 GB of pixels from a ~4 KiB file.
    let bomb = png_of_zeros(20_000, 20_000, 2, 2_500);
    assert!(bomb.len() < 8 * 1024);
    let found = inspect_bytes("bomb.png", &bomb, &ImageLimits::default());
    assert_eq!(found.content_type, "image/png");
    assert_eq!(
        found.image,
        Some(ImageInfo {
            width: 20_000,
            height: 20_000,
            thumbnail: None
        })
    );

    // With no pixel limit, the allocation budget still refuses before allocating.
    let limits = ImageLimits {
        max_pixels: u64::MAX,
        ..ImageLimits::default()
    };
    let found = inspect_bytes("bomb.png", &bomb, &limits);
    assert_eq!(found.image.expect("image info").thumbnail, None);
}

#[test]
fn configured_limits_withhold_the_thumbnail_but_not_the_size() {
    let png = encode(
        &DynamicImage::ImageRgb8(landscape(64, 32)),
        ImageFormat::Png,
    );
    for limits in [
        ImageLimits {
            max_pixels: 64 * 32 - 1,
            ..ImageLimits::default()
        },
        ImageLimits {
            max_decoded_bytes: 1_000,
            ..ImageLimits::default()
        },
    ] {
        let info = inspect_bytes("a.png", &png, &limits)
            .image
            .expect("image info");
        assert_eq!((info.width, info.height, info.thumbnail), (64, 32, None));
    }
}

#[test]
fn truncated_images_keep_their_type_and_lose_only_what_is_missing() {
    let png = encode(
        &DynamicImage::ImageRgb8(landscape(200, 100)),
        ImageFormat::Png,
    );
    let found = inspect_bytes("half.png", &png[..png.len() / 2], &ImageLimits::default());
    assert_eq!(found.content_type, "image/png");
    assert_eq!(
        found.image,
        Some(ImageInfo {
            width: 200,
            height: 100,
            thumbnail: None
        })
    );

    // Cut inside the header: still sniffed as PNG, but no size to report.
    let found = inspect_bytes("stub.png", &png[..20], &ImageLimits::default());
    assert_eq!(found.content_type, "image/png");
    assert_eq!(found.image, None);

    let jpeg = encode(
        &DynamicImage::ImageRgb8(landscape(200, 100)),
        ImageFormat::Jpeg,
    );
    let found = inspect_bytes("half.jpg", &jpeg[..jpeg.len() / 2], &ImageLimits::default());
    assert_eq!(found.content_type, "image/jpeg");
    // The decoder would fill in the missing rows with grey; a cut JPEG gets its size only.
    assert_eq!(
        found.image,
        Some(ImageInfo {
            width: 200,
            height: 100,
            thumbnail: None
        })
    );
    // Cut just before its end marker: still not whole.
    let found = inspect_bytes(
        "almost.jpg",
        &jpeg[..jpeg.len() - 2],
        &ImageLimits::default(),
    );
    assert_eq!(found.image.expect("image info").thumbnail, None);
}

#[test]
fn a_whole_jpeg_is_told_from_a_cut_one_by_its_markers() {
    let jpeg = encode(
        &DynamicImage::ImageRgb8(landscape(120, 80)),
        ImageFormat::Jpeg,
    );
    let whole = |bytes: &[u8]| super::jpeg::is_complete(bytes).expect("read");
    assert!(whole(&jpeg));
    // Segments before the scan (EXIF here) are skipped by their length, whatever they hold.
    let with_exif = insert_after_soi(&jpeg, &exif_app1_rotate90_with_gps());
    assert!(whole(&with_exif));
    assert!(!whole(&with_exif[..with_exif.len() / 2]));
    for cut in [2, 100, jpeg.len() / 2, jpeg.len() - 1] {
        assert!(!whole(&jpeg[..cut]), "cut at {cut}");
    }
    assert!(!whole(b"not a jpeg"));
    // Trailing data after the end marker (phones append their own) leaves it whole.
    let mut trailed = jpeg.clone();
    trailed.extend_from_slice(b"SEFT trailer");
    assert!(whole(&trailed));
}

#[test]
fn markup_named_like_an_image_is_text_and_never_inline() {
    let html: &[u8] = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
    let svg: &[u8] =
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><rect width=\"9\"/></svg>";
    let xml_svg: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    for bytes in [html, svg, xml_svg] {
        let found = inspect_bytes("evil.png", bytes, &ImageLimits::default());
        assert_eq!(found.content_type, TEXT_PLAIN);
        assert_eq!(found.image, None);
        assert!(!is_inline_image(&found.content_type));
    }
}

#[test]
fn text_binary_and_documents_are_told_apart() {
    let limits = ImageLimits::default();
    let text = "Hello, team! Grüße, 你好 🎉\n";
    assert_eq!(
        inspect_bytes("a.png", text.as_bytes(), &limits).content_type,
        TEXT_PLAIN
    );

    // Longer than the sniff window, which ends inside a 3-byte character.
    let long = "€".repeat(10_000);
    assert_eq!(
        inspect_bytes("a", long.as_bytes(), &limits).content_type,
        TEXT_PLAIN
    );
    // A file that itself ends inside a character is not text.
    let cut = &long.as_bytes()[..long.len() - 1];
    assert_eq!(
        inspect_bytes("a", &cut[..100], &limits).content_type,
        OCTET_STREAM
    );
    assert_eq!(
        inspect_bytes("a", b"text\0with a NUL", &limits).content_type,
        OCTET_STREAM
    );

    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_be_bytes()[0]
        })
        .collect();
    let found = inspect_bytes("noise.jpg", &noise, &limits);
    assert_eq!(
        (found.content_type.as_str(), found.image),
        (OCTET_STREAM, None)
    );

    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
    assert_eq!(
        inspect_bytes("a.png", pdf, &limits).content_type,
        "application/pdf"
    );
}

#[test]
fn an_animated_gif_is_thumbnailed_from_its_first_frame() {
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut gif, 30);
        let red = RgbaImage::from_pixel(16, 16, Rgba([255, 0, 0, 255]));
        let blue = RgbaImage::from_pixel(16, 16, Rgba([0, 0, 255, 255]));
        encoder
            .encode_frames([Frame::new(red), Frame::new(blue)])
            .expect("encode gif");
    }
    let found = inspect_bytes("anim.gif", &gif, &ImageLimits::default());
    assert_eq!(found.content_type, "image/gif");
    let thumbnail = decode_thumbnail(&found.image.expect("image")).to_rgb8();
    let Rgb([r, _, b]) = *thumbnail.get_pixel(8, 8);
    assert!(r > 200 && b < 60, "got r={r} b={b}");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = inspect(&dir.path().join("gone"), &ImageLimits::default()).expect_err("missing");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn an_empty_file_is_empty_text() {
    let found = inspect_bytes("empty", b"", &ImageLimits::default());
    assert_eq!(
        (found.content_type.as_str(), found.image),
        (TEXT_PLAIN, None)
    );
}

#[test]
fn only_the_four_raster_types_are_inline() {
    for inline in [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "IMAGE/PNG",
        "image/png; x=y",
    ] {
        assert!(is_inline_image(inline), "{inline}");
    }
    for other in [
        "image/svg+xml",
        "text/html",
        "text/plain; charset=utf-8",
        "application/xhtml+xml",
        "image/tiff",
        "image/bmp",
        "image/x-icon",
        "application/octet-stream",
        "image/pngx",
        "",
    ] {
        assert!(!is_inline_image(other), "{other}");
    }
}

#[test]
fn image_files_over_the_size_limit_are_typed_but_not_read() {
    let png = encode(
        &DynamicImage::ImageRgb8(landscape(64, 32)),
        ImageFormat::Png,
    );
    let limits = ImageLimits {
        max_file_bytes: png.len() as u64 - 1,
        ..ImageLimits::default()
    };
    let found = inspect_bytes("big.png", &png, &limits);
    assert_eq!(found.content_type, "image/png");
    assert_eq!(found.image, None);
}
