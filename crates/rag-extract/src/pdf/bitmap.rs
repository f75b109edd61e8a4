//! PDFium bitmaps as PNG: the one image format every consumer (vision
//! models, browsers, OCR) takes, lossless for rendered text.

use pdfium_render::prelude::{PdfBitmap, PdfBitmapFormat};

/// A bitmap as PNG bytes, with its size in pixels.
pub(super) struct Png {
    pub(super) data: Vec<u8>,
    pub(super) width: u32,
    pub(super) height: u32,
}

/// Encodes a PDFium bitmap whose channels are in PDFium's native order
/// (blue first; rendering must not set `FPDF_REVERSE_BYTE_ORDER`). Alpha is
/// kept only when the bitmap has it.
pub(super) fn to_png(bitmap: &PdfBitmap) -> Result<Png, String> {
    let width = usize::try_from(bitmap.width()).map_err(|_| "negative bitmap width")?;
    let height = usize::try_from(bitmap.height()).map_err(|_| "negative bitmap height")?;
    if width == 0 || height == 0 {
        return Err("empty bitmap".to_owned());
    }
    let format = bitmap.format().map_err(|e| format!("{e:?}"))?;
    let raw = bitmap.as_raw_bytes();
    let pixels = normalize(&raw, width, height, format)?;
    let color = match format {
        PdfBitmapFormat::Gray => png::ColorType::Grayscale,
        PdfBitmapFormat::BGR | PdfBitmapFormat::BGRx => png::ColorType::Rgb,
        PdfBitmapFormat::BGRA => png::ColorType::Rgba,
    };
    let (w, h) = (
        u32::try_from(width).map_err(|_| "bitmap too wide")?,
        u32::try_from(height).map_err(|_| "bitmap too tall")?,
    );
    let mut data = Vec::with_capacity(pixels.len() / 4);
    let mut encoder = png::Encoder::new(&mut data, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    // fdeflate's PNG-tuned mode: several times faster than zlib's default
    // level, within a few percent of its size on rendered pages.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(Png {
        data,
        width: w,
        height: h,
    })
}

/// Tightly packed rows in PNG channel order (gray, RGB or RGBA) from
/// PDFium's rows, which are padded to a stride and blue-first.
fn normalize(
    raw: &[u8],
    width: usize,
    height: usize,
    format: PdfBitmapFormat,
) -> Result<Vec<u8>, String> {
    let (in_bpp, out_bpp) = match format {
        PdfBitmapFormat::Gray => (1, 1),
        PdfBitmapFormat::BGR => (3, 3),
        PdfBitmapFormat::BGRx => (4, 3),
        PdfBitmapFormat::BGRA => (4, 4),
    };
    let stride = raw.len() / height;
    let row_bytes = width
        .checked_mul(in_bpp)
        .ok_or("bitmap too large for memory")?;
    if stride < row_bytes {
        return Err(format!(
            "bitmap buffer of {} bytes is too small for {width}x{height} pixels",
            raw.len()
        ));
    }
    let mut out = Vec::with_capacity(width * height * out_bpp);
    for row in raw.chunks_exact(stride).take(height) {
        let row = &row[..row_bytes];
        match format {
            PdfBitmapFormat::Gray => out.extend_from_slice(row),
            PdfBitmapFormat::BGR | PdfBitmapFormat::BGRx => {
                for px in row.chunks_exact(in_bpp) {
                    out.extend_from_slice(&[px[2], px[1], px[0]]);
                }
            }
            PdfBitmapFormat::BGRA => {
                for px in row.chunks_exact(4) {
                    out.extend_from_slice(&[px[2], px[1], px[0], px[3]]);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use pdfium_render::prelude::PdfBitmapFormat;

    #[test]
    fn rows_lose_their_padding_and_channels_turn_to_rgb() {
        // 2x2 BGR with rows padded to 8 bytes.
        let raw = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        assert_eq!(
            normalize(&raw, 2, 2, PdfBitmapFormat::BGR),
            Ok(vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10])
        );
        let bgrx = [1, 2, 3, 255, 4, 5, 6, 255];
        assert_eq!(
            normalize(&bgrx, 1, 2, PdfBitmapFormat::BGRx),
            Ok(vec![3, 2, 1, 6, 5, 4])
        );
        let bgra = [1, 2, 3, 128];
        assert_eq!(
            normalize(&bgra, 1, 1, PdfBitmapFormat::BGRA),
            Ok(vec![3, 2, 1, 128])
        );
        // 3-pixel gray rows padded to 4.
        let gray = [1, 2, 3, 0, 4, 5, 6, 0];
        assert_eq!(
            normalize(&gray, 3, 2, PdfBitmapFormat::Gray),
            Ok(vec![1, 2, 3, 4, 5, 6])
        );
        assert!(normalize(&gray, 5, 2, PdfBitmapFormat::Gray).is_err());
    }
}
