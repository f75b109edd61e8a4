//! What a caller says about a document (its tags, the knowledge base it
//! belongs to, any field of their own), kept with it in the index, and the
//! typed filter a search narrows by.
//!
//! A filter names the documents a search may look at, so it narrows the
//! caller's scope before either retriever runs: the dense and the BM25 lists
//! are each the best `k` of the matching documents, never `k` results cut
//! down afterwards. The index turns a [`Filter`] into its own query
//! language (`rag-index-pg`: SQL over the document's `attributes`).
//!
//! Values are strings, numbers, booleans, or lists of those. A string that
//! is a date (`2024-05-01`, or RFC 3339 with a time and offset) is kept in
//! one form, UTC to the millisecond (`2024-05-01T00:00:00.000Z`), in
//! attributes and in filters alike, so that a range compares dates by
//! comparing those strings.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::body::invalid;
use crate::api::error::ApiError;

/// Largest set of attributes of one document, serialized.
pub const MAX_ATTRIBUTES_BYTES: usize = 4096;
/// Longest attribute name.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest string value.
pub const MAX_STRING_CHARS: usize = 512;
/// Most values in one list (an attribute's, or a filter's `in`).
pub const MAX_LIST: usize = 100;
/// Most conditions in one filter.
pub const MAX_CONDITIONS: usize = 32;
/// Most levels of a filter, its conditions counted: `and`/`or` nest at
/// most three deep around them.
pub const MAX_DEPTH: usize = 4;

/// The attribute `tags` (a list of strings) of `POST /v2/process-document`.
pub const TAGS: &str = "tags";
/// The attribute `knowledge_base_id` (a string).
pub const KNOWLEDGE_BASE_ID: &str = "knowledge_base_id";

/// A document's attributes, validated: names of letters, digits and
/// `_ . -`; values as the module says, dates in their one form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes(pub Map<String, Value>);

impl Attributes {
    /// Validates `fields` (`what` names them in a `400`).
    pub fn new(fields: Map<String, Value>, what: &str) -> Result<Self, ApiError> {
        let mut out = Map::new();
        for (name, value) in fields {
            check_name(&name).map_err(|why| invalid(&format!("{what}.{name}"), &why))?;
            let value =
                stored_value(&value).map_err(|why| invalid(&format!("{what}.{name}"), &why))?;
            if name == TAGS
                && !value
                    .as_array()
                    .is_some_and(|t| t.iter().all(Value::is_string))
            {
                return Err(invalid(TAGS, "must be a list of strings"));
            }
            if name == KNOWLEDGE_BASE_ID && !value.is_string() {
                return Err(invalid(KNOWLEDGE_BASE_ID, "must be a string"));
            }
            out.insert(name, value);
        }
        let size = serde_json::to_vec(&out).map_or(0, |b| b.len());
        if size > MAX_ATTRIBUTES_BYTES {
            return Err(invalid(
                what,
                &format!("are {size} bytes; the limit is {MAX_ATTRIBUTES_BYTES}"),
            ));
        }
        Ok(Self(out))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is not a valid name: 1 to {MAX_NAME_CHARS} letters, digits, '_', '.' or '-'"
        ))
    }
}

/// A value as stored: a scalar, or a list of scalars.
fn stored_value(value: &Value) -> Result<Value, String> {
    match value {
        Value::Array(items) if items.len() > MAX_LIST => Err(format!(
            "has {} values; the limit is {MAX_LIST}",
            items.len()
        )),
        Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => scalar(other),
    }
}

/// A string (a date in its one form), a number or a boolean.
fn scalar(value: &Value) -> Result<Value, String> {
    match value {
        Value::String(s) if s.chars().count() > MAX_STRING_CHARS => {
            Err(format!("holds a string over {MAX_STRING_CHARS} characters"))
        }
        Value::String(s) => Ok(Value::String(normal_date(s).unwrap_or_else(|| s.clone()))),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(value.clone()),
        Value::Bool(_) => Ok(value.clone()),
        _ => Err("must be a string, a number, a boolean or a list of those".into()),
    }
}

/// The one form of a date (`YYYY-MM-DD`, or RFC 3339): UTC, to the
/// millisecond, every part present, so dates compare as strings. `None`
/// for a string that is not a date.
pub fn normal_date(s: &str) -> Option<String> {
    let s = s.trim();
    let at = if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        day.and_hms_opt(0, 0, 0)?.and_utc()
    } else {
        DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc)
    };
    Some(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A bound of a range: a number, or a date in its one form.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// A finite number; only number attributes fall in its range.
    Number(f64),
    /// A date in its one form ([`normal_date`]), compared as text; only
    /// date attributes fall in its range.
    Date(String),
}

/// The bounds of a range; at least one is set, all of one kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Range {
    /// `gt`: the value must be above this bound; `None` sets no limit.
    pub gt: Option<Bound>,
    /// `gte`: the value must be at or above this bound.
    pub gte: Option<Bound>,
    /// `lt`: the value must be below this bound.
    pub lt: Option<Bound>,
    /// `lte`: the value must be at or below this bound.
    pub lte: Option<Bound>,
}

