//! Which writing systems an embedding model can read, and whether a query is
//! written in one of them.
//!
//! A model trained on English text maps Arabic text to vectors that carry no
//! meaning. On arcd-ar (Arabic questions and paragraphs) all-MiniLM-L6-v2 has
//! dense nDCG@10 0.05 against BM25's 0.79, and fusing that noise into the
//! default hybrid ranking pulled it down to 0.31. The query service therefore
//! ranks a query the model cannot read by BM25 alone, and answers one the
//! page model cannot read from the pages' text: see
//! [`crate::search::query::QueryService`].
//!
//! Coverage is declared by the model (the `language:` list of its model card)
//! and compared by script, not language: an English model reads French words
//! badly, but their vectors still carry meaning through shared subwords,
//! while a script the model never saw gives none. Whatever is not known is
//! assumed readable, so a model without a card, a multilingual one, or a
//! language missing from the table below changes nothing.

use std::collections::HashMap;

pub use unicode_script::Script;
use unicode_script::UnicodeScript;

/// The scripts a model reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScriptCoverage {
    /// Any script: the model is multilingual, or its languages are unknown.
    #[default]
    Any,
    /// Only these scripts.
    Only(Vec<Script>),
}

/// The coverage of a model that declares nothing.
pub static ANY_SCRIPT: ScriptCoverage = ScriptCoverage::Any;

impl ScriptCoverage {
    /// The scripts of the languages a model card lists (ISO 639-1 or 639-3
    /// codes, optionally with a region: `en`, `eng`, `pt-BR`). `Any` when the
    /// list is empty, says `multilingual`, or names a language this table
    /// does not know: better to keep a model's vectors than to drop them on
    /// a guess.
    pub fn from_languages<S: AsRef<str>>(codes: &[S]) -> Self {
        let mut scripts: Vec<Script> = Vec::new();
        for code in codes {
            let code = code.as_ref().trim().to_ascii_lowercase();
            let base = code.split(['-', '_']).next().unwrap_or_default();
            let Some(of_language) = scripts_of_language(base) else {
                return Self::Any;
            };
            for s in of_language {
                if !scripts.contains(s) {
                    scripts.push(*s);
                }
            }
        }
        if scripts.is_empty() {
            Self::Any
        } else {
            Self::Only(scripts)
        }
    }

    /// Whether the model can read `text`: true unless most of its letters
    /// are in a script outside the coverage. Text without letters (numbers,
    /// symbols) is readable.
    pub fn reads(&self, text: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(scripts) => dominant_script(text).is_none_or(|s| scripts.contains(&s)),
        }
    }
}

/// The script most of the letters of `text` are written in; `None` when it
/// has no letters. Common and inherited characters (digits, punctuation,
/// combining marks) do not count.
pub fn dominant_script(text: &str) -> Option<Script> {
    let mut counts: HashMap<Script, usize> = HashMap::new();
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        let script = c.script();
        if !matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            *counts.entry(script).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(script, n)| (*n, std::cmp::Reverse(script.short_name())))
        .map(|(script, _)| script)
}

