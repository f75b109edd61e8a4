//! Embedding throughput of the in-process model on MS MARCO-like passages
//! (256 passages of about 60 words) and on chunk-sized ones (about 200
//! tokens). Ignored by default; run (in release, as production does) with
//! `cargo test --release -p rag-embed --test throughput -- --ignored --nocapture --test-threads 1`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rag_embed::BertEmbedder;

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "that",
    "with",
    "as",
    "on",
    "are",
    "by",
    "it",
    "from",
    "an",
    "be",
    "or",
    "at",
    "which",
    "this",
    "can",
    "has",
    "was",
    "also",
    "most",
    "used",
    "other",
    "when",
    "their",
    "water",
    "body",
    "blood",
    "cells",
    "temperature",
    "average",
    "cost",
    "price",
    "county",
    "state",
    "city",
    "population",
    "weather",
    "symptoms",
    "disease",
    "treatment",
    "doctor",
    "patients",
    "protein",
    "vitamin",
    "calories",
    "minutes",
    "hours",
    "years",
    "salary",
    "employees",
    "company",
    "insurance",
    "tax",
    "income",
    "credit",
    "bank",
    "account",
    "software",
    "computer",
    "windows",
    "password",
    "internet",
    "phone",
    "battery",
    "engine",
    "vehicle",
    "mileage",
    "oil",
    "gas",
    "energy",
    "electricity",
    "solar",
    "climate",
    "rainfall",
    "mountain",
    "river",
    "ocean",
    "island",
    "species",
    "animals",
    "plants",
    "soil",
    "seeds",
    "flowers",
    "history",
    "century",
    "war",
    "president",
    "government",
    "constitution",
    "court",
    "law",
    "rights",
    "university",
    "students",
    "degree",
    "course",
    "teacher",
    "school",
    "language",
    "meaning",
    "definition",
    "recipe",
    "chicken",
    "bake",
    "oven",
    "cheese",
    "sugar",
    "flour",
    "butter",
    "minutes",
    "degrees",
    "typically",
    "usually",
    "approximately",
    "generally",
    "located",
    "known",
    "called",
    "defined",
    "caused",
    "including",
    "between",
    "during",
    "before",
    "after",
    "because",
    "however",
    "although",
    "several",
    "many",
];

/// A deterministic pseudo-random passage of `words` ± 5 words in sentences.
fn passage(seed: u64, words: usize) -> String {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let n = words - 5 + next() % 11;
    let mut out = String::new();
    let mut sentence_len = 0;
    for i in 0..n {
        let w = WORDS[next() % WORDS.len()];
        if sentence_len == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push_str(w);
        }
        sentence_len += 1;
        if i + 1 == n || (sentence_len >= 8 && next() % 5 == 0) {
            out.push_str(if next() % 7 == 0 { ", " } else { ". " });
            sentence_len = 0;
        } else {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

/// CPU seconds used by this process so far (Linux; `None` elsewhere), so the
/// numbers can be read on a machine shared with other work.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are the
    // 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn model_dir() -> PathBuf {
    std::env::var_os("RAG_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/models/all-MiniLM-L6-v2")
        })
}

fn measure(model: &BertEmbedder, passages: &[String], runs: usize) {
    let counter = model.token_counter();
    let tokens: usize = passages.iter().map(|p| counter.count(p)).sum();
    let words: usize = passages.iter().map(|p| p.split_whitespace().count()).sum();
    let n = passages.len() as f64;
    println!(
        "{} passages, {:.1} words and {:.1} tokens on average; candle threads: {}",
        passages.len(),
        words as f64 / n,
        tokens as f64 / n,
        candle_core::utils::get_num_threads(),
    );
    // Warm-up: page in the memory-mapped weights, size the allocator.
    if let Err(e) = model.embed_blocking(&passages[..32.min(passages.len())]) {
        panic!("warm-up failed: {e}");
    }
    for batch in [1, 16, 32, 64] {
        let m = model.clone().with_batch_size(batch);
        let started = Instant::now();
        let cpu_start = cpu_seconds();
        for _ in 0..runs {
            if let Err(e) = m.embed_blocking(passages) {
                panic!("embedding failed: {e}");
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let count = (runs * passages.len()) as f64;
        let cpu = cpu_seconds().zip(cpu_start).map(|(end, start)| end - start);
        println!(
            "batch {batch:>2}: {:.1} embeddings/s wall, {:.1} per CPU-second, {:.0}% CPU",
            count / secs,
            cpu.map_or(f64::NAN, |c| count / c),
            cpu.map_or(f64::NAN, |c| 100.0 * c / secs),
        );
    }
}

fn load() -> BertEmbedder {
    let dir = model_dir();
    match BertEmbedder::load(&dir) {
        Ok(m) => m,
        Err(e) => panic!(
            "cannot load {} ({e}): run scripts/fetch-model.sh",
            dir.display()
        ),
    }
}

/// MS MARCO-sized passages: 256 of about 60 words.
#[test]
#[ignore = "benchmark: run explicitly"]
fn embeddings_per_second() {
    let passages: Vec<String> = (0..256).map(|i| passage(i, 60)).collect();
    measure(&load(), &passages, 2);
}

/// Chunk-sized passages: 128 of about 170 words, near the chunker's default
/// 200-token chunks.
#[test]
#[ignore = "benchmark: run explicitly"]
fn embeddings_per_second_full_chunks() {
    let passages: Vec<String> = (0..128).map(|i| passage(i, 170)).collect();
    measure(&load(), &passages, 1);
}
