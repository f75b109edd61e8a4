//! Cheap facts from the pixels themselves: the real size when the document
//! did not give one, and how much is going on in the picture (colour
//! entropy). Decoding is bounded (allocation and dimension limits, a pixel
//! budget), because the images come from untrusted documents.

use std::io::Cursor;

use image::{GenericImageView, ImageReader, Limits};

/// Largest allocation a decode may make; bigger images use the byte proxy.
const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;
/// Largest side a decode accepts.
const MAX_SIDE: u32 = 10_000;
/// Samples per side when building the colour histogram: 128 x 128 points
/// describe the colour distribution as well as every pixel would.
const SAMPLES_PER_SIDE: u32 = 128;

/// Width and height from the image header, without decoding the pixels.
pub fn dimensions(data: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Colour entropy of the decoded image in 0..=1: about 0.1 for a flat logo,
/// 0.2-0.4 for a chart or a page of text, near 1 for a photograph. `None`
/// when the image cannot be decoded within the limits.
pub fn colour_entropy(data: &[u8]) -> Option<f64> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .ok()?;
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    // 4 bits per channel, plus one bin for transparent pixels.
    let mut histogram = vec![0u32; 4097];
    let (sx, sy) = (w.min(SAMPLES_PER_SIDE), h.min(SAMPLES_PER_SIDE));
    for j in 0..sy {
        let y = (u64::from(j) * u64::from(h) / u64::from(sy)) as u32;
        for i in 0..sx {
            let x = (u64::from(i) * u64::from(w) / u64::from(sx)) as u32;
            let [r, g, b, a] = image.get_pixel(x, y).0;
            let bin = if a < 128 {
                4096
            } else {
                (usize::from(r >> 4) << 8) | (usize::from(g >> 4) << 4) | usize::from(b >> 4)
            };
            histogram[bin] += 1;
        }
    }
    let total = f64::from(sx * sy);
    let bits: f64 = histogram
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / total;
            -p * p.log2()
        })
        .sum();
    // Photographs reach 8 bits and more over 4096 bins; charts 1.5-3.
    Some((bits / 8.0).clamp(0.0, 1.0))
}

/// When the pixels cannot be read: compressed bits per pixel as a proxy for
/// detail (flat artwork compresses to almost nothing, photographs do not),
/// in 0..=1. JPEG is lossy and denser, so its scale is tighter.
pub fn byte_proxy(bytes: usize, width: u32, height: u32, media_type: &str) -> Option<f64> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return None;
    }
    let bpp = bytes as f64 * 8.0 / pixels as f64;
    let full_detail = if media_type == "image/jpeg" { 2.0 } else { 6.0 };
    Some((bpp / full_detail).clamp(0.0, 1.0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    /// An encoded PNG of `w` x `h` pixels coloured by `f`.
    pub(crate) fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb(f(x, y)));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .expect("encode test png");
        out.into_inner()
    }

    /// Deterministic pseudo-random noise, a stand-in for a photograph.
    pub(crate) fn noise(x: u32, y: u32) -> [u8; 3] {
        let mut v = (x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77)).wrapping_add(x ^ y);
        v ^= v >> 15;
        v = v.wrapping_mul(0x2C1B_3C6D);
        v ^= v >> 12;
        [
            (v & 0xff) as u8,
            ((v >> 8) & 0xff) as u8,
            ((v >> 16) & 0xff) as u8,
        ]
    }

    #[test]
    fn reads_dimensions_from_the_header() {
        assert_eq!(
            dimensions(&png(300, 120, |_, _| [0, 0, 0])),
            Some((300, 120))
        );
        assert_eq!(dimensions(b"not an image"), None);
    }

    #[test]
    fn a_flat_logo_has_less_entropy_than_noise() {
        let logo = png(200, 80, |x, _| {
            if x < 100 {
                [200, 0, 0]
            } else {
                [255, 255, 255]
            }
        });
        let photo = png(200, 80, noise);
        let flat = colour_entropy(&logo).expect("decodes");
        let busy = colour_entropy(&photo).expect("decodes");
        assert!(flat <= 0.15, "logo entropy {flat}");
        assert!(busy >= 0.9, "noise entropy {busy}");
    }

    #[test]
    fn garbage_is_not_decoded() {
        assert_eq!(colour_entropy(&[0x89, b'P', b'N', b'G', 0, 1, 2]), None);
    }

    #[test]
    fn the_byte_proxy_scales_with_density() {
        assert_eq!(byte_proxy(10, 0, 10, "image/png"), None);
        let sparse = byte_proxy(1_000, 400, 400, "image/png").unwrap_or(1.0);
        let dense = byte_proxy(300_000, 400, 400, "image/png").unwrap_or(0.0);
        assert!(sparse < 0.01 && dense >= 1.0, "{sparse} {dense}");
    }
}
