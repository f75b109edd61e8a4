//! Attribute filters ([`rag_core::domain::attributes::Filter`]) as SQL, and the
//! narrowing of a search's scope to the documents they match.
//!
//! A filter is resolved first, to the ids of the documents the caller may
//! search that match it; the search then runs over those ids as it runs
//! over a request's `document_ids` (`search_sql`'s `$2`), so both
//! retrievers, the exact and the HNSW dense paths and the page search all
//! see the same narrowed scope, and each fills its list from matching
//! documents only. The statements themselves stay the prepared ones.
//!
//! Field names and values are bound, never written into the SQL. Attributes
//! live in `hybrid_documents.metadata -> 'attributes'`.

use rag_core::domain::attributes::{Bound, Filter, Range};
use rag_core::ports::{IndexError, SearchScope};
use serde_json::{json, Value};
use sqlx::{Postgres, QueryBuilder};

use crate::index::backend;

/// The attributes of document alias `d`.
const ATTRIBUTES: &str = "(d.metadata -> 'attributes')";

/// What a filter leaves of a scope.
pub(crate) enum Narrowed {
    /// No filter: the scope as it was.
    Unfiltered,
    /// The scope over the matching documents only.
    To(SearchScope),
    /// Nothing the caller may search matches.
    Nothing,
}

/// Resolves the scope's filter to the documents it matches, among those
/// the caller may search (own, or granted; narrowed by `document_ids` and
/// the pipeline).
pub(crate) async fn narrow(
    conn: &mut sqlx::PgConnection,
    scope: &SearchScope,
) -> Result<Narrowed, IndexError> {
    let Some(filter) = &scope.filter else {
        return Ok(Narrowed::Unfiltered);
    };
    // The caller's scope as every search reads it (`search_sql::scope_cte`,
    // keyed by owner and grants, so its cost follows the caller's documents
    // and not the table's): its `$1`-`$3` are bound first, in an unused CTE,
    // so that the filter's own parameters follow them.
    let mut q = QueryBuilder::<Postgres>::new("WITH args AS (SELECT ");
    q.push_bind(scope.caller.user.clone())
        .push("::text AS caller, ")
        .push_bind(scope.document_ids.clone())
        .push("::text[] AS ids, ")
        .push_bind(scope.pipeline.map(|p| p.as_str().to_owned()))
        .push("::text AS pipeline), ")
        .push(crate::search_sql::scope_cte("$3::text"))
        .push(
            " SELECT d.document_id FROM scope s \
             JOIN hybrid_documents d ON d.document_id = s.document_id WHERE ",
        );
    push_filter(&mut q, filter);
    let ids: Vec<String> = q
        .build_query_scalar()
        .fetch_all(conn)
        .await
        .map_err(backend)?;
    tracing::debug!(documents = ids.len(), "filter resolved");
    if ids.is_empty() {
        return Ok(Narrowed::Nothing);
    }
    Ok(Narrowed::To(SearchScope {
        document_ids: Some(ids),
        filter: None,
        ..scope.clone()
    }))
}

/// Appends `filter` as a boolean SQL expression over [`ATTRIBUTES`].
pub(crate) fn push_filter(q: &mut QueryBuilder<Postgres>, filter: &Filter) {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => {
            let joint = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            q.push("(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    q.push(joint);
                }
                push_filter(q, part);
            }
            q.push(")");
        }
        // Containment: a scalar equal to the value (jsonb equality, so 5
        // and 5.0 are one number and "5" is not).
        Filter::Eq { field, value } => {
            q.push(format!("({ATTRIBUTES} @> "))
                .push_bind(json!({ field: value }))
                .push("::jsonb)");
        }
        // A list holding the value.
        Filter::Contains { field, value } => {
            q.push(format!("({ATTRIBUTES} @> "))
                .push_bind(json!({ field: [value] }))
                .push("::jsonb)");
        }
        Filter::In { field, values } => {
            q.push(format!("({ATTRIBUTES} -> "))
                .push_bind(field.clone())
                .push("::text IN (SELECT jsonb_array_elements(")
                .push_bind(Value::Array(values.clone()))
                .push("::jsonb)))");
        }
        Filter::Range { field, range } => push_range(q, field, range),
    }
}

/// A range over numbers, or over dates in their one form (text that
/// compares as the dates do); a value of the other kind never matches (its
/// value is NULL).
fn push_range(q: &mut QueryBuilder<Postgres>, field: &str, range: &Range) {
    let bounds = [
        (">", &range.gt),
        (">=", &range.gte),
        ("<", &range.lt),
        ("<=", &range.lte),
    ];
    q.push("(");
    let mut first = true;
    for (op, bound) in bounds {
        let Some(bound) = bound else { continue };
        if !first {
            q.push(" AND ");
        }
        first = false;
        push_value(q, field, matches!(bound, Bound::Date(_)));
        q.push(format!(" {op} "));
        match bound {
            Bound::Number(n) => q.push_bind(*n).push("::float8"),
            Bound::Date(d) => q.push_bind(d.clone()).push("::text"),
        };
    }
    q.push(")");
}

/// The attribute `field` as a number, or as a date in its one form; NULL
/// when it is neither.
fn push_value(q: &mut QueryBuilder<Postgres>, field: &str, date: bool) {
    let bind = |q: &mut QueryBuilder<Postgres>| {
        q.push_bind(field.to_owned()).push("::text");
    };
    q.push(format!("(CASE WHEN jsonb_typeof({ATTRIBUTES} -> "));
    bind(q);
    if date {
        q.push(format!(") = 'string' AND {ATTRIBUTES} ->> "));
        bind(q);
        q.push(format!(
            " ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T' THEN {ATTRIBUTES} ->> "
        ));
        bind(q);
        q.push(" END)");
    } else {
        q.push(format!(") = 'number' THEN ({ATTRIBUTES} ->> "));
        bind(q);
        q.push(")::float8 END)");
    }
}
