// The API's bodies, as docs/api/openapi.yaml and docs/api/websocket.schema.json describe them.
/** Stages after which a run does not change. */
export const TERMINAL_STAGES = ['completed', 'failed', 'cancelled'];
