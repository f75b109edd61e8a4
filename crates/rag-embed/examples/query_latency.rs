//! How long one query's embedding takes, the part of every dense search
//! that does not depend on the index: `cargo run --release -p rag-embed
//! --example query_latency [model dir]`.

use std::path::PathBuf;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(".local/models/all-MiniLM-L6-v2"),
        PathBuf::from,
    );
    let setup = rag_embed::embedder_from_env(&dir)?;
    let queries = [
        "what is the definition of osmosis",
        "how long does it take to boil an egg",
        "symptoms of vitamin d deficiency in adults",
        "who wrote the declaration of independence",
    ];
    let mut times = Vec::new();
    for round in 0..30 {
        for q in queries {
            let started = Instant::now();
            setup.embedder.embed_query(q).await?;
            if round > 0 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "query embedding: p50 {:.2} ms, p95 {:.2} ms ({} queries, {} threads)",
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times.len(),
        candle_core::utils::get_num_threads()
    );
    Ok(())
}
