//! Which images get a vision-model call: the best-scoring ones above the
//! threshold, at most the per-document budget, each distinct image once.

use std::collections::HashSet;

use super::score::Assessment;
use super::VisualsConfig;

/// Indices (into the document's images) of the images to transcribe, in
/// document order. Ties in score go to the earlier image, so the choice is
/// the same on every run.
pub fn select(assessments: &[Assessment], config: &VisualsConfig) -> Vec<usize> {
    let mut candidates: Vec<&Assessment> = assessments
        .iter()
        .filter(|a| a.ineligible.is_none() && a.score >= config.min_score)
        .collect();
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    let mut seen = HashSet::new();
    let mut chosen: Vec<usize> = candidates
        .into_iter()
        .filter(|a| seen.insert(a.hash))
        .take(config.max_images)
        .map(|a| a.index)
        .collect();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::super::score::Ineligible;
    use super::*;

    fn a(index: usize, score: f64, hash: u64) -> Assessment {
        Assessment {
            index,
            score,
            ineligible: None,
            hash,
        }
    }

    #[test]
    fn takes_the_best_within_the_budget_in_document_order() {
        let config = VisualsConfig {
            max_images: 2,
            min_score: 0.3,
            ..VisualsConfig::default()
        };
        let all = [a(0, 0.5, 1), a(1, 0.9, 2), a(2, 0.2, 3), a(3, 0.7, 4)];
        assert_eq!(select(&all, &config), vec![1, 3]);
    }

    #[test]
    fn ties_go_to_the_earlier_image() {
        let config = VisualsConfig {
            max_images: 2,
            min_score: 0.3,
            ..VisualsConfig::default()
        };
        let all = [a(0, 0.6, 1), a(1, 0.6, 2), a(2, 0.6, 3), a(3, 0.6, 4)];
        assert_eq!(select(&all, &config), vec![0, 1]);
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(select(&reversed, &config), vec![0, 1]);
    }

    #[test]
    fn skips_ineligible_below_threshold_and_duplicate_images() {
        let config = VisualsConfig {
            max_images: 10,
            min_score: 0.3,
            ..VisualsConfig::default()
        };
        let mut tiny = a(0, 0.9, 1);
        tiny.ineligible = Some(Ineligible::Tiny);
        let all = [
            tiny,
            a(1, 0.8, 7),
            a(2, 0.8, 7),
            a(3, 0.29, 8),
            a(4, 0.3, 9),
        ];
        assert_eq!(select(&all, &config), vec![1, 4]);
    }

    #[test]
    fn a_zero_budget_selects_nothing() {
        let config = VisualsConfig {
            max_images: 0,
            ..VisualsConfig::default()
        };
        assert!(select(&[a(0, 1.0, 1)], &config).is_empty());
    }
}
