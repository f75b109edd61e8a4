//! Jupyter notebooks (`.ipynb`, nbformat 4, tolerating 3) as one Markdown
//! page: Markdown cells as they are, code cells as fenced blocks in the
//! kernel's language, their text outputs in fenced `output` blocks.

use rag_core::ports::ExtractError;
use serde_json::Value;

/// Most bytes of one output kept; the rest is cut with a note.
const MAX_OUTPUT_BYTES: usize = 4 * 1024;

fn corrupt(detail: impl Into<String>) -> ExtractError {
    ExtractError::Corrupt {
        format: "notebook",
        detail: detail.into(),
    }
}

/// The notebook's Markdown.
pub(crate) fn to_markdown(text: &str) -> Result<String, ExtractError> {
    let notebook: Value =
        serde_json::from_str(text).map_err(|e| corrupt(format!("invalid JSON ({e})")))?;
    let Some(root) = notebook.as_object() else {
        return Err(corrupt("not a JSON object"));
    };
    let metadata = root.get("metadata");
    let language = metadata
        .and_then(|m| m.pointer("/kernelspec/language"))
        .or_else(|| metadata.and_then(|m| m.pointer("/language_info/name")))
        .or_else(|| metadata.and_then(|m| m.get("language")))
        .and_then(Value::as_str)
        .map(|l| l.trim().to_ascii_lowercase())
        .unwrap_or_default();
    // nbformat 4 lists cells at the top; nbformat 3 inside worksheets.
    let cells: Vec<&Value> = match root.get("cells") {
        Some(Value::Array(cells)) => cells.iter().collect(),
        Some(_) => return Err(corrupt("\"cells\" is not a list")),
        None => match root.get("worksheets") {
            Some(Value::Array(sheets)) => sheets
                .iter()
                .filter_map(|s| s.get("cells").and_then(Value::as_array))
                .flatten()
                .collect(),
            _ => return Err(corrupt("no \"cells\" list")),
        },
    };
    let mut blocks: Vec<String> = Vec::new();
    for cell in cells {
        let kind = cell.get("cell_type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "markdown" | "raw" | "heading" => {
                let source = joined(cell.get("source"));
                let source = source.trim();
                if source.is_empty() {
                    continue;
                }
                if kind == "heading" {
                    // nbformat 3 heading cells.
                    let level = cell.get("level").and_then(Value::as_u64).unwrap_or(1);
                    let hashes = "#".repeat(level.clamp(1, 6) as usize);
                    blocks.push(format!("{hashes} {}", one_line(source)));
                } else {
                    blocks.push(source.to_owned());
                }
            }
            "code" => {
                // nbformat 3 calls the source "input".
                let source = joined(cell.get("source").or_else(|| cell.get("input")));
                let source = source.trim_end();
                if !source.trim().is_empty() {
                    blocks.push(fenced(&language, source));
                }
                for output in cell
                    .get("outputs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(block) = output_block(output) {
                        blocks.push(block);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(blocks.join("\n\n"))
}

/// One output as a fenced `output` block, `[image output]`, or nothing.
fn output_block(output: &Value) -> Option<String> {
    let kind = output.get("output_type").and_then(Value::as_str)?;
    let text = match kind {
        "stream" => joined(output.get("text")),
        "execute_result" | "display_data" | "pyout" | "display" => {
            let data = output.get("data");
            let plain = data
                .and_then(|d| d.get("text/plain"))
                // nbformat 3 keeps the representations at the top.
                .or_else(|| output.get("text"));
            match plain {
                Some(plain) => joined(Some(plain)),
                None => {
                    let is_image = data
                        .and_then(Value::as_object)
                        .map(|d| d.keys().any(|k| k.starts_with("image/")))
                        .unwrap_or_else(|| {
                            ["png", "jpeg", "svg"]
                                .iter()
                                .any(|k| output.get(*k).is_some())
                        });
                    return is_image.then(|| "[image output]".to_owned());
                }
            }
        }
        "error" | "pyerr" => {
            let name = output
                .get("ename")
                .and_then(Value::as_str)
                .unwrap_or("Error");
            let value = output.get("evalue").and_then(Value::as_str).unwrap_or("");
            format!("{name}: {value}")
        }
        _ => return None,
    };
    let text = text.trim_end();
    if text.trim().is_empty() {
        return None;
    }
    Some(fenced("output", &truncate(text)))
}

/// Text over [`MAX_OUTPUT_BYTES`] cut at a character boundary, with a note.
fn truncate(text: &str) -> String {
    if text.len() <= MAX_OUTPUT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[output truncated]", text[..end].trim_end())
}

/// A fenced code block, its fence longer than any backtick run inside.
fn fenced(info: &str, body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{info}\n{body}\n{fence}")
}

/// A notebook string field: a string or a list of lines.
fn joined(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.replace("\r\n", "\n"),
        Some(Value::Array(lines)) => lines
            .iter()
            .filter_map(Value::as_str)
            .collect::<String>()
            .replace("\r\n", "\n"),
        _ => String::new(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backticks_inside() {
        assert_eq!(fenced("py", "a ```` b"), "`````py\na ```` b\n`````");
        assert_eq!(fenced("", "x"), "```\nx\n```");
    }

    #[test]
    fn long_outputs_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_OUTPUT_BYTES);
        let cut = truncate(&long);
        assert!(cut.ends_with("[output truncated]"));
        assert!(cut.len() < MAX_OUTPUT_BYTES + 32);
    }
}
