//! The languages a model directory's card declares.
//!
//! Hugging Face model cards (`README.md`) start with YAML front matter whose
//! `language:` is one code or a list (`language: en`). The query service
//! uses it to leave out the vector of a query the model cannot read (see
//! `rag_core::search::language`). A card that is missing, unreadable or silent
//! declares nothing, which means "any language": the card is documentation,
//! so it never stops a model from loading.

use std::path::Path;

use rag_core::search::language::ScriptCoverage;

/// The scripts the model in `dir` reads, from its `README.md`.
pub fn script_coverage(dir: &Path) -> ScriptCoverage {
    let path = dir.join("README.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return ScriptCoverage::Any;
    };
    let languages = declared_languages(&text);
    let coverage = ScriptCoverage::from_languages(&languages);
    tracing::debug!(card = %path.display(), ?languages, ?coverage, "model card languages");
    coverage
}

/// The `language:` codes of a model card's front matter; empty when there
/// are none.
pub fn declared_languages(card: &str) -> Vec<String> {
    let Some(rest) = card
        .strip_prefix("---\n")
        .or_else(|| card.strip_prefix("---\r\n"))
    else {
        return Vec::new();
    };
    let Some(end) = rest.find("\n---") else {
        return Vec::new();
    };
    let front: serde_norway::Value = match serde_norway::from_str(&rest[..end]) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "model card front matter is not YAML; languages unknown");
            return Vec::new();
        }
    };
    match front.get("language") {
        Some(serde_norway::Value::String(code)) => vec![code.clone()],
        Some(serde_norway::Value::Sequence(codes)) => codes
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_is_read_from_the_front_matter() {
        let cases: &[(&str, &[&str])] = &[
            (
                "---\nlanguage: en\nlicense: apache-2.0\n---\n# Model\n",
                &["en"],
            ),
            ("---\r\nlanguage:\r\n- ar\r\n- en\r\n---\r\n", &["ar", "en"]),
            ("---\nlanguage:\n  - multilingual\n---\n", &["multilingual"]),
            ("---\nlicense: mit\n---\nlanguage: en\n", &[]),
            ("# No front matter\nlanguage: en\n", &[]),
            ("---\nlanguage: [en\n---\n", &[]),
            ("---\nlanguage: en\n", &[]),
        ];
        for (card, want) in cases {
            assert_eq!(declared_languages(card), *want, "{card:?}");
        }
    }
}
