// Which backend a document goes to while the frontend moves from the old synchronous service to
// amplify-rag-async: a feature flag, a stable rollout by user percentage, and rules by document.

export type Backend = 'async-v2' | 'legacy';

export interface DocumentFacts {
  fileName: string;
  contentType?: string;
  /** Bytes. */
  size: number;
}

export interface RoutingConfig {
  /** Off: everything stays on the old service. */
  enabled: boolean;
  /** Share of users (0-100) whose documents go to the new service; the same user always lands the same way. */
  rolloutPercent: number;
  /** Users who always get the new service (testers), whatever the percentage. */
  allowUsers?: string[];
  /** Documents at least this big go to the new service for everyone (the old one timed out on them). */
  alwaysAsyncFromBytes?: number;
  /** File extensions (without the dot, lower case) that go to the new service for everyone. */
  alwaysAsyncExtensions?: string[];
  /** Content types (prefixes, e.g. `application/vnd.openxmlformats-officedocument.presentationml`). */
  alwaysAsyncContentTypes?: string[];
}

/** The user's stable place in 0..99: FNV-1a of their id. */
export function rolloutBucket(userId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(userId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 100;
}

/** Why a document went where it went, for logs and support. */
export interface Route {
  backend: Backend;
  reason: 'disabled' | 'allowed_user' | 'document_size' | 'document_type' | 'rollout' | 'not_in_rollout';
}

/** Decides where `userId`'s document goes. */
export function routeDocument(config: RoutingConfig, userId: string, doc: DocumentFacts): Route {
  if (!config.enabled) return { backend: 'legacy', reason: 'disabled' };
  if (config.allowUsers?.includes(userId)) return { backend: 'async-v2', reason: 'allowed_user' };
  if (config.alwaysAsyncFromBytes != null && doc.size >= config.alwaysAsyncFromBytes) {
    return { backend: 'async-v2', reason: 'document_size' };
  }
  const ext = doc.fileName.includes('.') ? doc.fileName.split('.').pop()!.toLowerCase() : '';
  const type = (doc.contentType ?? '').toLowerCase();
  if (config.alwaysAsyncExtensions?.includes(ext)
    || config.alwaysAsyncContentTypes?.some((prefix) => type.startsWith(prefix.toLowerCase()))) {
    return { backend: 'async-v2', reason: 'document_type' };
  }
  const percent = Math.max(0, Math.min(100, config.rolloutPercent));
  return rolloutBucket(userId) < percent
    ? { backend: 'async-v2', reason: 'rollout' }
    : { backend: 'legacy', reason: 'not_in_rollout' };
}