/// The scripts a language is written in, for the languages model cards
/// commonly list; `None` for any other.
fn scripts_of_language(code: &str) -> Option<&'static [Script]> {
    use Script::*;
    Some(match code {
        "en" | "eng" | "de" | "deu" | "ger" | "fr" | "fra" | "fre" | "es" | "spa" | "it"
        | "ita" | "pt" | "por" | "nl" | "nld" | "dut" | "sv" | "swe" | "da" | "dan" | "no"
        | "nb" | "nn" | "nor" | "fi" | "fin" | "is" | "isl" | "pl" | "pol" | "cs" | "ces"
        | "sk" | "slk" | "sl" | "slv" | "hr" | "hrv" | "bs" | "bos" | "ro" | "ron" | "hu"
        | "hun" | "tr" | "tur" | "et" | "est" | "lv" | "lav" | "lt" | "lit" | "sq" | "sqi"
        | "ca" | "cat" | "eu" | "eus" | "gl" | "glg" | "ga" | "gle" | "cy" | "cym" | "mt"
        | "mlt" | "af" | "afr" | "sw" | "swa" | "id" | "ind" | "ms" | "msa" | "tl" | "tgl"
        | "vi" | "vie" | "az" | "aze" | "uz" | "uzb" | "eo" | "epo" | "la" | "lat" => &[Latin],
        "ru" | "rus" | "uk" | "ukr" | "be" | "bel" | "bg" | "bul" | "mk" | "mkd" | "kk" | "kaz"
        | "ky" | "kir" | "mn" | "mon" | "tg" | "tgk" => &[Cyrillic],
        "sr" | "srp" => &[Cyrillic, Latin],
        "ar" | "ara" | "fa" | "fas" | "per" | "ur" | "urd" | "ps" | "pus" => &[Arabic],
        "he" | "heb" | "yi" | "yid" => &[Hebrew],
        "el" | "ell" | "gre" => &[Greek],
        "zh" | "zho" | "chi" => &[Han],
        "ja" | "jpn" => &[Han, Hiragana, Katakana],
        "ko" | "kor" => &[Hangul, Han],
        "hi" | "hin" | "mr" | "mar" | "ne" | "nep" | "sa" | "san" => &[Devanagari],
        "bn" | "ben" => &[Bengali],
        "ta" | "tam" => &[Tamil],
        "te" | "tel" => &[Telugu],
        "th" | "tha" => &[Thai],
        "ka" | "kat" | "geo" => &[Georgian],
        "hy" | "hye" | "arm" => &[Armenian],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_comes_from_the_model_card_languages() {
        let cases: &[(&[&str], ScriptCoverage)] = &[
            (&["en"], ScriptCoverage::Only(vec![Script::Latin])),
            (&["EN-us", "fr"], ScriptCoverage::Only(vec![Script::Latin])),
            (
                &["eng", "ara"],
                ScriptCoverage::Only(vec![Script::Latin, Script::Arabic]),
            ),
            (
                &["sr"],
                ScriptCoverage::Only(vec![Script::Cyrillic, Script::Latin]),
            ),
            // Nothing declared, multilingual, or a language the table lacks.
            (&[], ScriptCoverage::Any),
            (&["multilingual"], ScriptCoverage::Any),
            (&["en", "am"], ScriptCoverage::Any),
        ];
        for (codes, want) in cases {
            assert_eq!(&ScriptCoverage::from_languages(codes), want, "{codes:?}");
        }
    }

    #[test]
    fn the_script_of_most_letters_decides() {
        let cases: &[(&str, Option<Script>)] = &[
            ("what is famvir prescribed for", Some(Script::Latin)),
            ("ما هي عاصمة مصر؟", Some(Script::Arabic)),
            // One Latin acronym in an Arabic question.
            ("ما هو بروتوكول HTTP", Some(Script::Arabic)),
            ("Что такое BM25?", Some(Script::Cyrillic)),
            ("東京の天気", Some(Script::Han)),
            ("2024 — 42%", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(dominant_script(text), *want, "{text}");
        }
    }

    #[test]
    fn an_english_model_reads_latin_text_only() {
        let english = ScriptCoverage::from_languages(&["en"]);
        assert!(english.reads("café au lait recipe"));
        assert!(english.reads("1984"), "no letters: nothing to refuse");
        assert!(!english.reads("ما هي عاصمة مصر؟"));
        assert!(!english.reads("Что такое энтропия"));
        assert!(ScriptCoverage::Any.reads("ما هي عاصمة مصر؟"));
        let arabic = ScriptCoverage::from_languages(&["ar"]);
        assert!(arabic.reads("ما هي عاصمة مصر؟"));
        assert!(!arabic.reads("what is the capital of Egypt"));
    }
}
