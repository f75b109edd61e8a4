//! Charts (DrawingML `c:chartSpace` parts, in PPTX and DOCX): the title and
//! the data the chart was drawn from, as a Markdown table with a row per
//! category and a column per series, from the values cached in the part
//! (`c:strCache` / `c:numCache`). The embedded workbook is not opened.
//! OpenDocument charts (ODT, ODP) are read from their embedded chart
//! documents by the ODF reader into the same [`Chart`].

use std::collections::BTreeMap;

use rag_core::ports::ExtractError;

use super::xml::{walk, Xml};
use super::{one_line, Markdown, Package};

/// A chart read from its part.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Chart {
    /// The title as shown (empty when there is none).
    pub(crate) title: String,
    pub(crate) series: Vec<Series>,
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    /// Category labels (or x values) by point index.
    pub(crate) categories: BTreeMap<u32, String>,
    /// Values by point index, as shown.
    pub(crate) values: BTreeMap<u32, String>,
}

/// Reads the chart in `part`: `None` when there is no such part.
pub(crate) fn read(package: &mut Package<'_>, part: &str) -> Result<Option<Chart>, ExtractError> {
    let Some(xml) = package.read(part)? else {
        return Ok(None);
    };
    let mut reader = Reader::default();
    walk(
        &xml,
        part,
        package.format(),
        &["Fallback", "extLst"],
        |event| reader.visit(event),
    )?;
    Ok(Some(reader.finish()))
}

impl Chart {
    /// `Chart: title` as a heading (`heading_level` > 0) or a paragraph,
    /// then the data table.
    pub(crate) fn to_markdown(&self, md: &mut Markdown, heading_level: usize) {
        let label = if self.title.is_empty() {
            "Chart".to_owned()
        } else {
            format!("Chart: {}", self.title)
        };
        if heading_level > 0 {
            md.heading(heading_level, &label);
        } else {
            md.paragraph(&label);
        }
        if self.series.is_empty() {
            return;
        }
        // Categories by index: the first series that names one wins.
        let mut categories: BTreeMap<u32, &str> = BTreeMap::new();
        for series in &self.series {
            for (&i, label) in &series.categories {
                categories.entry(i).or_insert(label);
            }
            for &i in series.values.keys() {
                categories.entry(i).or_insert("");
            }
        }
        let mut header = vec!["Category".to_owned()];
        header.extend(self.series.iter().enumerate().map(|(n, s)| {
            if s.name.is_empty() {
                format!("Series {}", n + 1)
            } else {
                s.name.clone()
            }
        }));
        let mut rows = vec![header];
        for (&i, &label) in &categories {
            let mut row = vec![if label.is_empty() {
                i.saturating_add(1).to_string()
            } else {
                label.to_owned()
            }];
            row.extend(
                self.series
                    .iter()
                    .map(|s| s.values.get(&i).cloned().unwrap_or_default()),
            );
            rows.push(row);
        }
        md.table(rows);
    }
}

/// Where in the chart part the reader is.
#[derive(Debug, Default)]
struct Reader {
    /// Local names of the open elements.
    path: Vec<String>,
    title: String,
    /// Whether the chart has a `c:title` (an automatic one names the only series).
    has_title: bool,
    series: Vec<Series>,
    /// The open point's index, and whether it is a category (else a value).
    point: Option<(u32, bool)>,
    /// Format code of the open value cache (`0%` shows 0.25 as 25%).
    percent: bool,
    /// Levels of a multi-level category seen so far: only the first (the
    /// innermost labels) is read.
    levels: usize,
}

impl Reader {
    fn inside(&self, name: &str) -> bool {
        self.path.iter().any(|n| n == name)
    }

    /// Whether the open element is the chart's own title (not an axis's).
    fn in_chart_title(&self) -> bool {
        self.path
            .windows(2)
            .any(|w| w[0] == "chart" && w[1] == "title")
    }

    fn visit(&mut self, event: Xml<'_>) {
        match event {
            Xml::Start(tag) => {
                let name = tag.name().to_owned();
                match name.as_str() {
                    "title" if self.path.last().is_some_and(|p| p == "chart") => {
                        self.has_title = true
                    }
                    "ser" => self.series.push(Series::default()),
                    "cat" | "xVal" | "val" | "yVal" => {
                        self.levels = 0;
                        self.percent = false;
                    }
                    "lvl" => self.levels += 1,
                    "pt" => {
                        let category = self.inside("cat") || self.inside("xVal");
                        let value = self.inside("val") || self.inside("yVal");
                        self.point = tag
                            .attr("idx")
                            .and_then(|i| i.parse().ok())
                            .filter(|_| category || value)
                            .filter(|_| self.levels <= 1)
                            .map(|i| (i, category));
                    }
                    "p" if self.in_chart_title() && !self.title.is_empty() => self.title.push(' '),
                    _ => {}
                }
                self.path.push(name);
            }
            Xml::Text(text) => self.text(text),
            Xml::End(name) => {
                if name == "pt" {
                    self.point = None;
                }
                self.path.pop();
            }
        }
    }

