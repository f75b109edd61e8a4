//! `ragctl` end to end, as a user runs it, on the real database and model.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn ragctl(args: &[&str]) -> Output {
    ragctl_with(args, &[])
}

/// `ragctl` with `env` set on top of this process's environment.
fn ragctl_with(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ragctl"));
    cmd.args(args).current_dir(&workspace);
    if std::env::var_os("RAG_MODEL_DIR").is_none() {
        cmd.env(
            "RAG_MODEL_DIR",
            workspace.join(".local/models/all-MiniLM-L6-v2"),
        );
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("ragctl runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_lists_every_command() {
    let out = ragctl(&["--help"]);
    assert!(out.status.success());
    for cmd in [
        "db",
        "ingest",
        "query",
        "documents",
        "delete",
        "extract",
        "eval",
        "migrate-legacy",
        "reembed",
        "cost",
        "dlq",
    ] {
        assert!(text(&out).contains(cmd), "--help does not mention {cmd}");
    }
}

#[test]
fn db_drop_does_nothing_without_yes() {
    // (Its effect is tested on a database of its own: tests/tests/index_layout.rs.)
    let out = ragctl(&["db", "drop"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    let listed = ragctl(&["documents", "--user", "nobody", "--json"]);
    assert!(
        listed.status.success(),
        "the index is still there: {}",
        text(&listed)
    );
}

#[test]
fn migrate_legacy_says_what_it_cannot_read() {
    // The test database has no old `embeddings` table.
    let out = ragctl(&[
        "migrate-legacy",
        "--bucket",
        "b",
        "--hash-files-table",
        "h",
        "--files-table",
        "f",
        "--object-access-table",
        "o",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(r#"the embeddings table: error returned from database: relation "embeddings" does not exist"#),
        "{}",
        text(&out)
    );
    let out = ragctl(&["migrate-legacy", "--bucket", "b", "--batch-size", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn dlq_says_which_queue_it_lacks() {
    // (Listing and redriving are tested on the emulator: tests/tests/lambda_fleet.rs.)
    if std::env::var_os("TEXT_RAG_PROCESSING_QUEUE_URL").is_some() {
        return;
    }
    let out = ragctl(&["dlq", "list", "--queue", "text"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("TEXT_RAG_PROCESSING_QUEUE_URL is not set"),
        "{}",
        text(&out)
    );
    let out = ragctl(&["dlq", "redrive"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a message id or --all: {}",
        text(&out)
    );
}

#[test]
fn an_unknown_engine_or_a_model_without_its_graph_is_refused_at_start() {
    let out = ragctl_with(
        &["query", "q", "--user", "nobody"],
        &[("RAG_EMBED_ENGINE", "tensorflow".as_ref())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "RAG_EMBED_ENGINE must be 'onnx-int8', 'onnx-fp32' or 'candle', not 'tensorflow'"
        ),
        "{}",
        text(&out)
    );
    // A model directory without the ONNX graph: named, with how to make it,
    // before any query runs (the model itself loads in the background).
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = std::env::var_os("RAG_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join(".local/models/all-MiniLM-L6-v2"));
    let dir = std::env::temp_dir().join(format!("cli-no-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(model.join(f), dir.join(f)).expect("copy the model's configuration");
    }
    let out = ragctl_with(
        &["query", "q", "--user", "nobody"],
        &[("RAG_MODEL_DIR", dir.as_os_str())],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("onnx/model_qint8.onnx") && text(&out).contains("fetch-model.sh"),
        "{}",
        text(&out)
    );
}

#[test]
fn invalid_queries_are_refused_before_anything_runs() {
    let out = ragctl(&["query", "   ", "--user", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("'query' must not be empty"),
        "{}",
        text(&out)
    );
    let out = ragctl(&["query", "q", "--top-k", "500"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("top_k"), "{}", text(&out));
}

#[test]
fn ingest_query_list_delete() {
    let user = format!("cli-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("volcanoes.md"),
        "# Volcanoes\n\nMagma rises through the crust and erupts as lava.",
    )
    .unwrap();
    std::fs::write(dir.path().join("archive.zip"), b"PK\x03\x04").unwrap();
    let path = dir.path().to_str().unwrap();

    assert!(ragctl(&["db", "migrate"]).status.success());
    let out = ragctl(&[
        "ingest",
        path,
        "--user",
        &user,
        "--json",
        "--tag",
        "geology",
        "--attribute",
        "year=2024",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a failed file makes the exit code 2: {}",
        text(&out)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["documents"], 1);
    assert_eq!(summary["chunks"], 1);
    assert!(summary["failed"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("archive.zip"));
    assert!(summary["failed"][0]["error"]
        .as_str()
        .unwrap()
        .contains("unsupported file type"));

    let out = ragctl(&[
        "query",
        "where does lava come from",
        "--user",
        &user,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = response["results"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.ends_with("volcanoes.md"), "{id}");
    // Filtered by the attributes ingest gave it.
    let found = |filter: &str| {
        let out = ragctl(&[
            "query",
            "where does lava come from",
            "--user",
            &user,
            "--json",
            "--filter",
            filter,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        response["results"].as_array().map_or(0, Vec::len)
    };
    assert!(
        found(
            r#"{"and": [{"field": "tags", "contains": "geology"}, {"field": "year", "gte": 2024}]}"#
        ) > 0
    );
    assert_eq!(found(r#"{"field": "tags", "contains": "history"}"#), 0);
    let out = ragctl(&["query", "lava", "--user", &user, "--filter", "{not json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("'filter' is not JSON"),
        "{}",
        text(&out)
    );

    let out = ragctl(&["documents", "--user", &user, "--json"]);
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 1);

    assert_eq!(
        ragctl(&["delete", &id, "--user", "someone-else"])
            .status
            .code(),
        Some(1)
    );
    assert!(ragctl(&["delete", &id, "--user", &user]).status.success());
    let out = ragctl(&["documents", "--user", &user, "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}

/// `ragctl ingest` routes as `POST /v2/process-document` does: a form goes
/// to the VDR pipeline, its pages are rendered under `RAG_PAGES_DIR`, and
/// `ragctl query --mode vdr` prints them with their images; `delete` takes
/// the images too.
#[test]
fn a_form_goes_to_vdr_and_its_pages_are_found_with_their_images() {
    let user = format!("cli-vdr-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let pages = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let form = dir.path().join("application-form.pdf");
    std::fs::copy(
        workspace.join("../shared/data/docs/pdf/pdflatex-4-pages.pdf"),
        &form,
    )
    .unwrap();
    let env = [("RAG_PAGES_DIR", pages.path().as_os_str())];
    assert!(ragctl(&["db", "migrate"]).status.success());
    let out = ragctl_with(
        &["ingest", form.to_str().unwrap(), "--user", &user, "--json"],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["vdr"].as_u64(), summary["pages"].as_u64()),
        (Some(1), Some(4)),
        "{summary}"
    );

    let query = [
        "query",
        "Huardest gefburn",
        "--user",
        &user,
        "--mode",
        "vdr",
    ];
    let out = ragctl_with(&[&query[..], &["--json"]].concat(), &env);
    assert!(out.status.success(), "{}", text(&out));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = response["results"].as_array().cloned().unwrap_or_default();
    assert!(!results.is_empty(), "{response}");
    for r in &results {
        assert_eq!(r["pipeline"], "vdr", "{r}");
        let image = Path::new(r["metadata"]["image_url"].as_str().unwrap_or_default());
        assert!(image.starts_with(pages.path()), "{}", image.display());
        assert!(std::fs::read(image).unwrap().starts_with(b"\x89PNG"));
    }
    // The plain output names each page and its image.
    let out = ragctl_with(&query, &env);
    let printed = text(&out);
    assert!(
        printed.contains(" p.1") && printed.contains("image: "),
        "{printed}"
    );
    let out = ragctl_with(
        &[
            "query",
            "Huardest gefburn",
            "--user",
            &user,
            "--mode",
            "hybrid_vdr_text",
            "--json",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));

    let id = results[0]["document_id"].as_str().unwrap().to_owned();
    let out = ragctl_with(&["delete", &id, "--user", &user], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 page images"), "{}", text(&out));
    let left: Vec<_> = walk(pages.path());
    assert!(left.iter().all(|p| !p.ends_with(".png")), "{left:?}");
    // eval searches text chunks only.
    let out = ragctl(&[
        "eval",
        "--dataset",
        "../shared/data/beir/arcd-ar",
        "--mode",
        "vdr",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--mode must be hybrid, dense or sparse"),
        "{}",
        text(&out)
    );
}

/// Every file under `dir`, as strings.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn eval_refuses_bad_search_options_before_loading() {
    let out = ragctl(&[
        "eval",
        "--dataset",
        "../shared/data/beir/arcd-ar",
        "--mode",
        "hybrid",
        "--dense-weight",
        "2",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("'dense_weight' must be between 0 and 1"),
        "{}",
        text(&out)
    );
}

/// `ragctl migrate-legacy` as an operator runs it: a dry run that writes
/// nothing, the migration with --verify, a rerun that writes nothing again,
/// and --verify failing on a tampered row.
#[tokio::test]
async fn migrate_legacy_dry_run_migrate_verify() {
    use integration_tests::legacy::{LegacySystem, BUCKET};
    let old = LegacySystem::new(1536).await;
    let base = [
        "migrate-legacy",
        "--legacy-url",
        &old.url,
        "--bucket",
        BUCKET,
        "--hash-files-table",
        &old.tables.hash_files,
        "--files-table",
        &old.tables.files,
        "--object-access-table",
        &old.tables.object_access,
        "--json",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        ragctl(&args)
    };
    let documents = |user: &str| {
        let out = ragctl(&["documents", "--user", user, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .map(|v| v.as_array().map_or(0, Vec::len))
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    };

    let out = run(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let plan: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(plan["documents"], 3, "{plan}");
    assert_eq!(plan["vectors"], "embedded");
    assert_eq!(plan["orphan_sources"].as_array().unwrap().len(), 1);
    assert_eq!(documents(&old.alice.user), 0, "a dry run writes nothing");

    let out = run(&["--batch-size", "2", "--verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(r#""mismatched":0"#), "{}", text(&out));
    assert_eq!(
        (documents(&old.alice.user), documents(&old.bob.user)),
        (2, 1)
    );
    let out = run(&[]);
    assert!(text(&out).contains(r#""present":3"#), "{}", text(&out));

    let pool = rag_index_pg::PgConfig::from_env().connect().await.unwrap();
    sqlx::query(
        "UPDATE hybrid_chunks SET content = 'tampered' WHERE document_id = $1 AND chunk_index = 0",
    )
    .bind(old.id("sheet"))
    .execute(&pool)
    .await
    .unwrap();
    let out = run(&["--dry-run", "--verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&old.id("sheet")), "{}", text(&out));
    assert!(text(&out).contains(r#""mismatched":1"#), "{}", text(&out));
    old.drop().await;
}

/// `ragctl eval --rerank` runs every query with and without the reranker of
/// RERANK_URL (here the stand-in speaking Cohere's wire format) and
/// reports the nDCG@10 change with its interval; without a reranker it
/// says what to set.
#[test]
fn eval_reports_what_reranking_changes() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join(format!("rerank-{}", std::process::id()));
    std::fs::create_dir_all(dataset.join("qrels")).unwrap();
    let corpus = [
        ("d1", "Basalt forms when lava cools quickly at the surface."),
        ("d2", "Lava is molten rock that erupts from volcanoes."),
        ("d3", "Granite cools slowly deep underground from magma."),
        ("d4", "Glaciers carve valleys as they move."),
    ];
    let lines: Vec<String> = corpus
        .iter()
        .map(|(id, text)| serde_json::json!({"_id": id, "title": "", "text": text}).to_string())
        .collect();
    std::fs::write(dataset.join("corpus.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(
        dataset.join("queries.jsonl"),
        [
            serde_json::json!({"_id": "q1", "text": "how does basalt form from lava"}).to_string(),
            serde_json::json!({"_id": "q2", "text": "what carves valleys"}).to_string(),
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        dataset.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td4\t1\n",
    )
    .unwrap();
    let path = dataset.to_str().unwrap();
    assert!(ragctl(&["db", "migrate"]).status.success());
    let out = ragctl(&["eval", "--dataset", path, "--rerank", "--json"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("RERANK_URL"), "{}", text(&out));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(integration_tests::rerank_server::RerankServer::start());
    let url = server.url();
    let env = [
        ("RERANK_URL", std::ffi::OsStr::new(url.as_str())),
        (
            "RERANK_API_KEY",
            std::ffi::OsStr::new(integration_tests::rerank_server::RERANK_KEY),
        ),
    ];
    let out = ragctl_with(&["eval", "--dataset", path, "--rerank", "--json"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rerank = &report["rerank"];
    assert_eq!(rerank["model"], "rerank-v3.5", "{report}");
    for field in ["ndcg@10", "change"] {
        assert!(rerank[field].is_number(), "{report}");
    }
    let [lo, hi] = [&rerank["change_95"][0], &rerank["change_95"][1]].map(|v| v.as_f64().unwrap());
    let change = rerank["change"].as_f64().unwrap();
    assert!(lo <= change && change <= hi, "{report}");
    // Each query went to the reranker once.
    assert_eq!(server.requests.lock().unwrap().len(), 2, "{report}");
}
