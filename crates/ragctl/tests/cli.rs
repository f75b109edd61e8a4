//! `ragctl` end to end, as a user runs it, on the real database and model.

use std::path::Path;
use std::process::{Command, Output};

fn ragctl(args: &[&str]) -> Output {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ragctl"));
    cmd.args(args).current_dir(&workspace);
    if std::env::var_os("RAG_MODEL_DIR").is_none() {
        cmd.env(
            "RAG_MODEL_DIR",
            workspace.join(".local/models/all-MiniLM-L6-v2"),
        );
    }
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
    ] {
        assert!(text(&out).contains(cmd), "--help does not mention {cmd}");
    }
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
    let out = ragctl(&["ingest", path, "--user", &user, "--json"]);
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
