//! Importance of each embedded image, from cheap signals: how big it is,
//! how much detail it holds, what its author said about it, whether it is a
//! banner-shaped strip, and whether it repeats on several pages (headers,
//! footers, slide-master logos). Only images worth a vision-model call score
//! high; the scale is 0..=1.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::caption::{self, Caption};
use super::pixels;
use super::VisualsConfig;
use crate::ports::ExtractedImage;
use crate::ports::SUPPORTED_MEDIA_TYPES;

/// Total pixels decoded per document for the entropy signal; images past it
/// use the byte proxy, so a deck of 500 photos costs bounded CPU.
const DECODE_BUDGET_PIXELS: u64 = 48_000_000;
/// Largest single image decoded (16 MP, the decode allocation limit).
const MAX_DECODE_PIXELS: u64 = 16_000_000;
/// Areas between these (in pixels) map to 0..=1 on a log scale: a 64 px
/// square counts nothing, a 1.5 MP figure counts fully.
const AREA_FLOOR: f64 = 64.0 * 64.0;
const AREA_FULL: f64 = 1_500_000.0;

/// Why an image can never be selected, whatever its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// Under the minimum side in width or height: an icon or a bullet.
    Tiny,
    /// A format the vision APIs do not take (EMF, TIFF, SVG, ...).
    UnsupportedType,
    /// Over the size the vision APIs take.
    TooLarge,
    /// Neither the document nor the image header gives a size: the bytes
    /// are not an image a vision API would read.
    Unreadable,
}

/// The verdict on one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Index into the document's images.
    pub index: usize,
    /// Importance in 0..=1 (0 for ineligible images).
    pub score: f64,
    /// Why it can never be selected, if so.
    pub ineligible: Option<Ineligible>,
    /// Hash of the image bytes: identical images share it.
    pub hash: u64,
}

/// The media type with common aliases folded (`image/jpg` → `image/jpeg`).
pub fn normalized_media_type(media_type: &str) -> String {
    let lower = media_type.trim().to_ascii_lowercase();
    match lower.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".to_owned(),
        "image/x-png" => "image/png".to_owned(),
        _ => lower,
    }
}

/// Scores every image of a document. CPU-bound (it may decode images):
/// callers run it on a blocking thread.
pub fn assess(images: &[ExtractedImage], config: &VisualsConfig) -> Vec<Assessment> {
    let hashes: Vec<u64> = images.iter().map(|i| hash(&i.data)).collect();
    let repeated = repeated_across_pages(images, &hashes);
    let mut decode_budget = DECODE_BUDGET_PIXELS;
    images
        .iter()
        .zip(hashes)
        .enumerate()
        .map(|(index, (image, hash))| {
            let (width, height) = size_of(image);
            let ineligible = ineligibility(image, width, height, config);
            let score = match ineligible {
                Some(_) => 0.0,
                None => {
                    let detail = detail(image, width, height, &mut decode_budget);
                    let signals = Signals {
                        width,
                        height,
                        detail,
                        caption: caption::classify(image.alt.as_deref()),
                        repeated: repeated.contains(&hash),
                    };
                    signals.score()
                }
            };
            Assessment {
                index,
                score,
                ineligible,
                hash,
            }
        })
        .collect()
}

/// What the score is computed from (separate from decoding, so the
/// weighting is tested on its own).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signals {
    /// Pixels; 0 when unknown.
    pub width: u32,
    pub height: u32,
    /// Colour entropy or its byte proxy, 0..=1; `None` when unknown.
    pub detail: Option<f64>,
    pub caption: Caption,
    /// The same bytes appear on two pages or more.
    pub repeated: bool,
}

