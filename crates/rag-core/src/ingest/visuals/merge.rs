//! Putting what was learnt about the images back into the page text, where
//! each image sits, so chunks keep a figure's content next to the prose that
//! refers to it.

use std::collections::BTreeMap;

use super::caption;
use crate::ports::{ExtractedImage, ExtractedPage};

/// How far (in bytes, beyond the alt text's own length) on either side of
/// an image's offset to look for its alt text before adding it again:
/// extractors often write `![alt](file)` where the image sits.
const ALT_SEARCH_SLACK: usize = 64;

/// Inserts, at each image's offset in its page, the transcription of the
/// images in `transcriptions` (keyed by image index) as a marked block, and
/// for the others their alt text when it is informative. Alt text already
/// written next to the offset is not repeated, in the block header either. Offsets past the end go to the end; offsets inside a character
/// move back to its start. Images on pages that do not exist are ignored.
pub fn merge(
    pages: &mut [ExtractedPage],
    images: &[ExtractedImage],
    transcriptions: &BTreeMap<usize, String>,
) {
    let mut per_page: BTreeMap<usize, Vec<(usize, String)>> = BTreeMap::new();
    for (index, image) in images.iter().enumerate() {
        let Some(page) = pages.get(image.page_index) else {
            continue;
        };
        let offset = char_floor(&page.text, image.offset);
        let alt = image
            .alt
            .as_deref()
            .map(one_line)
            .filter(|a| caption::is_informative(Some(a)));
        // Extractors often write the alt text where the image sits already.
        let alt = alt.filter(|a| !alt_nearby(&page.text, offset, a));
        let insert = match (transcriptions.get(&index), alt) {
            (Some(text), alt) => Some(block(alt.as_deref(), text)),
            (None, Some(alt)) => Some(inline(&page.text, offset, &alt)),
            (None, None) => None,
        };
        if let Some(insert) = insert {
            per_page
                .entry(image.page_index)
                .or_default()
                .push((offset, insert));
        }
    }
    for (page_index, mut inserts) in per_page {
        let Some(page) = pages.get_mut(page_index) else {
            continue;
        };
        // Stable: images at the same offset keep their order.
        inserts.sort_by_key(|(offset, _)| *offset);
        let extra: usize = inserts.iter().map(|(_, s)| s.len()).sum();
        let mut text = String::with_capacity(page.text.len() + extra);
        let mut at = 0;
        for (offset, insert) in inserts {
            text.push_str(&page.text[at..offset]);
            text.push_str(&insert);
            at = offset;
        }
        text.push_str(&page.text[at..]);
        page.text = text;
    }
}

/// The marked block of a transcribed image.
fn block(alt: Option<&str>, transcription: &str) -> String {
    match alt {
        Some(alt) => format!("\n\n[Image: {alt}]\n{transcription}\n\n"),
        None => format!("\n\n[Image]\n{transcription}\n\n"),
    }
}

/// `[Image: alt]`, with a space on a side where it would touch a word.
fn inline(text: &str, offset: usize, alt: &str) -> String {
    let before = text[..offset].chars().next_back();
    let after = text[offset..].chars().next();
    let pad = |c: Option<char>| {
        if c.is_some_and(|c| !c.is_whitespace()) {
            " "
        } else {
            ""
        }
    };
    format!("{}[Image: {alt}]{}", pad(before), pad(after))
}

/// Whether the alt text already appears around `offset`.
fn alt_nearby(text: &str, offset: usize, alt: &str) -> bool {
    let reach = alt.len() + ALT_SEARCH_SLACK;
    let start = char_floor(text, offset.saturating_sub(reach));
    let end = char_ceil(text, offset.saturating_add(reach));
    text[start..end].contains(alt)
}

