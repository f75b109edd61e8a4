//! Okapi BM25 over the postings a search read from the caller's scope: one
//! scorer for every index (PostgreSQL's, the in-memory one of the tests).
//!
//! PostgreSQL's statement reads the scope's postings of the query terms and
//! the scope's N and average length; the scores are summed here. Summing them in
//! SQL (df per term, a join back, a sort and a grouping over every posting)
//! took 25 of the 36 ms of a search over a 100,000-chunk scope in the
//! million-chunk benchmark (`ragctl bench`, auto_explain), for 16,000
//! postings that this loop scores in well under a millisecond.

use std::collections::HashMap;

use crate::ports::Bm25Params;

/// One posting of a query term in a chunk of the scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    /// The query term.
    pub term: String,
    /// The chunk it occurs in (ties are broken by it).
    pub chunk_id: i64,
    /// The chunk's document (ties are broken by it first).
    pub document_id: String,
    /// How often the term occurs in the chunk.
    pub tf: i32,
    /// The chunk's length in terms (BM25's document length).
    pub chunk_len: i32,
}

/// A chunk's BM25 score.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The chunk.
    pub chunk_id: i64,
    /// Its document.
    pub document_id: String,
    /// Its BM25 score, rounded to 1e-9.
    pub score: f64,
}

/// Every chunk with a posting of a query term, best first; ties by
/// document, then chunk, so the order does not depend on the order rows
/// were read in. `n` and `avgdl` are the scope's chunk count and average
/// length; df is counted from `postings`, which hold all of the scope's
/// postings of the query terms. IDF is Lucene's
/// `ln(1 + (N - df + 0.5) / (df + 0.5))`, never negative.
pub fn score(
    postings: &[Posting],
    query: &[(String, u32)],
    n: f64,
    avgdl: f64,
    params: Bm25Params,
) -> Vec<Scored> {
    let position: HashMap<&str, usize> = query
        .iter()
        .enumerate()
        .map(|(i, (t, _))| (t.as_str(), i))
        .collect();
    let mut df = vec![0f64; query.len()];
    for p in postings {
        if let Some(&i) = position.get(p.term.as_str()) {
            df[i] += 1.0;
        }
    }
    let idf: Vec<f64> = df
        .iter()
        .map(|&df| (1.0 + (n - df + 0.5) / (df + 0.5)).ln())
        .collect();
    let (k1, b) = (params.k1, params.b);
    let avgdl = if avgdl > 0.0 { avgdl } else { 1.0 };
    // Per chunk, one contribution per query term, summed in query order:
    // the same sum whatever order the postings came in.
    let mut chunks: HashMap<i64, (&str, Vec<f64>)> = HashMap::new();
    for p in postings {
        let Some(&i) = position.get(p.term.as_str()) else {
            continue;
        };
        let tf = f64::from(p.tf);
        let norm = tf + k1 * (1.0 - b + b * f64::from(p.chunk_len) / avgdl);
        let contribution = f64::from(query[i].1) * idf[i] * tf * (k1 + 1.0) / norm;
        chunks
            .entry(p.chunk_id)
            .or_insert_with(|| (p.document_id.as_str(), vec![0.0; query.len()]))
            .1[i] += contribution;
    }
    let mut scored: Vec<Scored> = chunks
        .into_iter()
        .map(|(chunk_id, (document_id, parts))| Scored {
            chunk_id,
            document_id: document_id.to_owned(),
            // Rounded, so that scores equal in exact arithmetic compare equal.
            score: (parts.iter().sum::<f64>() * 1e9).round() / 1e9,
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.document_id.cmp(&b.document_id))
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(term: &str, chunk_id: i64, document_id: &str, tf: i32, chunk_len: i32) -> Posting {
        Posting {
            term: term.into(),
            chunk_id,
            document_id: document_id.into(),
            tf,
            chunk_len,
        }
    }

    #[test]
    fn scores_are_okapi_bm25_with_df_from_the_postings() {
        // Three chunks in scope; "solar" in two of them, "panel" in one.
        let postings = vec![
            posting("solar", 1, "d1", 2, 10),
            posting("solar", 2, "d2", 1, 5),
            posting("panel", 2, "d2", 1, 5),
        ];
        let query = vec![("solar".to_owned(), 1), ("panel".to_owned(), 1)];
        let p = Bm25Params { k1: 0.9, b: 0.4 };
        let (n, avgdl) = (3.0, 7.0);
        let got = score(&postings, &query, n, avgdl, p);
        let idf = |df: f64| (1.0f64 + (n - df + 0.5) / (df + 0.5)).ln();
        let part = |tf: f64, len: f64| tf * 1.9 / (tf + 0.9 * (0.6 + 0.4 * len / avgdl));
        let chunk2 = idf(2.0) * part(1.0, 5.0) + idf(1.0) * part(1.0, 5.0);
        let chunk1 = idf(2.0) * part(2.0, 10.0);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].chunk_id, 2);
        assert!((got[0].score - chunk2).abs() < 1e-8);
        assert!((got[1].score - chunk1).abs() < 1e-8);
    }

    #[test]
    fn ties_rank_by_document_then_chunk_whatever_the_read_order() {
        let a = vec![
            posting("x", 9, "b", 1, 4),
            posting("x", 3, "a", 1, 4),
            posting("x", 5, "a", 1, 4),
        ];
        let mut b = a.clone();
        b.reverse();
        let query = vec![("x".to_owned(), 1)];
        let p = Bm25Params::default();
        let order = |v: &[Posting]| -> Vec<i64> {
            score(v, &query, 10.0, 4.0, p)
                .iter()
                .map(|s| s.chunk_id)
                .collect()
        };
        assert_eq!(order(&a), vec![3, 5, 9]);
        assert_eq!(order(&b), vec![3, 5, 9]);
    }
}
