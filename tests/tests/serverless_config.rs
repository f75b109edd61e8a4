//! `infra/serverless-async-separate.yml` checked against the workspace:
//! every function of DESIGN.md has a binary and a `cargo lambda build`
//! artifact, every variable its handler needs is set, every variable set is
//! one a function reads, and everything a variable names (tables, queues,
//! the management endpoint) is declared.

use integration_tests::fleet::serverless_config;
use integration_tests::workspace;
use rag_lambda::env::{OPTIONAL, REQUIRED};
use serde_json::Value;

/// DESIGN.md "Functions": serverless name, binary, trigger kind.
const FUNCTIONS: &[(&str, &str, &str)] = &[
    ("async-v2-api-processor", "api-processor", "http"),
    ("async-v2-text-rag-processor", "text-rag-processor", "sqs"),
    ("async-v2-vdr-processor", "vdr-processor", "sqs"),
    ("async-v2-query-handler", "query-handler", "http"),
    ("async-v2-websocket-connect", "ws-connect", "websocket"),
    (
        "async-v2-websocket-disconnect",
        "ws-disconnect",
        "websocket",
    ),
    ("async-v2-websocket-default", "ws-default", "websocket"),
];

fn resources(config: &Value) -> &serde_json::Map<String, Value> {
    config["resources"]["Resources"]
        .as_object()
        .expect("resources.Resources")
}

#[test]
fn the_service_is_amplify_rag_async_on_provided_al2023() {
    let config = serverless_config();
    assert_eq!(config["service"], "amplify-rag-async");
    assert_eq!(config["provider"]["runtime"], "provided.al2023");
    let outputs = config["resources"]["Outputs"].as_object().expect("Outputs");
    for output in ["ApiProcessorUrl", "QueryHandlerUrl", "WebSocketApiUrl"] {
        assert!(outputs.contains_key(output), "missing output {output}");
    }
}

#[test]
fn every_function_has_a_binary_an_artifact_and_its_trigger() {
    let config = serverless_config();
    let functions = config["functions"].as_object().expect("functions");
    assert_eq!(functions.len(), FUNCTIONS.len(), "{:?}", functions.keys());
    for (name, binary, trigger) in FUNCTIONS {
        let f = &functions[*name];
        assert_eq!(f["handler"], "bootstrap", "{name}");
        let artifact = f["package"]["artifact"].as_str().unwrap_or_default();
        assert!(
            artifact.ends_with(&format!("target/lambda/{binary}/bootstrap.zip")),
            "{name}: artifact {artifact}"
        );
        let manifest = workspace()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        assert!(
            text.contains(&format!("name = \"{binary}\"")),
            "{} names the binary {binary}",
            manifest.display()
        );
        let events = f["events"].as_array().cloned().unwrap_or_default();
        assert!(!events.is_empty(), "{name} has no trigger");
        // The api-processor also sweeps lapsed runs on a schedule.
        let extra = if *binary == "api-processor" {
            Some("schedule")
        } else {
            None
        };
        assert!(
            events
                .iter()
                .all(|e| e.get(trigger).is_some() || extra.is_some_and(|x| e.get(x).is_some())),
            "{name}: {events:?}"
        );
        if let Some(extra) = extra {
            assert_eq!(
                events.iter().filter(|e| e.get(extra).is_some()).count(),
                1,
                "{name} sweeps on one schedule"
            );
        }
    }
}

