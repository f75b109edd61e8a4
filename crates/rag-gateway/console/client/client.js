// The REST API: upload, submit, status, documents, search.
/** An error answer of the API, with its status and stable code. */
export class RagApiError extends Error {
    status;
    code;
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
        this.name = 'RagApiError';
    }
}
/** Resolves a token source. */
export async function tokenOf(source) {
    return typeof source === 'function' ? await source() : source;
}
/** A statusId (`bucket#key`) as one path segment. */
export function pathSegment(id) {
    return encodeURIComponent(id);
}
export class RagClient {
    options;
    base;
    fetcher;
    constructor(options) {
        this.options = options;
        this.base = options.baseUrl.replace(/\/+$/, '');
        this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    }
    /** Uploads through the local gateway (`PUT /files/<bucket>/<key>`), as S3 would store it. */
    async uploadToGateway(bucket, key, body, contentType, metadata = {}) {
        const headers = { 'content-type': contentType };
        for (const [name, value] of Object.entries(metadata))
            headers[`x-amz-meta-${name}`] = value;
        const path = key.split('/').map(encodeURIComponent).join('/');
        return this.request('PUT', `/files/${encodeURIComponent(bucket)}/${path}`, { body, headers });
    }
    /**
     * Uploads to a presigned S3 PUT URL (made by the frontend's backend, with the uploader in
     * `x-amz-meta-owner`). Headers the URL was signed with must be sent as they were signed.
     */
    async uploadPresigned(url, body, headers = {}) {
        const res = await this.fetcher(url, { method: 'PUT', body, headers });
        if (!res.ok)
            throw new RagApiError(res.status, 's3_error', `upload failed: HTTP ${res.status} ${await res.text()}`);
    }
    /** `POST /v2/process-document`: 202 when queued, 200 when nothing needed doing. */
    processDocument(req) {
        return this.request('POST', '/v2/process-document', { json: req });
    }
    /** `GET /v2/status/{statusId}`. */
    getStatus(statusId) {
        return this.request('GET', `/v2/status/${pathSegment(statusId)}`);
    }
    /** `GET /v2/documents`: one page, newest first. */
    listDocuments(options = {}) {
        const q = new URLSearchParams();
        if (options.limit != null)
            q.set('limit', String(options.limit));
        if (options.cursor)
            q.set('cursor', options.cursor);
        if (options.status?.length)
            q.set('status', options.status.join(','));
        if (options.pipeline)
            q.set('pipeline', options.pipeline);
        const query = q.toString();
        return this.request('GET', `/v2/documents${query ? `?${query}` : ''}`);
    }
    /** Every document, page after page. */
    async *allDocuments(options = {}) {
        let cursor;
        do {
            const page = await this.listDocuments({ ...options, cursor });
            yield* page.documents;
            cursor = page.next_cursor;
        } while (cursor);
    }
    getDocument(id) {
        return this.request('GET', `/v2/documents/${pathSegment(id)}`);
    }
    /** Ends a queued or running run (a `409` RagApiError once it ended). */
    cancelDocument(id) {
        return this.request('POST', `/v2/documents/${pathSegment(id)}/cancel`);
    }
    deleteDocument(id) {
        return this.request('DELETE', `/v2/documents/${pathSegment(id)}`);
    }
    shareDocument(id, user) {
        return this.request('POST', `/v2/documents/${pathSegment(id)}/share`, { json: { user } });
    }
    unshareDocument(id, user) {
        return this.request('DELETE', `/v2/documents/${pathSegment(id)}/share/${pathSegment(user)}`);
    }
    /** `POST /v2/query`. */
    query(req) {
        return this.request('POST', '/v2/query', { json: req });
    }
    async request(method, path, init = {}) {
        const headers = {
            authorization: `Bearer ${await tokenOf(this.options.token)}`,
            ...init.headers,
        };
        let body = init.body;
        if (init.json !== undefined) {
            headers['content-type'] = 'application/json';
            body = JSON.stringify(init.json);
        }
        const res = await this.fetcher(`${this.base}${path}`, { method, headers, body });
        const text = await res.text();
        let parsed;
        try {
            parsed = text ? JSON.parse(text) : undefined;
        }
        catch {
            // A proxy's HTML or plain-text answer: an error with its words, or a success we cannot read.
            if (!res.ok)
                throw new RagApiError(res.status, 'http_error', `HTTP ${res.status}: ${text.slice(0, 200)}`);
            throw new RagApiError(res.status, 'invalid_response', `HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`);
        }
        if (!res.ok) {
            // The API's {error, code}; API Gateway's own answers (a 401 of the authorizer) say {message}.
            const e = parsed;
            throw new RagApiError(res.status, e?.code ?? 'http_error', e?.error ?? e?.message ?? `HTTP ${res.status}`);
        }
        return parsed;
    }
}
