//! Combining the dense and the BM25 result lists into one ranking.

use std::collections::HashMap;
use std::hash::Hash;

/// Reciprocal rank fusion constant (Cormack et al., 2009).
pub const RRF_K: f64 = 60.0;

/// How the two lists are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Scores min-max normalised per list, then summed with the weights
    /// (renormalised to sum to 1). A candidate missing from a list gets 0 there.
    Weighted {
        /// Weight of the dense list (`dense_weight`), before renormalising;
        /// both weights zero count as 0.5 each.
        dense: f64,
        /// Weight of the BM25 list (`sparse_weight`), before renormalising.
        sparse: f64,
    },
    /// Σ wᵢ (k + 1) / (k + rankᵢ) with k = 60 and the same renormalised
    /// weights: plain RRF for equal weights, scaled so that first in both
    /// lists scores 1 (the order is RRF's; the scale reads like a share).
    Rrf {
        /// Weight of the dense list (`dense_weight`), before renormalising;
        /// both weights zero count as 0.5 each.
        dense: f64,
        /// Weight of the BM25 list (`sparse_weight`), before renormalising.
        sparse: f64,
    },
}

/// The fusion a hybrid request asks for (`fusion`, or `use_rrf: true`).
///
/// Weighted reciprocal ranks are the default: at the API's default weights
/// (0.7/0.3) they were never below the better single retriever on any of
/// four sets (msmarco-5k, arcd-ar, dbpedia-entity, business-reports), where
/// min-max score fusion fell 0.010 below dense on the entity set. Rank
/// fusion does not care that BM25 scores have no fixed scale: min-max turns
/// a weak BM25 list's best hit into a full 1 whatever its real lead.
/// `scripts/fusion-study.py` holds the measurement and every rule tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FusionMethod {
    /// [`Fusion::Rrf`] with the request's weights.
    #[default]
    Rrf,
    /// [`Fusion::Weighted`]: min-max normalised scores, the earlier default.
    MinMax,
}

impl FusionMethod {
    /// The API name's method (`rrf`, `min_max`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rrf" => Some(Self::Rrf),
            "min_max" => Some(Self::MinMax),
            _ => None,
        }
    }

    /// The fusion with these (not yet renormalised) weights.
    pub fn with_weights(self, dense: f64, sparse: f64) -> Fusion {
        match self {
            Self::Rrf => Fusion::Rrf { dense, sparse },
            Self::MinMax => Fusion::Weighted { dense, sparse },
        }
    }
}

/// Weights scaled to sum to 1; `None` when both are zero.
pub fn renormalize(dense: f64, sparse: f64) -> Option<(f64, f64)> {
    let total = dense + sparse;
    (total > 0.0 && total.is_finite()).then(|| (dense / total, sparse / total))
}

/// Fuses two ranked lists (best first) of `(id, score)` into one, best first.
/// Ties keep the order of first appearance (dense, then sparse).
pub fn fuse<Id: Eq + Hash + Clone>(
    dense: &[(Id, f64)],
    sparse: &[(Id, f64)],
    fusion: Fusion,
) -> Vec<(Id, f64)> {
    let mut order: Vec<Id> = Vec::new();
    let mut fused: HashMap<Id, f64> = HashMap::new();
    let mut add = |id: &Id, s: f64| {
        let entry = fused.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            0.0
        });
        *entry += s;
    };
    match fusion {
        Fusion::Weighted {
            dense: wd,
            sparse: ws,
        } => {
            let (wd, ws) = renormalize(wd, ws).unwrap_or((0.5, 0.5));
            for (list, w) in [(dense, wd), (sparse, ws)] {
                for (id, norm) in min_max(list) {
                    add(id, w * norm);
                }
            }
        }
        Fusion::Rrf {
            dense: wd,
            sparse: ws,
        } => {
            let (wd, ws) = renormalize(wd, ws).unwrap_or((0.5, 0.5));
            for (list, w) in [(dense, wd), (sparse, ws)] {
                // Equal scores share the better rank: two copies of a text
                // are equally good answers, whichever the list put first.
                let mut rank = 0;
                for (i, (id, score)) in list.iter().enumerate() {
                    if i > 0 && *score != list[i - 1].1 {
                        rank = i;
                    }
                    add(id, w * (RRF_K + 1.0) / (RRF_K + rank as f64 + 1.0));
                }
            }
        }
    }
    let mut out: Vec<(usize, Id, f64)> = order
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let s = fused[&id];
            (i, id, s)
        })
        .collect();
    out.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    out.into_iter().map(|(_, id, s)| (id, s)).collect()
}