/// Whitespace (newlines included) collapsed to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The largest char boundary at or before `offset`, within the text.
fn char_floor(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The smallest char boundary at or after `offset`, within the text.
fn char_ceil(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> ExtractedPage {
        ExtractedPage {
            number: Some(1),
            text: text.to_owned(),
        }
    }

    fn img(page_index: usize, offset: usize, alt: Option<&str>) -> ExtractedImage {
        ExtractedImage {
            page_index,
            offset,
            width: 400,
            height: 300,
            alt: alt.map(str::to_owned),
            media_type: "image/png".into(),
            data: vec![1],
        }
    }

    fn transcribed(pairs: &[(usize, &str)]) -> BTreeMap<usize, String> {
        pairs.iter().map(|(i, t)| (*i, (*t).to_owned())).collect()
    }

    #[test]
    fn a_transcription_goes_in_at_the_offset_as_a_marked_block() {
        let mut pages = [page("Intro paragraph.\n\nAfter the chart.")];
        let offset = "Intro paragraph.".len();
        merge(
            &mut pages,
            &[img(0, offset, Some("Revenue by quarter"))],
            &transcribed(&[(0, "| Q1 | Q2 |\n|---|---|\n| 10 | 12 |")]),
        );
        assert_eq!(
            pages[0].text,
            "Intro paragraph.\n\n[Image: Revenue by quarter]\n| Q1 | Q2 |\n|---|---|\n| 10 | 12 |\n\n\n\nAfter the chart."
        );
    }

    #[test]
    fn unselected_images_leave_only_informative_alt_text() {
        let mut pages = [page("One two three")];
        merge(
            &mut pages,
            &[
                img(0, 3, Some("Sales funnel")),
                img(0, 7, Some("image1.png")),
                img(0, 7, None),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(pages[0].text, "One [Image: Sales funnel] two three");
    }

    #[test]
    fn offsets_inside_multibyte_characters_move_to_a_boundary() {
        // "é" is two bytes, "日" three: offset 2 falls inside "é", 6 inside "日".
        let text = "né 日本";
        let mut pages = [page(text)];
        merge(
            &mut pages,
            &[img(0, 2, None), img(0, 6, None)],
            &transcribed(&[(0, "A"), (1, "B")]),
        );
        assert_eq!(pages[0].text, "n\n\n[Image]\nA\n\né \n\n[Image]\nB\n\n日本");
    }

    #[test]
    fn offsets_past_the_end_append_and_missing_pages_are_ignored() {
        let mut pages = [page("Short"), page("Second")];
        merge(
            &mut pages,
            &[
                img(0, 999, Some("Floor plan")),
                img(5, 0, Some("Lost figure")),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(pages[0].text, "Short [Image: Floor plan]");
        assert_eq!(pages[1].text, "Second");
    }

    #[test]
    fn alt_text_already_in_the_text_is_not_repeated() {
        let text = "See [image: Network topology] below.";
        let mut pages = [page(text)];
        merge(
            &mut pages,
            &[img(
                0,
                "See [image: Network topology]".len(),
                Some("Network topology"),
            )],
            &BTreeMap::new(),
        );
        assert_eq!(pages[0].text, text);

        let mut pages = [page(text)];
        merge(
            &mut pages,
            &[img(
                0,
                "See [image: Network topology]".len(),
                Some("Network topology"),
            )],
            &transcribed(&[(0, "router -> switch")]),
        );
        assert_eq!(
            pages[0].text,
            "See [image: Network topology]\n\n[Image]\nrouter -> switch\n\n below."
        );
    }

    #[test]
    fn images_at_one_offset_keep_their_order_and_pages_stay_apart() {
        let mut pages = [page("AB"), page("CD")];
        merge(
            &mut pages,
            &[img(0, 1, None), img(1, 1, None), img(0, 1, None)],
            &transcribed(&[(0, "first"), (1, "other page"), (2, "second")]),
        );
        assert_eq!(
            pages[0].text,
            "A\n\n[Image]\nfirst\n\n\n\n[Image]\nsecond\n\nB"
        );
        assert_eq!(pages[1].text, "C\n\n[Image]\nother page\n\nD");
    }
}
