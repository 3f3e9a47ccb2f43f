//! Whether a JPEG file is whole: its main image's scans end in an end-of-image marker.
//!
//! A JPEG cut short still decodes (the decoder fills the missing rows with grey), so without
//! this a truncated upload would get a half-grey preview instead of none. The walk follows the
//! marker segments from the start, skipping each by its length, so an EXIF thumbnail (a whole
//! JPEG inside an APP1 segment, with its own end marker) is never mistaken for the end of the
//! main image; inside scan data, 0xFF is always followed by 0x00 or a restart marker.

use std::io::{self, BufReader, Read};

/// Reads `file` from its start; `Ok(false)` when it ends before the main image's end marker.
pub(super) fn is_complete(file: impl Read) -> io::Result<bool> {
    let mut bytes = BufReader::with_capacity(64 * 1024, file).bytes();
    let mut next = || bytes.next().transpose();
    if (next()?, next()?) != (Some(0xFF), Some(0xD8)) {
        return Ok(false);
    }
    loop {
        // A marker: one or more 0xFF, then its code.
        let mut code = match next()? {
            Some(0xFF) => 0xFF,
            _ => return Ok(false),
        };
        while code == 0xFF {
            code = match next()? {
                Some(byte) => byte,
                None => return Ok(false),
            };
        }
        match code {
            0xD9 => return Ok(true),
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        if !skip_segment(&mut next)? {
            return Ok(false);
        }
        if code != 0xDA {
            continue;
        }
        // Entropy-coded data after a start of scan, up to the next real marker.
        let mut after_ff = false;
        loop {
            let Some(byte) = next()? else {
                return Ok(false);
            };
            match (after_ff, byte) {
                (true, 0x00 | 0xD0..=0xD7) => after_ff = false,
                (true, 0xFF) => {}
                (true, 0xD9) => return Ok(true),
                (true, _) => {
                    // Another segment (a table, the next scan): push its code back by
                    // walking it here.
                    if !skip_segment(&mut next)? {
                        return Ok(false);
                    }
                    if byte == 0xDA {
                        after_ff = false;
                        continue;
                    }
                    break;
                }
                (false, 0xFF) => after_ff = true,
                (false, _) => {}
            }
        }
    }
}

/// Skips the rest of a segment whose marker was just read: its length, then its bytes.
fn skip_segment(next: &mut impl FnMut() -> io::Result<Option<u8>>) -> io::Result<bool> {
    let length = match (next()?, next()?) {
        (Some(high), Some(low)) => usize::from(high) << 8 | usize::from(low),
        _ => return Ok(false),
    };
    for _ in 2..length {
        if next()?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}
