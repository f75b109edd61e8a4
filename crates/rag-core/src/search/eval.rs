//! Retrieval quality metrics, as trec_eval defines them (`ndcg_cut_10`,
//! `recall_100`, `recip_rank`), and the BEIR file formats they run on.

use std::collections::HashMap;

use serde::Deserialize;

/// Graded judgments: query id → document id → grade.
pub type Qrels = HashMap<String, HashMap<String, u32>>;

/// A BEIR corpus entry.
#[derive(Debug, Clone, Deserialize)]
pub struct CorpusEntry {
    /// The document id the qrels judge (`_id` in `corpus.jsonl`).
    #[serde(rename = "_id")]
    pub id: String,
    /// The document's title; empty when the entry has none.
    #[serde(default)]
    pub title: String,
    /// The document's body.
    pub text: String,
}

impl CorpusEntry {
    /// The text indexed for this entry: title, blank line, body.
    pub fn document_text(&self) -> String {
        match self.title.trim() {
            "" => self.text.trim().to_owned(),
            t => format!("{t}\n\n{}", self.text.trim()),
        }
    }
}

/// A BEIR query.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuery {
    /// The query id the qrels judge (`_id` in `queries.jsonl`).
    #[serde(rename = "_id")]
    pub id: String,
    /// The query as a user would type it.
    pub text: String,
}

/// A malformed BEIR file.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FormatError {
    /// The offending line, counted from 1.
    pub line: usize,
    /// What is wrong with it (for JSON Lines, serde_json's message).
    pub message: String,
}

/// Parses JSON Lines, skipping blank lines.
pub fn parse_jsonl<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, FormatError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| FormatError {
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Parses `query-id \t corpus-id \t grade` lines; a header line is skipped.
pub fn parse_qrels(text: &str) -> Result<Qrels, FormatError> {
    let mut qrels = Qrels::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if line.trim().is_empty() {
            continue;
        }
        let [q, d, g] = fields[..] else {
            return Err(FormatError {
                line: i + 1,
                message: format!("expected 3 tab-separated fields, found {}", fields.len()),
            });
        };
        let Ok(grade) = g.parse::<i64>() else {
            if i == 0 {
                continue; // header
            }
            return Err(FormatError {
                line: i + 1,
                message: format!("grade '{g}' is not an integer"),
            });
        };
        qrels
            .entry(q.to_owned())
            .or_default()
            .insert(d.to_owned(), grade.max(0) as u32);
    }
    Ok(qrels)
}

/// Whether a query counts: at least one judgment with grade > 0.
pub fn is_judged(judgments: &HashMap<String, u32>) -> bool {
    judgments.values().any(|&g| g > 0)
}

/// nDCG at `k` with linear gain (= grade) and the ideal ranking built from
/// every judged document of the query.
pub fn ndcg_at(ranking: &[String], judgments: &HashMap<String, u32>, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| judgments.get(d).copied().unwrap_or(0) as f64 / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = judgments.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| g as f64 / (i as f64 + 2.0).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Share of relevant (grade > 0) documents found in the first `k`.
pub fn recall_at(ranking: &[String], judgments: &HashMap<String, u32>, k: usize) -> f64 {
    let relevant = judgments.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking
        .iter()
        .take(k)
        .filter(|d| judgments.get(*d).is_some_and(|&g| g > 0))
        .count();
    found as f64 / relevant as f64
}

/// 1 / rank of the first relevant document (0 when none is retrieved).
pub fn reciprocal_rank(ranking: &[String], judgments: &HashMap<String, u32>) -> f64 {
    ranking
        .iter()
        .position(|d| judgments.get(d).is_some_and(|&g| g > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// The value at quantile `q` (0..=1) of `values`, by nearest rank.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// The 95% interval of `statistic` by a bootstrap over queries: each of
/// `resamples` draws `queries` query indices with replacement and hands
/// them to `statistic`, which computes the figure over those queries (a
/// mean of per-query differences, a median of their latencies, ...).
/// Resampling whole queries is what makes a difference between two runs of
/// the same queries, or a latency near a target, tell from noise. Seeded,
/// so a rerun prints the same interval.
pub fn query_bootstrap(
    queries: usize,
    resamples: usize,
    mut statistic: impl FnMut(&[usize]) -> f64,
) -> [f64; 2] {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    if queries == 0 || resamples == 0 {
        return [0.0, 0.0];
    }
    let mut rng = StdRng::seed_from_u64(14);
    let mut picked = vec![0; queries];
    let figures: Vec<f64> = (0..resamples)
        .map(|_| {
            for p in picked.iter_mut() {
                *p = rng.random_range(0..queries);
            }
            statistic(&picked)
        })
        .collect();
    [percentile(&figures, 0.025), percentile(&figures, 0.975)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_interval_holds_the_mean_and_narrows_with_agreement() {
        let values: Vec<f64> = (0..50).map(|i| f64::from(i % 5) - 2.0).collect();
        let mean =
            |picked: &[usize]| picked.iter().map(|&i| values[i]).sum::<f64>() / picked.len() as f64;
        let [lo, hi] = query_bootstrap(values.len(), 2_000, mean);
        assert!(lo < 0.0 && hi > 0.0, "[{lo}, {hi}]");
        assert_eq!(query_bootstrap(10, 500, |_| 3.0), [3.0, 3.0]);
        assert_eq!(query_bootstrap(0, 500, |_| 3.0), [0.0, 0.0]);
    }

    fn judg(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }
    fn rank(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ndcg_matches_trec_eval_definition() {
        let j = judg(&[("a", 3), ("b", 1), ("c", 0), ("z", 2)]);
        // DCG = 3/log2(2) + 0/log2(3) + 1/log2(4) = 3.5; IDCG = 3 + 2/log2(3) + 1/2
        let got = ndcg_at(&rank(&["a", "c", "b"]), &j, 10);
        let want = 3.5 / (3.0 + 2.0 / 3f64.log2() + 0.5);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert_eq!(ndcg_at(&rank(&["a", "z", "b"]), &j, 10), 1.0);
        assert_eq!(ndcg_at(&rank(&["x"]), &j, 10), 0.0);
    }

    #[test]
    fn recall_and_rr() {
        let j = judg(&[("a", 1), ("b", 2), ("c", 0)]);
        assert_eq!(recall_at(&rank(&["c", "b", "x"]), &j, 100), 0.5);
        assert_eq!(recall_at(&rank(&["c", "b", "a"]), &j, 2), 0.5);
        assert_eq!(reciprocal_rank(&rank(&["c", "x", "a"]), &j), 1.0 / 3.0);
        assert_eq!(reciprocal_rank(&rank(&["c"]), &j), 0.0);
        assert!(!is_judged(&judg(&[("c", 0)])));
    }

    #[test]
    fn beir_files_parse() {
        let q = parse_qrels("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n").unwrap();
        assert_eq!(q["q1"]["d1"], 2);
        assert!(parse_qrels("q1\td1\n").is_err());
        let c: Vec<CorpusEntry> = parse_jsonl(
            "{\"_id\":\"1\",\"title\":\"T\",\"text\":\"body\"}\n\n{\"_id\":\"2\",\"text\":\"x\"}",
        )
        .unwrap();
        assert_eq!(
            (c[0].document_text().as_str(), c[1].document_text().as_str()),
            ("T\n\nbody", "x")
        );
        assert_eq!(percentile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.5), 3.0);
        assert_eq!(percentile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.95), 5.0);
    }
}
