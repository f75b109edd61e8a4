//! The published API contract (`docs/api/openapi.yaml` and
//! `docs/api/websocket.schema.json`), as a checker the tests run every
//! real response and message through.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::workspace;

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The contract, and which operations a test has seen answer.
pub struct Contract {
    openapi: Value,
    websocket: Value,
    /// `(METHOD, path template, status)` of every response checked.
    pub seen: Mutex<BTreeSet<(String, String, u16)>>,
}

impl Contract {
    /// Reads both documents from `docs/api/`.
    pub fn load() -> Self {
        let dir = workspace().join("docs/api");
        let yaml = std::fs::read_to_string(dir.join("openapi.yaml")).expect("openapi.yaml");
        let openapi: Value = serde_norway::from_str(&yaml).expect("openapi.yaml is YAML");
        let ws = std::fs::read_to_string(dir.join("websocket.schema.json")).expect("ws schema");
        let websocket: Value = serde_json::from_str(&ws).expect("websocket.schema.json is JSON");
        assert_eq!(openapi["openapi"], "3.1.0");
        Self {
            openapi,
            websocket,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Checks a response of `method` on `template` (a path of the
    /// OpenAPI document) against the schema it lists for `status`.
    pub fn response(&self, method: &str, template: &str, status: u16, body: &Value) {
        let op = &self.openapi["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in openapi.yaml");
        let mut response = &op["responses"][status.to_string()];
        assert!(
            !response.is_null(),
            "{method} {template} answered {status}, which openapi.yaml does not list: {body}"
        );
        if let Some(Value::String(pointer)) = response.get("$ref") {
            response = self
                .openapi
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{pointer} is not in openapi.yaml"));
        }
        let schema = &response["content"]["application/json"]["schema"];
        let root =
            json!({"$schema": DRAFT, "components": self.openapi["components"], "allOf": [schema]});
        check(&root, body, &format!("{method} {template} {status}"));
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert((method.to_owned(), template.to_owned(), status));
        }
    }

    /// Checks a message the server sent on the WebSocket.
    pub fn server_message(&self, message: &Value) {
        self.message("ServerMessage", message);
    }

    /// Checks a message a client sends on the WebSocket.
    pub fn client_message(&self, message: &Value) {
        self.message("ClientMessage", message);
    }

    fn message(&self, kind: &str, message: &Value) {
        let mut root = self.websocket.clone();
        root["$ref"] = json!(format!("#/$defs/{kind}"));
        check(&root, message, kind);
    }

    /// Every operation of the OpenAPI document that no checked response
    /// answered with a success.
    pub fn unexercised(&self) -> Vec<String> {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let mut missing = Vec::new();
        for (path, item) in self.openapi["paths"].as_object().into_iter().flatten() {
            for method in ["get", "post", "delete", "put"] {
                if item.get(method).is_none() {
                    continue;
                }
                let answered = seen.iter().any(|(m, p, s)| {
                    m.eq_ignore_ascii_case(method) && p == path && (200..300).contains(s)
                });
                if !answered {
                    missing.push(format!("{} {path}", method.to_ascii_uppercase()));
                }
            }
        }
        missing
    }
}

/// Validates `instance` against `schema`, naming every violation.
fn check(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("the schema for {what} does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} breaks the contract: {errors:?}\n{instance}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn the_checker_refuses_what_breaks_the_contract() {
        let c = Contract::load();
        c.response(
            "POST",
            "/v2/query",
            400,
            &json!({"error": "x", "code": "invalid_field"}),
        );
        c.server_message(&json!({"type": "pong", "timestamp": "2026-12-05T00:00:00Z"}));
        let refused = |f: &dyn Fn()| catch_unwind(AssertUnwindSafe(f)).is_err();
        assert!(refused(&|| c.response(
            "POST",
            "/v2/query",
            400,
            &json!({"error": "x"})
        )));
        assert!(refused(&|| c.response(
            "POST",
            "/v2/query",
            400,
            &json!({"error": "x", "code": "y", "stack": "internals"})
        )));
        assert!(refused(&|| c.response(
            "GET",
            "/v2/status/{statusId}",
            200,
            &json!({"statusId": "a"})
        )));
        assert!(refused(&|| c.response(
            "POST",
            "/v2/query",
            418,
            &json!({})
        )));
        assert!(refused(&|| c.response(
            "PATCH",
            "/v2/query",
            200,
            &json!({})
        )));
        assert!(refused(&|| c.server_message(&json!({"type": "pong"}))));
        assert!(refused(&|| c.server_message(&json!({"type": "gossip"}))));
        assert!(refused(
            &|| c.client_message(&json!({"action": "subscribe"}))
        ));
    }
}
