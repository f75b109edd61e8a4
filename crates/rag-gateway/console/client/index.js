// amplify-rag-async's typed client: the REST API, live status over the WebSocket API, and the
// routing helper for moving a frontend over from the old service.
export * from './types.js';
export * from './client.js';
export * from './status.js';
export * from './routing.js';
