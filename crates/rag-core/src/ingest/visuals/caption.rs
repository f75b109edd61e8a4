//! What an image's alt text or caption says about its importance: authors
//! describe figures that carry information ("Revenue by quarter, 2023") and
//! leave decorations blank, named after their file, or called "logo".

/// What the alt text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caption {
    /// None, or nothing but a file name or a generic word ("image1.png",
    /// "Picture 3", "image").
    Uninformative,
    /// Names a decoration (logo, icon, banner, divider, ...).
    Decorative,
    /// One or two real words.
    Short,
    /// A description of three words or more.
    Descriptive,
}

/// Words that alone say nothing about an image's content.
const GENERIC: &[&str] = &[
    "image",
    "img",
    "picture",
    "pic",
    "photo",
    "figure",
    "fig",
    "graphic",
    "graphics",
    "untitled",
    "placeholder",
    "screenshot",
    "shape",
    "object",
    "media",
    "chart",
    "diagram",
];

/// Words that mark an image as decoration.
const DECORATIVE: &[&str] = &[
    "logo",
    "logos",
    "icon",
    "icons",
    "banner",
    "divider",
    "separator",
    "spacer",
    "bullet",
    "decoration",
    "decorative",
    "background",
    "border",
    "watermark",
    "ornament",
    "line",
    "rule",
    "arrow",
    "emoji",
    "avatar",
    "signature",
];

/// Extensions that show the "caption" is a file name.
const FILE_EXTENSIONS: &[&str] = &[
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".svg", ".webp",
];

/// Classifies an alt text or caption.
pub fn classify(alt: Option<&str>) -> Caption {
    let Some(alt) = alt.map(str::trim).filter(|a| !a.is_empty()) else {
        return Caption::Uninformative;
    };
    let lower = alt.to_lowercase();
    if FILE_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) {
        return Caption::Uninformative;
    }
    // Words of letters; numbers ("Picture 3") and punctuation carry nothing.
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let content: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !GENERIC.contains(w) && !is_camera_prefix(w))
        .collect();
    if words.iter().any(|w| DECORATIVE.contains(w)) && content.len() <= 3 {
        return Caption::Decorative;
    }
    let letters: usize = content.iter().map(|w| w.chars().count()).sum();
    match content.len() {
        0 => Caption::Uninformative,
        _ if letters < 3 => Caption::Uninformative,
        1 | 2 => Caption::Short,
        _ => Caption::Descriptive,
    }
}

/// Whether an alt text is worth keeping in the text at all.
pub fn is_informative(alt: Option<&str>) -> bool {
    matches!(classify(alt), Caption::Short | Caption::Descriptive)
}

/// Prefixes cameras and tools give file names (`DSC_0012`, `PXL_2023...`),
/// left over once the digits are split off.
fn is_camera_prefix(word: &str) -> bool {
    matches!(
        word,
        "dsc" | "dscn" | "pxl" | "screen" | "shot" | "clip" | "clipart"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_generic_words_are_uninformative() {
        for alt in [
            None,
            Some(""),
            Some("   "),
            Some("image1.png"),
            Some("Picture 3"),
            Some("IMG_2041.JPG"),
            Some("image"),
            Some("Figure 2"),
            Some("DSC 0012"),
        ] {
            assert_eq!(classify(alt), Caption::Uninformative, "{alt:?}");
        }
    }

    #[test]
    fn decorations_are_recognised() {
        assert_eq!(classify(Some("logo")), Caption::Decorative);
        assert_eq!(classify(Some("Company Logo")), Caption::Decorative);
        assert_eq!(classify(Some("divider line")), Caption::Decorative);
    }

    #[test]
    fn descriptions_are_informative() {
        assert_eq!(classify(Some("Org chart")), Caption::Short);
        assert_eq!(
            classify(Some("Revenue by quarter, 2023 (in millions)")),
            Caption::Descriptive
        );
        assert_eq!(
            classify(Some("Figure 2: Bar chart of monthly rainfall in Oslo")),
            Caption::Descriptive
        );
        // A long description that mentions a logo is about more than the logo.
        assert_eq!(
            classify(Some(
                "Slide showing the new logo next to the old brand colours"
            )),
            Caption::Descriptive
        );
        assert!(is_informative(Some("Sales funnel")));
        assert!(!is_informative(Some("logo")));
    }
}
