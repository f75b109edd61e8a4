// The REST API: upload, submit, status, documents, search.

import type {
  Accepted, Deleted, DocumentView, ErrorBody, ListOptions, ListPage, ProcessDocumentRequest,
  QueryRequest, QueryResponse, Shares, StatusRecord,
} from './types.js';

/** A token, or something that gets a fresh one (a Cognito session refresh). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** The API's root: `https://<api>.execute-api.<region>.amazonaws.com/<stage>`, or the local gateway's URL. */
  baseUrl: string;
  /** The Cognito id token, sent as `Authorization: Bearer`. */
  token: TokenSource;
  /** Another fetch (tests, older runtimes). */
  fetch?: typeof fetch;
}

/** An error answer of the API, with its status and stable code. */
export class RagApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'RagApiError';
  }
}

/** Resolves a token source. */
export async function tokenOf(source: TokenSource): Promise<string> {
  return typeof source === 'function' ? await source() : source;
}

/** A statusId (`bucket#key`) as one path segment. */
export function pathSegment(id: string): string {
  return encodeURIComponent(id);
}

export class RagClient {
  private readonly base: string;
  private readonly fetcher: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Uploads through the local gateway (`PUT /files/<bucket>/<key>`), as S3 would store it. */
  async uploadToGateway(bucket: string, key: string, body: BodyInit, contentType: string,
    metadata: Record<string, string> = {}): Promise<{ bucket: string; key: string; size: number }> {
    const headers: Record<string, string> = { 'content-type': contentType };
    for (const [name, value] of Object.entries(metadata)) headers[`x-amz-meta-${name}`] = value;
    const path = key.split('/').map(encodeURIComponent).join('/');
    return this.request('PUT', `/files/${encodeURIComponent(bucket)}/${path}`, { body, headers });
  }

  /**
   * Uploads to a presigned S3 PUT URL (made by the frontend's backend, with the uploader in
   * `x-amz-meta-owner`). Headers the URL was signed with must be sent as they were signed.
   */
  async uploadPresigned(url: string, body: BodyInit, headers: Record<string, string> = {}): Promise<void> {
    const res = await this.fetcher(url, { method: 'PUT', body, headers });
    if (!res.ok) throw new RagApiError(res.status, 's3_error', `upload failed: HTTP ${res.status} ${await res.text()}`);
  }

  /** `POST /v2/process-document`: 202 when queued, 200 when nothing needed doing. */
  processDocument(req: ProcessDocumentRequest): Promise<Accepted> {
    return this.request('POST', '/v2/process-document', { json: req });
  }

  /** `GET /v2/status/{statusId}`. */
  getStatus(statusId: string): Promise<StatusRecord> {
    return this.request('GET', `/v2/status/${pathSegment(statusId)}`);
  }

  /** `GET /v2/documents`: one page, newest first. */
  listDocuments(options: ListOptions = {}): Promise<ListPage> {
    const q = new URLSearchParams();
    if (options.limit != null) q.set('limit', String(options.limit));
    if (options.cursor) q.set('cursor', options.cursor);
    if (options.status?.length) q.set('status', options.status.join(','));
    if (options.pipeline) q.set('pipeline', options.pipeline);
    const query = q.toString();
    return this.request('GET', `/v2/documents${query ? `?${query}` : ''}`);
  }

  /** Every document, page after page. */
  async *allDocuments(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<StatusRecord> {
    let cursor: string | undefined;
    do {
      const page = await this.listDocuments({ ...options, cursor });
      yield* page.documents;
      cursor = page.next_cursor;
    } while (cursor);
  }

  getDocument(id: string): Promise<DocumentView> {
    return this.request('GET', `/v2/documents/${pathSegment(id)}`);
  }

  /** Ends a queued or running run (a `409` RagApiError once it ended). */
  cancelDocument(id: string): Promise<StatusRecord> {
    return this.request('POST', `/v2/documents/${pathSegment(id)}/cancel`);
  }

  deleteDocument(id: string): Promise<Deleted> {
    return this.request('DELETE', `/v2/documents/${pathSegment(id)}`);
  }

  shareDocument(id: string, user: string): Promise<Shares> {
    return this.request('POST', `/v2/documents/${pathSegment(id)}/share`, { json: { user } });
  }

  unshareDocument(id: string, user: string): Promise<Shares> {
    return this.request('DELETE', `/v2/documents/${pathSegment(id)}/share/${pathSegment(user)}`);
  }

  /** `POST /v2/query`. */
  query(req: QueryRequest): Promise<QueryResponse> {
    return this.request('POST', '/v2/query', { json: req });
  }

  private async request<T>(method: string, path: string,
    init: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}): Promise<T> {
    const headers: Record<string, string> = {
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
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // A proxy's HTML or plain-text answer: an error with its words, or a success we cannot read.
      if (!res.ok) throw new RagApiError(res.status, 'http_error', `HTTP ${res.status}: ${text.slice(0, 200)}`);
      throw new RagApiError(res.status, 'invalid_response', `HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      // The API's {error, code}; API Gateway's own answers (a 401 of the authorizer) say {message}.
      const e = parsed as (Partial<ErrorBody> & { message?: string }) | undefined;
      throw new RagApiError(res.status, e?.code ?? 'http_error', e?.error ?? e?.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }
}
