//! The in-process embedder must reproduce sentence-transformers' vectors for
//! all-MiniLM-L6-v2 (fixture made by scripts/make-embedding-fixture.py), in a
//! padded batch and one text at a time alike, with every engine: cosine
//! >= 0.999 for the f32 ones, >= 0.99 for int8 (DESIGN.md, "Embeddings").

use std::path::{Path, PathBuf};

use rag_core::ports::Embedder;
use rag_core::search::language::{Script, ScriptCoverage};
use rag_embed::{BertEmbedder, DeferredBert, Engine, LoadError, Precision};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_dir() -> PathBuf {
    std::env::var_os("RAG_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".local/models/all-MiniLM-L6-v2"))
}

fn load_model() -> BertEmbedder {
    load_engine(Engine::DEFAULT)
}

fn load_engine(engine: Engine) -> BertEmbedder {
    let dir = model_dir();
    if !dir.join("model.safetensors").is_file() {
        panic!(
            "model not found at {}: run scripts/fetch-model.sh (or set RAG_MODEL_DIR)",
            dir.display()
        );
    }
    match BertEmbedder::load_with(&dir, engine) {
        Ok(m) => m,
        Err(e) => panic!("cannot load {} with {}: {e}", dir.display(), engine.name()),
    }
}

fn fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(e) => panic!("invalid fixture {}: {e}", path.display()),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[tokio::test]
async fn candle_matches_sentence_transformers() -> Result<(), Box<dyn std::error::Error>> {
    matches_sentence_transformers(Engine::Candle, 0.999).await
}

#[tokio::test]
async fn onnx_fp32_matches_sentence_transformers() -> Result<(), Box<dyn std::error::Error>> {
    matches_sentence_transformers(Engine::Onnx(Precision::Fp32), 0.999).await
}

#[tokio::test]
async fn onnx_int8_matches_sentence_transformers_within_its_bound(
) -> Result<(), Box<dyn std::error::Error>> {
    matches_sentence_transformers(Engine::Onnx(Precision::Int8), 0.99).await
}

/// In one padded batch and one text at a time alike.
async fn matches_sentence_transformers(
    engine: Engine,
    floor: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    // Its own batch size: candle pads a batch, ONNX Runtime takes one text
    // at a time (see Engine::default_batch_size).
    let model = load_engine(engine);
    assert_eq!(model.engine(), engine);
    let fx = fixture();
    assert_eq!(model.model_id(), "local:all-MiniLM-L6-v2");
    assert_eq!(model.dimensions(), 384);
    assert_eq!(model.max_tokens(), 254);
    // Its card says `language: en`: Latin script only.
    assert_eq!(
        model.script_coverage(),
        &ScriptCoverage::Only(vec![Script::Latin])
    );

    // The fixture's long text must exceed the window, so truncation is tested.
    let longest = fx
        .sentences
        .iter()
        .map(|s| model.token_counter().count(s))
        .max();
    assert!(
        longest > Some(model.max_tokens()),
        "no fixture text is truncated: {longest:?}"
    );

    let batch = model.embed_documents(&fx.sentences).await?;
    assert_eq!(batch.len(), fx.sentences.len());
    let mut min = f64::MAX;
    for (i, (got, want)) in batch.iter().zip(&fx.embeddings).enumerate() {
        assert_eq!(got.len(), 384);
        let norm = got
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "vector {i} has norm {norm}");
        let c = cosine(got, want);
        println!("sentence {i}: cosine {c:.9} (1 - cosine = {:.2e})", 1.0 - c);
        assert!(
            c >= floor,
            "{}: sentence {i} ({:?}): cosine {c}",
            engine.name(),
            fx.sentences[i]
        );
        min = min.min(c);
    }
    println!(
        "{}: minimum cosine to sentence-transformers: {min:.9}",
        engine.name()
    );

    for (i, text) in fx.sentences.iter().enumerate() {
        let single = model.embed_query(text).await?;
        let c = cosine(&single, &batch[i]);
        assert!(c >= 0.9999, "sentence {i}: alone vs batched cosine {c}");
    }
    Ok(())
}

