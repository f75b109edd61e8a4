//! JSON and JSON Lines as indented text: validated (a broken file is reported,
//! not indexed as noise) and pretty-printed so keys and values read as lines,
//! in the file's own key order.

use std::fmt;

use rag_core::ports::ExtractError;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON document, pretty-printed.
pub(crate) fn to_text(text: &str) -> Result<String, ExtractError> {
    pretty(text).map_err(|e| ExtractError::Corrupt {
        format: "JSON",
        detail: e.to_string(),
    })
}

/// JSON Lines: every non-blank line is a document; documents are separated
/// by blank lines.
pub(crate) fn lines_to_text(text: &str) -> Result<String, ExtractError> {
    let mut out = String::with_capacity(text.len() * 2);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let doc = pretty(line).map_err(|e| ExtractError::Corrupt {
            format: "JSON",
            detail: format!("line {}: {e}", i + 1),
        })?;
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&doc);
    }
    Ok(out)
}

/// Re-indents a JSON document as it is parsed (no intermediate map, so key
/// order is kept without changing serde_json's features for the workspace).
/// A top-level string is given without its quotes: it is the text.
fn pretty(text: &str) -> Result<String, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    Printer {
        out: &mut out,
        indent: 0,
        top: true,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Writes the value it deserializes, indented two spaces per level.
struct Printer<'a> {
    out: &'a mut String,
    indent: usize,
    top: bool,
}

impl Printer<'_> {
    fn child(&mut self) -> Printer<'_> {
        Printer {
            out: self.out,
            indent: self.indent + 2,
            top: false,
        }
    }

    fn newline(&mut self, indent: usize) {
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn quoted(&mut self, s: &str) {
        match serde_json::to_string(s) {
            Ok(q) => self.out.push_str(&q),
            Err(_) => self.out.push_str(s),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Printer<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Printer<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.out.push_str(
            &serde_json::Number::from_f64(v).map_or_else(|| "null".to_owned(), |n| n.to_string()),
        );
        Ok(())
    }

    fn visit_str<E>(mut self, v: &str) -> Result<(), E> {
        if self.top {
            self.out.push_str(v);
        } else {
            self.quoted(v);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.out.push('[');
        let mut empty = true;
        loop {
            let mark = self.out.len();
            if !empty {
                self.out.push(',');
            }
            self.newline(self.indent + 2);
            if seq.next_element_seed(self.child())?.is_none() {
                self.out.truncate(mark);
                break;
            }
            empty = false;
        }
        if !empty {
            self.newline(self.indent);
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.out.push('{');
        let mut empty = true;
        while let Some(key) = map.next_key::<String>()? {
            if !empty {
                self.out.push(',');
            }
            empty = false;
            self.newline(self.indent + 2);
            self.quoted(&key);
            self.out.push_str(": ");
            map.next_value_seed(self.child())?;
        }
        if !empty {
            self.newline(self.indent);
        }
        self.out.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_escapes() {
        let text = pretty(r#"{"z":[],"a":{"q\"":"line\nbreak","e":{}},"n":[1,-2,2.5,true,null]}"#)
            .unwrap_or_default();
        assert_eq!(
            text,
            "{\n  \"z\": [],\n  \"a\": {\n    \"q\\\"\": \"line\\nbreak\",\n    \"e\": {}\n  },\n  \"n\": [\n    1,\n    -2,\n    2.5,\n    true,\n    null\n  ]\n}"
        );
        assert_eq!(pretty("\"top level\"").unwrap_or_default(), "top level");
        assert!(pretty("[1] [2]").is_err());
        assert!(pretty(&"[".repeat(10_000)).is_err());
    }
}
