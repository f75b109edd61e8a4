//! Text analysis for BM25: the same function turns documents and queries
//! into terms, so what is indexed is what is searched.
//!
//! Words are found by Unicode segmentation (UAX #29), lower-cased and
//! NFKC-normalised, then treated by script:
//! - Latin words: English stop words (Lucene's list, as the BM25 peers use)
//!   are dropped and the rest stemmed with Snowball English (Porter2);
//! - Arabic words: diacritics and tatweel removed, letter variants unified
//!   (alef forms, alef maqsura, teh marbuta), then light prefix/suffix
//!   stripping in the manner of Lucene's Arabic analyzer;
//! - everything else (CJK ideographs are single-character words under
//!   UAX #29, Cyrillic, Greek, ...) is kept lower-cased as is.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Bumped whenever analysis changes, so stored postings built by an older
/// analyzer are known to be stale (the eval scope is rebuilt, for one).
pub const ANALYZER_VERSION: u32 = 1;

/// Lucene's `EnglishAnalyzer` stop set.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Arabic prefixes stripped by light stemming (longest first), as in
/// Lucene's `ArabicStemmer`.
const ARABIC_PREFIXES: &[&str] = &["وال", "بال", "كال", "فال", "ال", "لل", "و"];
/// Arabic suffixes stripped by light stemming, as in Lucene's `ArabicStemmer`.
const ARABIC_SUFFIXES: &[&str] = &["ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي"];

/// Turns text into BM25 terms.
pub struct Analyzer {
    english: Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer")
    }
}

/// A term with its frequency in the analysed text.
pub type TermFreq = (String, u32);

impl Analyzer {
    /// The analyzer used for every index and query.
    pub fn new() -> Self {
        Self {
            english: Stemmer::create(Algorithm::English),
        }
    }

    /// The terms of `text`, in order, duplicates kept.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let normalized: String = text.nfkc().collect();
        normalized
            .unicode_words()
            .filter_map(|word| self.term(word))
            .collect()
    }

    /// The terms of a query: like [`Analyzer::terms`], but a query made only
    /// of stop words keeps them rather than matching nothing.
    pub fn query_terms(&self, text: &str) -> Vec<TermFreq> {
        let terms = self.terms(text);
        if !terms.is_empty() {
            return frequencies(terms);
        }
        let normalized: String = text.nfkc().collect();
        frequencies(normalized.unicode_words().map(str::to_lowercase).collect())
    }

    /// Term frequencies of a document text, and its length in terms.
    pub fn document_terms(&self, text: &str) -> (Vec<TermFreq>, u32) {
        let terms = self.terms(text);
        let len = terms.len() as u32;
        (frequencies(terms), len)
    }

    fn term(&self, word: &str) -> Option<String> {
        let lower = word.to_lowercase();
        match script(&lower) {
            Script::Latin => {
                let word = lower
                    .strip_suffix("'s")
                    .or(lower.strip_suffix("’s"))
                    .unwrap_or(&lower);
                if ENGLISH_STOP_WORDS.contains(&word) {
                    return None;
                }
                Some(self.english.stem(word).into_owned())
            }
            Script::Arabic => {
                let t = arabic_stem(&arabic_normalize(&lower));
                (!t.is_empty()).then_some(t)
            }
            Script::Other => Some(lower),
        }
    }
}

fn frequencies(terms: Vec<String>) -> Vec<TermFreq> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut order = Vec::new();
    for t in terms {
        let c = counts.entry(t.clone()).or_insert(0);
        if *c == 0 {
            order.push(t);
        }
        *c += 1;
    }
    order
        .into_iter()
        .map(|t| {
            let c = counts[&t];
            (t, c)
        })
        .collect()
}

enum Script {
    Latin,
    Arabic,
    Other,
}

fn script(word: &str) -> Script {
    let mut latin = false;
    for c in word.chars() {
        match c {
            '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{FB50}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}' => return Script::Arabic,
            'a'..='z' | '\u{00C0}'..='\u{024F}' => latin = true,
            '0'..='9' | '\'' | '’' | '.' | '_' => {}
            _ if c.is_alphabetic() => return Script::Other,
            _ => {}
        }
    }
    if latin {
        Script::Latin
    } else {
        Script::Other
    }
}

/// Lucene's `ArabicNormalizer`: unify letter variants, drop diacritics.
fn arabic_normalize(word: &str) -> String {
    word.chars()
        .filter_map(|c| match c {
            '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => None,
            'أ' | 'إ' | 'آ' => Some('ا'),
            'ى' => Some('ي'),
            'ة' => Some('ه'),
            c => Some(c),
        })
        .collect()
}

/// Light stemming: one prefix and one suffix, keeping at least two letters.
fn arabic_stem(word: &str) -> String {
    let mut w = word;
    for p in ARABIC_PREFIXES {
        if let Some(rest) = w.strip_prefix(p) {
            if rest.chars().count() >= 2 {
                w = rest;
                break;
            }
        }
    }
    for s in ARABIC_SUFFIXES {
        if let Some(rest) = w.strip_suffix(s) {
            if rest.chars().count() >= 2 {
                w = rest;
                break;
            }
        }
    }
    w.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_stemmed_and_stopped() {
        let a = Analyzer::new();
        assert_eq!(
            a.terms("The Running dogs ran, and the runner's shoes!"),
            vec!["run", "dog", "ran", "runner", "shoe"]
        );
        assert_eq!(
            a.terms("Causes of left ventricular hypertrophy"),
            vec!["caus", "left", "ventricular", "hypertrophi"]
        );
    }

    #[test]
    fn query_and_document_terms_match() {
        let a = Analyzer::new();
        let (doc, len) = a.document_terms("Hypertrophy causes hypertrophy.");
        assert_eq!(len, 3);
        assert_eq!(
            doc,
            vec![("hypertrophi".to_string(), 2), ("caus".to_string(), 1)]
        );
        assert_eq!(
            a.query_terms("what causes hypertrophy")[1],
            ("caus".to_string(), 1)
        );
    }

    #[test]
    fn stop_word_only_queries_still_search() {
        let a = Analyzer::new();
        assert_eq!(
            a.query_terms("to be or not to be"),
            vec![
                ("to".into(), 2),
                ("be".into(), 2),
                ("or".into(), 1),
                ("not".into(), 1)
            ]
        );
    }

    #[test]
    fn arabic_is_normalized_and_lightly_stemmed() {
        let a = Analyzer::new();
        // The same word with and without the article, diacritics and alef variants.
        let doc = a.terms("الْمَكْتَبَةُ مكتبة أحمد احمد");
        assert_eq!(doc[0], doc[1], "{doc:?}");
        assert_eq!(doc[2], doc[3], "{doc:?}");
        assert!(!a.terms("من هو عبد المطلب بن هاشم؟").is_empty());
    }

    #[test]
    fn other_scripts_are_kept() {
        let a = Analyzer::new();
        assert_eq!(a.terms("Москва ΑΘΗΝΑ"), vec!["москва", "αθηνα"]);
        assert_eq!(
            a.terms("東京タワー").len(),
            3,
            "{:?}",
            a.terms("東京タワー")
        );
        assert_eq!(
            a.terms("ｆｕｌｌｗｉｄｔｈ 2024"),
            vec!["fullwidth", "2024"]
        );
    }
}