#[test]
fn every_variable_a_handler_needs_is_set_and_names_something_declared() {
    let config = serverless_config();
    let declared = resources(&config);
    let provider_env = config["provider"]["environment"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, binary, _) in FUNCTIONS {
        let env = config["functions"][*name]["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let needed = REQUIRED
            .iter()
            .find(|(b, _)| b == binary)
            .map(|(_, vars)| *vars)
            .unwrap_or_else(|| panic!("rag_lambda::env::REQUIRED has no entry for {binary}"));
        for var in needed {
            let value = env
                .get(*var)
                .or_else(|| provider_env.get(*var))
                .unwrap_or_else(|| panic!("{name} does not set {var}"));
            // A `Ref` must name a declared resource (a table or a queue).
            if let Some(target) = value.get("Ref").and_then(Value::as_str) {
                assert!(
                    declared.contains_key(target),
                    "{name}: {var} refers to undeclared {target}"
                );
                let kind = declared[target]["Type"].as_str().unwrap_or_default();
                let expected = if var.ends_with("_TABLE") {
                    "AWS::DynamoDB::Table"
                } else {
                    "AWS::SQS::Queue"
                };
                assert_eq!(kind, expected, "{name}: {var} refers to a {kind}");
            }
        }
    }
    let endpoint = config["custom"]["websocketApiEndpoint"]["Fn::Join"][1][0].as_str();
    assert_eq!(
        endpoint,
        Some("https://"),
        "WEBSOCKET_API_ENDPOINT is the https:// management URL"
    );
}

#[test]
fn every_variable_the_file_sets_is_one_a_function_reads() {
    // A misspelt name (VISION_MODLE) would deploy and be silently ignored.
    let config = serverless_config();
    let known: Vec<&str> = REQUIRED
        .iter()
        .flat_map(|(_, vars)| vars.iter().copied())
        .chain(OPTIONAL.iter().copied())
        .chain(["RUST_LOG"])
        .collect();
    let provider = config["provider"]["environment"].as_object().cloned();
    let functions = config["functions"].as_object().cloned().unwrap_or_default();
    let sets = functions
        .values()
        .filter_map(|f| f["environment"].as_object().cloned())
        .chain(provider);
    for env in sets {
        for name in env.keys() {
            assert!(
                known.contains(&name.as_str()),
                "{name} is read by no function"
            );
        }
    }
}

#[test]
fn tables_and_queues_are_those_of_the_design() {
    let config = serverless_config();
    let declared = resources(&config);
    let named = |kind: &str, key: &str| -> Vec<String> {
        let mut names: Vec<String> = declared
            .values()
            .filter(|r| r["Type"] == kind)
            .filter_map(|r| r["Properties"][key].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        named("AWS::DynamoDB::Table", "TableName"),
        [
            "amplify-rag-async-${sls:stage}-status",
            "amplify-rag-async-${sls:stage}-ws-connections"
        ]
    );
    assert_eq!(
        named("AWS::SQS::Queue", "QueueName"),
        [
            "amplify-rag-async-${sls:stage}-text-rag-dlq",
            "amplify-rag-async-${sls:stage}-text-rag-queue",
            "amplify-rag-async-${sls:stage}-vdr-dlq",
            "amplify-rag-async-${sls:stage}-vdr-queue",
        ]
    );
    for queue in declared.values().filter(|r| r["Type"] == "AWS::SQS::Queue") {
        let p = &queue["Properties"];
        if p.get("RedrivePolicy").is_some() {
            assert_eq!(
                (
                    p["VisibilityTimeout"].as_u64(),
                    p["RedrivePolicy"]["maxReceiveCount"].as_u64()
                ),
                (Some(900), Some(3))
            );
        } else {
            assert_eq!(p["MessageRetentionPeriod"].as_u64(), Some(14 * 24 * 3600));
        }
    }
    let alarms = declared
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .count();
    assert!(
        alarms >= 2 + FUNCTIONS.len(),
        "a DLQ alarm per queue and an error alarm per function"
    );
}

/// The dashboard's body, its WebSocket API id filled in.
fn dashboard(config: &Value) -> Value {
    let parts =
        &resources(config)["ServiceDashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1];
    let body: String = parts
        .as_array()
        .expect("Fn::Join parts")
        .iter()
        .map(|p| p.as_str().map_or("ws-api-id".to_owned(), str::to_owned))
        .collect();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("dashboard body: {e}: {body}"))
}

#[test]
fn the_dashboard_charts_what_the_code_emits_and_every_function_and_queue() {
    use rag_core::ingest::pipeline::telemetry;
    use std::collections::BTreeSet;
    let config = serverless_config();
    let body = dashboard(&config);
    // Every metric line, and every SEARCH expression's metric name.
    let mut charted: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dimension_values: BTreeSet<String> = BTreeSet::new();
    for widget in body["widgets"].as_array().unwrap() {
        assert_eq!(widget["properties"]["region"], "${aws:region}");
        for line in widget["properties"]["metrics"].as_array().unwrap() {
            let line = line.as_array().unwrap();
            if let Some(expr) = line[0]["expression"].as_str() {
                let namespace = expr.split(['{', ',']).nth(1).unwrap().to_owned();
                let name = expr
                    .split("MetricName=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                charted.insert((namespace, name.to_owned()));
                continue;
            }
            charted.insert((
                line[0].as_str().unwrap().to_owned(),
                line[1].as_str().unwrap().to_owned(),
            ));
            dimension_values.extend(
                line[3..]
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
        }
    }
    let ours: BTreeSet<String> = charted
        .iter()
        .filter(|(ns, _)| ns == telemetry::NAMESPACE)
        .map(|(_, m)| m.clone())
        .collect();
    let emitted: BTreeSet<String> = telemetry::METRICS.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        ours, emitted,
        "the dashboard's own metrics are exactly those the code emits"
    );
    for (ns, metric) in [
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Duration"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/DynamoDB", "ThrottledRequests"),
        ("AWS/ApiGateway", "ConnectCount"),
    ] {
        assert!(
            charted.contains(&(ns.to_owned(), metric.to_owned())),
            "{ns} {metric}"
        );
    }
    // Every function, queue, dead-letter queue and table by its deployed name.
    let stage = "${sls:stage}";
    for (name, _, _) in FUNCTIONS {
        assert!(
            dimension_values.contains(&format!("amplify-rag-async-{stage}-{name}")),
            "{name}"
        );
    }
    for (id, r) in resources(&config) {
        let named = match r["Type"].as_str() {
            Some("AWS::SQS::Queue") => r["Properties"]["QueueName"].as_str(),
            Some("AWS::DynamoDB::Table") => r["Properties"]["TableName"].as_str(),
            _ => None,
        };
        if let Some(named) = named {
            assert!(
                dimension_values.contains(named),
                "{id} ({named}) is not on the dashboard"
            );
        }
    }
}

#[test]
fn settings_fall_back_to_the_guides_parameter_store_and_urls_are_written_there() {
    let config = serverless_config();
    // param -> the variable it is read from, first from the environment,
    // then from /amplify/<stage>/<variable>.
    for (param, variable, default) in [
        ("cognitoUserPoolArn", "COGNITO_USER_POOL_ARN", "null"),
        ("cognitoUserPoolId", "COGNITO_USER_POOL_ID", "null"),
        ("cognitoClientId", "COGNITO_CLIENT_ID", "null"),
        ("filesBucket", "FILES_BUCKET", "null"),
        ("dbWriteEndpoint", "RAG_POSTGRES_DB_WRITE_ENDPOINT", "null"),
        ("dbReadEndpoint", "RAG_POSTGRES_DB_READ_ENDPOINT", "null"),
        ("dbUsername", "RAG_POSTGRES_DB_USERNAME", "null"),
        ("dbName", "RAG_POSTGRES_DB_NAME", "null"),
        ("dbSecretName", "RAG_POSTGRES_DB_SECRET", "null"),
        ("dbPort", "RAG_POSTGRES_DB_PORT", "'3306'"),
    ] {
        assert_eq!(
            config["params"]["default"][param],
            format!("${{env:{variable}, ssm:/amplify/${{sls:stage}}/{variable}, {default}}}"),
            "{param}"
        );
    }
    // Every function given database endpoints gets the port too.
    for (name, f) in config["functions"].as_object().unwrap() {
        let env = &f["environment"];
        if !env["RAG_POSTGRES_DB_USERNAME"].is_null() {
            assert_eq!(env["RAG_POSTGRES_DB_PORT"], "${param:dbPort}", "{name}");
        }
    }
    // The URLs, as the stack's outputs have them.
    let outputs = &config["resources"]["Outputs"];
    for (output, name) in [
        ("ApiProcessorUrl", "ASYNC_RAG_API_URL"),
        ("QueryHandlerUrl", "ASYNC_RAG_QUERY_URL"),
        ("WebSocketApiUrl", "ASYNC_RAG_WEBSOCKET_URL"),
    ] {
        let parameter = resources(&config)
            .values()
            .find(|r| r["Properties"]["Name"] == format!("/amplify/${{sls:stage}}/{name}"))
            .unwrap_or_else(|| panic!("no SSM parameter {name}"));
        assert_eq!(parameter["Type"], "AWS::SSM::Parameter");
        assert_eq!(
            parameter["Properties"]["Value"], outputs[output]["Value"],
            "{name}"
        );
    }
}