/// Min-max normalisation of one list; a list whose scores are all equal maps to 1.
fn min_max<Id>(list: &[(Id, f64)]) -> impl Iterator<Item = (&Id, f64)> {
    let (lo, hi) = list
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, s)| {
            (lo.min(*s), hi.max(*s))
        });
    let span = hi - lo;
    list.iter()
        .map(move |(id, s)| (id, if span > 0.0 { (s - lo) / span } else { 1.0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_normalizes_scores_and_weights() {
        let dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)];
        let sparse = [("c", 30.0), ("d", 10.0)];
        let out = fuse(
            &dense,
            &sparse,
            Fusion::Weighted {
                dense: 1.4,
                sparse: 0.6,
            },
        );
        // weights renormalise to 0.7 / 0.3: a=0.7, b=0.35, c=0+0.3, d=0
        let got: Vec<(&str, f64)> = out
            .iter()
            .map(|(id, s)| (*id, (s * 1000.0).round() / 1000.0))
            .collect();
        assert_eq!(got, vec![("a", 0.7), ("b", 0.35), ("c", 0.3), ("d", 0.0)]);
    }

    #[test]
    fn rrf_uses_ranks_only() {
        let dense = [("a", 100.0), ("b", 99.0)];
        let sparse = [("b", 0.1), ("a", 0.0)];
        let out = fuse(
            &dense,
            &sparse,
            Fusion::Rrf {
                dense: 1.0,
                sparse: 1.0,
            },
        );
        assert!(
            (out[0].1 - out[1].1).abs() < 1e-12,
            "a and b swap ranks, so they tie: {out:?}"
        );
        assert_eq!(out[0].0, "a", "ties keep first appearance");
        assert!((out[0].1 - 0.5 * (61.0 / 61.0 + 61.0 / 62.0)).abs() < 1e-12);
        let first_in_both = fuse(
            &[("a", 1.0)],
            &[("a", 1.0)],
            Fusion::Rrf {
                dense: 0.7,
                sparse: 0.3,
            },
        );
        assert!(
            (first_in_both[0].1 - 1.0).abs() < 1e-12,
            "{first_in_both:?}"
        );
    }

    #[test]
    fn tied_scores_share_a_rank() {
        let dense = [("a", 0.9), ("b", 0.9), ("c", 0.5)];
        let sparse = [("a", 3.0), ("b", 3.0)];
        let out = fuse(&dense, &sparse, FusionMethod::Rrf.with_weights(0.7, 0.3));
        assert_eq!(out[0].1, out[1].1, "{out:?}");
        assert_eq!(out[0].1, 1.0);
        // c is third, not second, in the dense list.
        assert!((out[2].1 - 0.7 * 61.0 / 63.0).abs() < 1e-12, "{out:?}");
    }

    #[test]
    fn weights_steer_rank_fusion() {
        // a is first for dense, b first for BM25: the heavier list wins.
        let dense = [("a", 0.9), ("b", 0.8)];
        let sparse = [("b", 12.0), ("a", 1.0)];
        let top = |dense_w: f64| {
            let fusion = FusionMethod::Rrf.with_weights(dense_w, 1.0 - dense_w);
            fuse(&dense, &sparse, fusion)[0].0
        };
        assert_eq!(top(0.7), "a");
        assert_eq!(top(0.3), "b");
        assert_eq!(FusionMethod::default(), FusionMethod::Rrf);
        assert_eq!(FusionMethod::parse("min_max"), Some(FusionMethod::MinMax));
        assert_eq!(FusionMethod::parse("weighted"), None);
    }

    #[test]
    fn single_valued_lists_and_zero_weights() {
        let out = fuse(
            &[("a", 0.3)],
            &[],
            Fusion::Weighted {
                dense: 0.0,
                sparse: 1.0,
            },
        );
        assert_eq!(out, vec![("a", 0.0)]);
        assert_eq!(renormalize(0.0, 0.0), None);
        assert_eq!(
            fuse(
                &[("a", 0.3)],
                &[],
                Fusion::Weighted {
                    dense: 1.0,
                    sparse: 0.0
                }
            ),
            vec![("a", 1.0)]
        );
    }
}
