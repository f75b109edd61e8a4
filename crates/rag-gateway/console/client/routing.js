// Which backend a document goes to while the frontend moves from the old synchronous service to
// amplify-rag-async: a feature flag, a stable rollout by user percentage, and rules by document.
/** The user's stable place in 0..99: FNV-1a of their id. */
export function rolloutBucket(userId) {
    let hash = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(userId)) {
        hash ^= byte;
        hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash % 100;
}
/** Decides where `userId`'s document goes. */
export function routeDocument(config, userId, doc) {
    if (!config.enabled)
        return { backend: 'legacy', reason: 'disabled' };
    if (config.allowUsers?.includes(userId))
        return { backend: 'async-v2', reason: 'allowed_user' };
    if (config.alwaysAsyncFromBytes != null && doc.size >= config.alwaysAsyncFromBytes) {
        return { backend: 'async-v2', reason: 'document_size' };
    }
    const ext = doc.fileName.includes('.') ? doc.fileName.split('.').pop().toLowerCase() : '';
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