    fn text(&mut self, text: &str) {
        let Some(leaf) = self.path.last().map(String::as_str) else {
            return;
        };
        if self.in_chart_title() {
            if matches!(leaf, "t" | "v") {
                self.title.push_str(text);
            }
            return;
        }
        if leaf == "formatCode" {
            self.percent = text.trim_end().ends_with('%');
            return;
        }
        if leaf != "v" {
            return;
        }
        let in_name = self.inside("tx") && self.inside("ser");
        let percent = self.percent;
        let point = self.point;
        let Some(series) = self.series.last_mut() else {
            return;
        };
        if in_name {
            series.name.push_str(text);
        } else if let Some((i, category)) = point {
            if category {
                series.categories.entry(i).or_default().push_str(text);
            } else {
                series.values.insert(i, number(text, percent));
            }
        }
    }

    fn finish(mut self) -> Chart {
        for series in &mut self.series {
            series.name = one_line(&series.name);
            for label in series.categories.values_mut() {
                *label = one_line(label);
            }
        }
        let mut title = one_line(&self.title);
        if title.is_empty() && self.has_title && self.series.len() == 1 {
            title = self.series[0].name.clone();
        }
        Chart {
            title,
            series: self.series,
        }
    }
}

/// A cached value as shown: the shortest decimal that reads back the same
/// (`0.59999999999999998` is `0.6`), as a percentage when formatted so.
fn number(text: &str, percent: bool) -> String {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && percent => {
            let shown = (x * 100.0 * 1e9).round() / 1e9;
            format!("{shown}%")
        }
        Ok(x) if x.is_finite() => format!("{x}"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Chart {
        let mut reader = Reader::default();
        walk(xml, "chart.xml", "TEST", &["extLst"], |e| reader.visit(e))
            .unwrap_or_else(|e| panic!("{e}"));
        reader.finish()
    }

    #[test]
    fn title_series_categories_and_values() {
        let chart = parse(
            r#"<c:chartSpace xmlns:c="c" xmlns:a="a"><c:chart><c:title><c:tx><c:rich><a:p><a:r><a:t>Sales</a:t></a:r></a:p><a:p><a:r><a:t>2024</a:t></a:r></a:p></c:rich></c:tx></c:title>
<c:plotArea><c:lineChart><c:ser><c:tx><c:v>Units</c:v></c:tx>
<c:cat><c:multiLvlStrRef><c:multiLvlStrCache><c:lvl><c:pt idx="0"><c:v>Jan</c:v></c:pt><c:pt idx="2"><c:v>Mar</c:v></c:pt></c:lvl><c:lvl><c:pt idx="0"><c:v>Q1</c:v></c:pt></c:lvl></c:multiLvlStrCache></c:multiLvlStrRef></c:cat>
<c:val><c:numRef><c:numCache><c:formatCode>0%</c:formatCode><c:pt idx="0"><c:v>0.25</c:v></c:pt><c:pt idx="1"><c:v>0.59999999999999998</c:v></c:pt></c:numCache></c:numRef></c:val></c:ser></c:lineChart>
<c:valAx><c:title><c:tx><c:rich><a:p><a:r><a:t>Axis</a:t></a:r></a:p></c:rich></c:tx></c:title></c:valAx></c:plotArea></c:chart></c:chartSpace>"#,
        );
        assert_eq!(chart.title, "Sales 2024");
        let mut md = Markdown::default();
        chart.to_markdown(&mut md, 3);
        assert_eq!(
            md.finish(),
            "### Chart: Sales 2024\n\n| Category | Units |\n| --- | --- |\n| Jan | 25% |\n| 2 | 60% |\n| Mar |  |"
        );
    }

    #[test]
    fn an_automatic_title_names_the_only_series() {
        let chart = parse(
            r#"<c:chartSpace xmlns:c="c"><c:chart><c:title/><c:plotArea><c:pieChart><c:ser><c:tx><c:strRef><c:strCache><c:pt idx="0"><c:v>Share</c:v></c:pt></c:strCache></c:strRef></c:tx><c:val><c:numRef><c:numCache><c:pt idx="0"><c:v>1</c:v></c:pt></c:numCache></c:numRef></c:val></c:ser></c:pieChart></c:plotArea></c:chart></c:chartSpace>"#,
        );
        assert_eq!(chart.title, "Share");
        assert_eq!(
            chart.series[0].values.get(&0).map(String::as_str),
            Some("1")
        );
    }
}