impl Signals {
    /// Weighted size, detail and caption, damped for banners, repeats and
    /// decorations. Unknown size or detail count as middling.
    pub fn score(&self) -> f64 {
        let known = self.width > 0 && self.height > 0;
        let area = if known {
            let a = f64::from(self.width) * f64::from(self.height);
            ((a.ln() - AREA_FLOOR.ln()) / (AREA_FULL.ln() - AREA_FLOOR.ln())).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let detail = self.detail.unwrap_or(0.5);
        let caption = match self.caption {
            Caption::Descriptive => 1.0,
            Caption::Short => 0.6,
            Caption::Uninformative | Caption::Decorative => 0.0,
        };
        let mut score = 0.4 * area + 0.3 * detail + 0.3 * caption;
        if known {
            let (long, short) = (
                self.width.max(self.height) as f64,
                self.width.min(self.height) as f64,
            );
            let ratio = long / short;
            if ratio >= 8.0 {
                score *= 0.2; // a rule, a banner, a strip
            } else if ratio >= 4.0 {
                score *= 0.6;
            }
        }
        if self.repeated {
            score *= 0.25; // on every page: a header, footer or master logo
        }
        if self.caption == Caption::Decorative {
            score *= 0.4;
        }
        score.clamp(0.0, 1.0)
    }
}

fn hash(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// Hashes of images that appear (byte-identical) on more than one page.
fn repeated_across_pages(images: &[ExtractedImage], hashes: &[u64]) -> HashSet<u64> {
    let mut pages: HashMap<u64, HashSet<usize>> = HashMap::new();
    for (image, hash) in images.iter().zip(hashes) {
        pages.entry(*hash).or_default().insert(image.page_index);
    }
    pages
        .into_iter()
        .filter(|(_, p)| p.len() > 1)
        .map(|(h, _)| h)
        .collect()
}

/// The size the extractor gave, or the one in the image header.
fn size_of(image: &ExtractedImage) -> (u32, u32) {
    if image.width > 0 && image.height > 0 {
        return (image.width, image.height);
    }
    pixels::dimensions(&image.data).unwrap_or((0, 0))
}

fn ineligibility(
    image: &ExtractedImage,
    width: u32,
    height: u32,
    config: &VisualsConfig,
) -> Option<Ineligible> {
    let media_type = normalized_media_type(&image.media_type);
    if width > 0 && height > 0 && width.min(height) < config.min_side {
        Some(Ineligible::Tiny)
    } else if !SUPPORTED_MEDIA_TYPES.contains(&media_type.as_str()) {
        Some(Ineligible::UnsupportedType)
    } else if image.data.len() > config.max_image_bytes {
        Some(Ineligible::TooLarge)
    } else if width == 0 || height == 0 {
        Some(Ineligible::Unreadable)
    } else {
        None
    }
}

/// Colour entropy while the decode budget lasts, then the byte proxy.
fn detail(image: &ExtractedImage, width: u32, height: u32, budget: &mut u64) -> Option<f64> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > 0 && pixels <= MAX_DECODE_PIXELS && pixels <= *budget {
        *budget -= pixels;
        if let Some(entropy) = pixels::colour_entropy(&image.data) {
            return Some(entropy);
        }
    }
    pixels::byte_proxy(
        image.data.len(),
        width,
        height,
        &normalized_media_type(&image.media_type),
    )
}

#[cfg(test)]
mod tests {
    use super::super::pixels::tests::{noise, png};
    use super::*;

    pub(crate) fn image(page: usize, data: Vec<u8>, alt: Option<&str>) -> ExtractedImage {
        let (width, height) = pixels::dimensions(&data).unwrap_or((0, 0));
        ExtractedImage {
            page_index: page,
            offset: 0,
            width,
            height,
            alt: alt.map(str::to_owned),
            media_type: "image/png".into(),
            data,
        }
    }

    fn scores(images: &[ExtractedImage]) -> Vec<f64> {
        assess(images, &VisualsConfig::default())
            .into_iter()
            .map(|a| a.score)
            .collect()
    }

    /// A chart: white background, three coloured bars, axis lines.
    fn chart(x: u32, y: u32) -> [u8; 3] {
        match (x, y) {
            (_, 390..) | (0..=10, _) => [0, 0, 0],
            (50..=150, 200..) => [30, 90, 200],
            (250..=350, 100..) => [200, 60, 30],
            (450..=550, 250..) => [40, 160, 60],
            _ => [255, 255, 255],
        }
    }