/// A typed filter over document attributes.
///
/// JSON: `{"and": [..]}`, `{"or": [..]}`, or a condition on one `field`:
/// `{"field": "department", "eq": "legal"}`,
/// `{"field": "department", "in": ["legal", "hr"]}`,
/// `{"field": "tags", "contains": "contract"}` (a list holds the value),
/// `{"field": "year", "gte": 2020, "lt": 2025}` or
/// `{"field": "signed", "gte": "2024-01-01"}` (numbers or dates).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `{"and": [..]}`: every filter of the (non-empty) list holds.
    And(Vec<Filter>),
    /// `{"or": [..]}`: at least one filter of the (non-empty) list holds.
    Or(Vec<Filter>),
    /// `{"field": .., "eq": ..}`: the attribute is exactly `value`.
    Eq {
        /// The attribute's name (letters, digits, `_ . -`).
        field: String,
        /// A string, number or boolean; a date string in its one form.
        value: Value,
    },
    /// `{"field": .., "in": [..]}`: the attribute is one of `values`.
    In {
        /// The attribute's name (letters, digits, `_ . -`).
        field: String,
        /// 1 to [`MAX_LIST`] strings, numbers or booleans, dates in their
        /// one form.
        values: Vec<Value>,
    },
    /// `{"field": .., "contains": ..}`: the attribute is a list holding
    /// `value`, as `tags` holds a tag.
    Contains {
        /// The attribute's name (letters, digits, `_ . -`).
        field: String,
        /// The element to look for: a string, number or boolean.
        value: Value,
    },
    /// `{"field": .., "gte": .., "lt": ..}`: the attribute lies within
    /// every bound given.
    Range {
        /// The attribute's name (letters, digits, `_ . -`).
        field: String,
        /// The bounds, all numbers or all dates; an attribute of the other
        /// kind never matches.
        range: Range,
    },
}

impl Filter {
    /// Parses and validates the `filter` of a request; a `400` names the
    /// part that is wrong (`filter.and[1].gte`).
    pub fn from_json(value: &Value) -> Result<Self, ApiError> {
        let mut conditions = 0;
        Self::parse(value, "filter", 1, &mut conditions)
    }