#[test]
fn token_counter_counts_without_specials_or_truncation() {
    let model = load_model();
    let counter = model.token_counter();
    assert_eq!(counter.count("hello world"), 2);
    let long = "word ".repeat(1000);
    assert_eq!(counter.count(&long), 1000);
}

#[test]
fn a_missing_onnx_graph_is_named_with_how_to_make_it() {
    let dir = model_without_weights("no-graph");
    let err = BertEmbedder::load_with(&dir, Engine::Onnx(Precision::Int8)).err();
    let _ = std::fs::remove_dir_all(&dir);
    match err {
        Some(LoadError::Onnx { path, message }) => {
            assert!(
                path.ends_with("onnx/model_qint8.onnx"),
                "{}",
                path.display()
            );
            assert!(message.contains("fetch-model.sh"), "{message}");
        }
        other => panic!("expected a missing-graph error, got {other:?}"),
    }
}

#[test]
fn a_corrupt_onnx_graph_is_an_error_not_a_crash() {
    let dir = model_without_weights("bad-graph");
    std::fs::write(dir.join("onnx/model.onnx"), b"not a protobuf at all")
        .unwrap_or_else(|e| panic!("{e}"));
    let err = BertEmbedder::load_with(&dir, Engine::Onnx(Precision::Fp32)).err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(err, Some(LoadError::Onnx { .. })),
        "expected an ONNX load error, got {err:?}"
    );
}

/// The model loading in the background answers as the loaded one does:
/// same id, dimensions, window, token counts and vectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_loading_in_the_background_answers_as_the_loaded_one(
) -> Result<(), Box<dyn std::error::Error>> {
    let deferred = DeferredBert::start(&model_dir(), Engine::DEFAULT)?;
    let loaded = load_model();
    assert_eq!(deferred.model_id(), loaded.model_id());
    assert_eq!(deferred.dimensions(), loaded.dimensions());
    assert_eq!(deferred.max_tokens(), loaded.max_tokens());
    assert_eq!(deferred.script_coverage(), loaded.script_coverage());
    let text = "Deferred loading keeps a cold start short.";
    assert_eq!(
        deferred.token_counter().count(text),
        loaded.token_counter().count(text)
    );
    let fx = fixture();
    assert_eq!(
        deferred.embed_documents(&fx.sentences).await?,
        loaded.embed_documents(&fx.sentences).await?
    );
    assert_eq!(
        deferred.embed_query(text).await?,
        loaded.embed_query(text).await?
    );
    Ok(())
}

/// What can be checked at once is: a model directory without the engine's
/// weights fails at start, not at the first embedding.
#[test]
fn a_background_load_without_weights_fails_at_start() {
    let dir = model_without_weights("deferred-no-graph");
    let err = DeferredBert::start(&dir, Engine::Onnx(Precision::Int8)).err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(&err, Some(LoadError::Onnx { path, .. }) if path.ends_with("onnx/model_qint8.onnx")),
        "{err:?}"
    );
}

/// A graph that exists but cannot be loaded fails every embedding with the
/// reason, and counting tokens still answers (by bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_load_that_fails_fails_each_embedding_with_its_reason() {
    let dir = model_without_weights("deferred-bad-graph");
    std::fs::write(dir.join("onnx/model.onnx"), b"not a protobuf at all")
        .unwrap_or_else(|e| panic!("{e}"));
    let deferred = match DeferredBert::start(&dir, Engine::Onnx(Precision::Fp32)) {
        Ok(d) => d,
        Err(e) => panic!("the files exist, so the start succeeds: {e}"),
    };
    let err = deferred.embed_query("anything").await.err();
    let _ = std::fs::remove_dir_all(&dir);
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("could not be loaded"), "{message}");
    assert_eq!(deferred.token_counter().count("twelve bytes"), 12);
}

/// A fresh directory with the model's configuration and tokenizer but no
/// weights (and an empty `onnx/`), for tests of what loading makes of it.
fn model_without_weights(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    let source = model_dir();
    std::fs::create_dir_all(dir.join("onnx")).unwrap_or_else(|e| panic!("{e}"));
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(source.join(f), dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    dir
}