    #[test]
    fn icons_and_logos_score_below_photos_and_captioned_charts() {
        let icon = image(0, png(16, 16, noise), None);
        let logo = image(
            0,
            png(240, 90, |x, _| {
                if x < 90 {
                    [10, 40, 120]
                } else {
                    [255, 255, 255]
                }
            }),
            None,
        );
        let photo = image(0, png(640, 480, noise), None);
        let captioned_chart = image(
            0,
            png(600, 400, chart),
            Some("Figure 3: Quarterly revenue by region, 2023"),
        );
        let s = scores(&[icon, logo, photo, captioned_chart]);
        let threshold = VisualsConfig::default().min_score;
        assert_eq!(s[0], 0.0, "a 16x16 icon is never a candidate");
        assert!(s[1] < threshold, "logo {s:?}");
        assert!(s[2] > threshold && s[3] > threshold, "{s:?}");
        assert!(s[1] < s[2] && s[1] < s[3], "{s:?}");
    }

    #[test]
    fn tiny_images_are_ineligible_whatever_their_caption() {
        let tall_thin = image(0, png(40, 600, noise), Some("A detailed process diagram"));
        let a = assess(&[tall_thin], &VisualsConfig::default());
        assert_eq!(a[0].ineligible, Some(Ineligible::Tiny));
        assert_eq!(a[0].score, 0.0);
    }

    #[test]
    fn informative_alt_text_raises_the_score() {
        let data = png(400, 300, chart);
        let s = scores(&[
            image(0, data.clone(), None),
            image(0, data.clone(), Some("image1.png")),
            image(0, data.clone(), Some("Org chart")),
            image(
                0,
                data,
                Some("Organisation chart of the finance department"),
            ),
        ]);
        assert_eq!(s[0], s[1], "a file name is no caption");
        assert!(s[2] > s[1] && s[3] > s[2], "{s:?}");
    }

    #[test]
    fn an_image_repeated_on_several_pages_is_decoration() {
        let data = png(300, 300, noise);
        let repeated = [image(0, data.clone(), None), image(1, data.clone(), None)];
        let once = [image(0, data, None)];
        let r = scores(&repeated);
        let o = scores(&once);
        assert_eq!(r[0], r[1]);
        assert!(r[0] < o[0] * 0.5, "{r:?} vs {o:?}");
        assert!(r[0] < VisualsConfig::default().min_score);
    }

    #[test]
    fn banners_and_rules_score_low() {
        let base = Signals {
            width: 800,
            height: 600,
            detail: Some(0.8),
            caption: Caption::Uninformative,
            repeated: false,
        };
        let banner = Signals {
            width: 1600,
            height: 120,
            ..base
        };
        assert!(banner.score() < base.score() * 0.5);
        assert!(banner.score() < VisualsConfig::default().min_score);
    }

    #[test]
    fn unsupported_and_oversized_images_are_ineligible() {
        let mut emf = image(0, png(400, 400, noise), Some("Network diagram"));
        emf.media_type = "image/x-emf".into();
        let mut jpg_alias = image(0, png(400, 400, noise), None);
        jpg_alias.media_type = "image/JPG".into();
        let config = VisualsConfig {
            max_image_bytes: 1_000,
            ..VisualsConfig::default()
        };
        let a = assess(&[emf, jpg_alias], &config);
        assert_eq!(a[0].ineligible, Some(Ineligible::UnsupportedType));
        assert_eq!(a[1].ineligible, Some(Ineligible::TooLarge));
    }

    #[test]
    fn unknown_size_is_read_from_the_header_and_unreadable_data_is_skipped() {
        let mut unsized_photo = image(0, png(500, 500, noise), None);
        unsized_photo.width = 0;
        unsized_photo.height = 0;
        let junk = ExtractedImage {
            data: vec![1, 2, 3],
            ..image(0, Vec::new(), None)
        };
        let a = assess(&[unsized_photo, junk], &VisualsConfig::default());
        assert!(a[0].score > VisualsConfig::default().min_score, "{a:?}");
        assert_eq!(a[1].ineligible, Some(Ineligible::Unreadable));
    }
}
