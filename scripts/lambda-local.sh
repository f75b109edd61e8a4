#!/usr/bin/env bash
# Everything `cargo lambda watch` needs to run the real functions locally:
# embedded PostgreSQL (migrated) and the model (scripts/setup.sh), moto with
# the fleet's tables, queues, files bucket and a Cognito pool created from
# infra/serverless-async-separate.yml (stage `local`), and .local/lambda.env
# with every function's environment. Idempotent.
#
#   scripts/lambda-local.sh
#   cargo lambda watch --env-file .local/lambda.env
#   cargo lambda invoke query-handler --data-file functions/query-handler/events/query.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

DATABASE_URL="$(scripts/setup.sh)"
AWS_ENDPOINT_URL="$(scripts/moto.sh start)"
export AWS_ENDPOINT_URL
ENV_FILE="$LOCAL_DIR/lambda.env"
cargo run --quiet -p integration-tests --bin local-stack -- local "$ENV_FILE"
cat >>"$ENV_FILE" <<ENV
DATABASE_URL=$DATABASE_URL
RAG_MODEL_DIR=$RAG_MODEL_DIR
WEBSOCKET_API_ENDPOINT=http://127.0.0.1:9/local-gateway-not-running
RUST_LOG=info
ENV
log "functions' environment: $ENV_FILE"
echo "cargo lambda watch --env-file $ENV_FILE"