    fn parse(
        value: &Value,
        at: &str,
        depth: usize,
        conditions: &mut usize,
    ) -> Result<Self, ApiError> {
        let obj = value
            .as_object()
            .ok_or_else(|| invalid(at, "must be an object"))?;
        if depth > MAX_DEPTH {
            return Err(invalid(
                at,
                &format!("nests 'and'/'or' deeper than {MAX_DEPTH}"),
            ));
        }
        for (key, make) in [
            ("and", Filter::And as fn(Vec<Filter>) -> Filter),
            ("or", Filter::Or),
        ] {
            if let Some(list) = obj.get(key) {
                if obj.len() != 1 {
                    return Err(invalid(at, &format!("holds '{key}' and other keys")));
                }
                let items = list
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| invalid(&format!("{at}.{key}"), "must be a non-empty list"))?;
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Self::parse(item, &format!("{at}.{key}[{i}]"), depth + 1, conditions)
                    })
                    .collect::<Result<_, _>>()?;
                return Ok(make(parts));
            }
        }
        *conditions += 1;
        if *conditions > MAX_CONDITIONS {
            return Err(invalid(
                "filter",
                &format!("has more than {MAX_CONDITIONS} conditions"),
            ));
        }
        let field = match obj.get("field") {
            Some(Value::String(f)) => f.clone(),
            Some(_) => return Err(invalid(&format!("{at}.field"), "must be a string")),
            None => {
                return Err(invalid(
                    at,
                    "must be {\"and\": [..]}, {\"or\": [..]} or a condition with a 'field'",
                ))
            }
        };
        check_name(&field).map_err(|why| invalid(&format!("{at}.field"), &why))?;
        let ops: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "field")
            .collect();
        let one = |op: &str| format!("{at}.{op}");
        match ops.as_slice() {
            ["eq"] => Ok(Filter::Eq {
                field,
                value: scalar(&obj["eq"]).map_err(|why| invalid(&one("eq"), &why))?,
            }),
            ["contains"] => Ok(Filter::Contains {
                field,
                value: scalar(&obj["contains"]).map_err(|why| invalid(&one("contains"), &why))?,
            }),
            ["in"] => {
                let values = obj["in"]
                    .as_array()
                    .filter(|l| !l.is_empty() && l.len() <= MAX_LIST)
                    .ok_or_else(|| {
                        invalid(&one("in"), &format!("must be a list of 1 to {MAX_LIST} values"))
                    })?
                    .iter()
                    .map(scalar)
                    .collect::<Result<_, _>>()
                    .map_err(|why| invalid(&one("in"), &why))?;
                Ok(Filter::In { field, values })
            }
            bounds if !bounds.is_empty() && bounds.iter().all(|b| matches!(*b, "gt" | "gte" | "lt" | "lte")) => {
                let mut range = Range::default();
                let mut kinds = Vec::new();
                for b in bounds {
                    let bound = match &obj[*b] {
                        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(Bound::Number),
                        Value::String(s) => normal_date(s).map(Bound::Date),
                        _ => None,
                    }
                    .ok_or_else(|| invalid(&one(b), "must be a number or a date (YYYY-MM-DD or RFC 3339)"))?;
                    kinds.push(matches!(bound, Bound::Number(_)));
                    let slot = match *b {
                        "gt" => &mut range.gt,
                        "gte" => &mut range.gte,
                        "lt" => &mut range.lt,
                        _ => &mut range.lte,
                    };
                    *slot = Some(bound);
                }
                if kinds.iter().any(|k| *k != kinds[0]) {
                    return Err(invalid(at, "mixes numbers and dates in one range"));
                }
                Ok(Filter::Range { field, range })
            }
            _ => Err(invalid(
                at,
                "must have one of 'eq', 'in', 'contains', or range bounds 'gt', 'gte', 'lt', 'lte' beside 'field'",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Result<Attributes, ApiError> {
        Attributes::new(v.as_object().cloned().unwrap_or_default(), "metadata")
    }

    #[test]
    fn dates_take_one_form_that_compares_as_text() {
        assert_eq!(
            normal_date("2024-05-01").as_deref(),
            Some("2024-05-01T00:00:00.000Z")
        );
        assert_eq!(
            normal_date("2024-05-01T10:30:00+02:00").as_deref(),
            Some("2024-05-01T08:30:00.000Z")
        );
        assert_eq!(normal_date("2024-13-01"), None);
        assert_eq!(normal_date("legal"), None);
        let a = normal_date("2024-05-01T08:30:00.5Z").unwrap();
        let b = normal_date("2024-05-01T08:30:00Z").unwrap();
        assert!(b < a, "{b} < {a}");
        let stored =
            attrs(json!({"signed": "2024-05-01", "tags": ["a", "b"], "year": 2024})).unwrap();
        assert_eq!(stored.0["signed"], "2024-05-01T00:00:00.000Z");
    }

    #[test]
    fn attributes_are_bounded_and_typed() {
        assert!(attrs(json!({"tags": "x"})).is_err());
        assert!(attrs(json!({"knowledge_base_id": 7})).is_err());
        assert!(attrs(json!({"bad name": 1})).is_err());
        assert!(attrs(json!({"nested": {"a": 1}})).is_err());
        assert!(attrs(json!({"n": [[1]]})).is_err());
        assert!(attrs(json!({"long": "x".repeat(MAX_STRING_CHARS + 1)})).is_err());
        let many: Map<String, Value> = (0..200)
            .map(|i| (format!("f{i}"), json!("y".repeat(30))))
            .collect();
        let err = Attributes::new(many, "metadata").unwrap_err();
        assert!(err.error.contains("limit"), "{err:?}");
        assert!(attrs(json!({"ok": true, "kb.v-2_x": 1.5, "list": [1, "a", false]})).is_ok());
    }

    #[test]
    fn filters_parse_every_form_and_name_what_is_wrong() {
        let f = Filter::from_json(&json!({"and": [
            {"field": "tags", "contains": "finance"},
            {"or": [{"field": "kb", "eq": "k1"}, {"field": "dept", "in": ["a", "b"]}]},
            {"field": "year", "gte": 2020, "lt": 2025},
            {"field": "signed", "gt": "2024-01-01"}
        ]}))
        .unwrap();
        let Filter::And(parts) = f else { panic!("and") };
        assert_eq!(parts.len(), 4);
        assert_eq!(
            parts[3],
            Filter::Range {
                field: "signed".into(),
                range: Range {
                    gt: Some(Bound::Date("2024-01-01T00:00:00.000Z".into())),
                    ..Range::default()
                }
            }
        );
        for (bad, part) in [
            (json!([]), "'filter' must be an object"),
            (json!({"and": []}), "'filter.and' must be a non-empty list"),
            (
                json!({"and": [{"field": "x"}]}),
                "'filter.and[0]' must have one of",
            ),
            (
                json!({"field": "x", "gte": 1, "lt": "2024-01-01"}),
                "mixes numbers and dates",
            ),
            (
                json!({"field": "x", "gte": "soon"}),
                "'filter.gte' must be a number or a date",
            ),
            (
                json!({"field": "x", "in": []}),
                "'filter.in' must be a list",
            ),
            (
                json!({"field": "x y", "eq": 1}),
                "'filter.field' is not a valid name",
            ),
            (
                json!({"field": "x", "eq": {"a": 1}}),
                "'filter.eq' must be a string",
            ),
            (
                json!({"and": [{"field": "x", "eq": 1}], "or": []}),
                "holds 'and' and other keys",
            ),
            (
                json!({"and": [{"and": [{"and": [{"and": [{"field": "x", "eq": 1}]}]}]}]}),
                "deeper than 4",
            ),
        ] {
            let err = Filter::from_json(&bad).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(err.error.contains(part), "{bad}: {}", err.error);
        }
        let wide: Vec<Value> = (0..=MAX_CONDITIONS)
            .map(|i| json!({"field": "x", "eq": i}))
            .collect();
        assert!(Filter::from_json(&json!({"or": wide}))
            .unwrap_err()
            .error
            .contains("conditions"));
    }
}
