//! Hostile files built byte by byte, because no encoder will write them: a PNG whose header claims
//! more pixels than its data holds, and a JPEG carrying EXIF orientation and GPS tags.

/// Bytes inside the GPS block of [`exif_app1_rotate90_with_gps`], to look for in thumbnails.
pub(super) const GPS_MARKER: &[u8] = b"GPS-FIXTURE-47.3769N";

/// A PNG of `width` x `height` pixels of `color_type` whose IDAT is a zlib stream of
/// `1 + 258 * matches` zero bytes: the row data of a black image, or a prefix of it.
pub(super) fn png_of_zeros(width: u32, height: u32, color_type: u8, matches: usize) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, then colour type, deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, color_type, 0, 0, 0]);

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &zlib_zeros(matches));
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let length = u32::try_from(data.len()).expect("chunk fits");
    png.extend_from_slice(&length.to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// The CRC-32 of PNG chunks (ISO-HDLC, reflected 0xEDB88320), bit by bit.
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

/// One fixed-Huffman deflate block (RFC 1951): a literal zero, then `matches` copies of
/// "258 bytes from distance 1", 13 bits each: the densest way deflate can say "zeros".
fn zlib_zeros(matches: usize) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.value(1, 1); // the final block
    bits.value(1, 2); // fixed Huffman codes
    bits.code(0b0011_0000, 8); // literal 0
    for _ in 0..matches {
        bits.code(0b1100_0101, 8); // length code 285: 258 bytes
        bits.code(0, 5); // distance code 0: distance 1
    }
    bits.code(0, 7); // end of block
    let mut zlib = vec![0x78, 0x01];
    zlib.extend_from_slice(&bits.finish());
    // Adler-32 of n zero bytes: a stays 1, b adds it n times.
    let total = u32::try_from(1 + 258 * matches).expect("small fixture") % 65_521;
    zlib.extend_from_slice(&((total << 16) | 1).to_be_bytes());
    zlib
}

/// Packs bits least significant first, as deflate does.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u8,
    used: u8,
}

impl BitWriter {
    fn bit(&mut self, bit: u32) {
        self.current |= u8::from(bit & 1 == 1) << self.used;
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.current);
            self.current = 0;
            self.used = 0;
        }
    }

    /// A number, least significant bit first.
    fn value(&mut self, value: u32, count: u32) {
        (0..count).for_each(|i| self.bit(value >> i));
    }

    /// A Huffman code, most significant bit first.
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

/// An APP1 segment with a big-endian TIFF block: IFD0 holds Orientation = 6 (rotate 90 degrees
/// clockwise to display) and a pointer to a GPS IFD with a latitude ref and [`GPS_MARKER`].
pub(super) fn exif_app1_rotate90_with_gps() -> Vec<u8> {
    const IFD0: u32 = 8;
    const GPS_IFD: u32 = IFD0 + 2 + 2 * 12 + 4;
    const GPS_DATA: u32 = GPS_IFD + 2 + 2 * 12 + 4;
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_be_bytes());
        tiff.extend_from_slice(&kind.to_be_bytes());
        tiff.extend_from_slice(&count.to_be_bytes());
        tiff.extend_from_slice(&value);
    };
    let marker_len = u32::try_from(GPS_MARKER.len()).expect("short marker");

    let mut tiff = b"MM\0\x2a".to_vec();
    tiff.extend_from_slice(&IFD0.to_be_bytes());
    tiff.extend_from_slice(&2u16.to_be_bytes());
    entry(&mut tiff, 0x0112, 3, 1, [0, 6, 0, 0]); // Orientation, SHORT
    entry(&mut tiff, 0x8825, 4, 1, GPS_IFD.to_be_bytes()); // GPS IFD pointer, LONG
    tiff.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(tiff.len(), GPS_IFD as usize);
    tiff.extend_from_slice(&2u16.to_be_bytes());
    entry(&mut tiff, 0x0001, 2, 2, *b"N\0\0\0"); // GPSLatitudeRef, ASCII
    entry(&mut tiff, 0x001b, 7, marker_len, GPS_DATA.to_be_bytes()); // GPSProcessingMethod
    tiff.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(tiff.len(), GPS_DATA as usize);
    tiff.extend_from_slice(GPS_MARKER);

    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let length = u16::try_from(payload.len() + 2).expect("segment fits");
    let mut segment = vec![0xff, 0xe1];
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(&payload);
    segment
}

/// `jpeg` with `segment` right after its start-of-image marker, where EXIF belongs.
pub(super) fn insert_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], b"\xff\xd8", "not a JPEG");
    [&jpeg[..2], segment, &jpeg[2..]].concat()
}

#[test]
fn crc32_matches_the_png_specification() {
    // The CRC of every PNG's IEND chunk.
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
}
