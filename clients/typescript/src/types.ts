// The API's bodies, as docs/api/openapi.yaml and docs/api/websocket.schema.json describe them.

export type Pipeline = 'text_rag' | 'vdr';

export type Stage =
  | 'uploaded' | 'validating' | 'queued' | 'processing_started' | 'converting_pages'
  | 'extracting_text' | 'processing_visuals' | 'classifying_visuals' | 'chunking' | 'embedding'
  | 'embedding_pages' | 'storing' | 'completed' | 'failed' | 'cancelled';

/** Stages after which a run does not change. */
export const TERMINAL_STAGES: readonly Stage[] = ['completed', 'failed', 'cancelled'];

export type SearchMode = 'hybrid' | 'dense' | 'sparse' | 'vdr' | 'hybrid_vdr_text';

export type AttributeValue = string | number | boolean | Array<string | number | boolean>;

export interface ProcessDocumentRequest {
  bucket: string;
  key: string;
  metadata?: { fileName?: string; contentType?: string; size?: number } & Record<string, AttributeValue | undefined>;
  tags?: string[];
  knowledge_base_id?: string;
  force_reprocess?: boolean;
  password?: string;
}

export interface Accepted {
  statusId: string;
  status: Stage;
  pipeline: Pipeline;
  message: string;
}

export interface StatusRecord {
  statusId: string;
  user: string;
  runId: string;
  status: Stage;
  progress: number;
  message: string;
  pipeline?: Pipeline;
  error?: string;
  errorCode?: string;
  failedAtStage?: Stage;
  metadata: Record<string, unknown>;
  timestamp: string;
  ttl: number;
  leaseUntil?: number;
}

export interface ListPage {
  documents: StatusRecord[];
  next_cursor?: string;
}

export interface ListOptions {
  limit?: number;
  cursor?: string;
  status?: Stage[];
  pipeline?: Pipeline;
}

export interface DocumentView {
  statusId: string;
  status: StatusRecord | null;
  indexed: boolean;
  file_name: string | null;
  pipeline: Pipeline | null;
  chunks: number;
  pages: number | null;
  metadata: Record<string, unknown>;
  shared_with: string[];
}

export interface Deleted {
  deleted: string;
  indexed: boolean;
  page_images: number;
}

export interface Shares {
  statusId: string;
  shared_with: string[];
}

type Scalar = string | number | boolean;

/** A typed filter over document attributes (README, "Document attributes and filtered search"). */
export type Filter =
  | { and: Filter[] }
  | { or: Filter[] }
  | { field: string; eq: Scalar }
  | { field: string; in: Scalar[] }
  | { field: string; contains: Scalar }
  | { field: string; gt?: number | string; gte?: number | string; lt?: number | string; lte?: number | string };

export interface QueryRequest {
  query: string;
  top_k?: number;
  search_mode?: SearchMode;
  dense_weight?: number;
  sparse_weight?: number;
  /** How hybrid search fuses its lists: weighted reciprocal ranks (the default) or min-max scores. */
  fusion?: 'rrf' | 'min_max';
  /** Older spelling: true asks for `rrf`, false for the default. */
  use_rrf?: boolean;
  document_ids?: string[];
  filter?: Filter;
  context?: number;
  rerank?: boolean;
}

export interface Citation {
  heading_path: string[];
  char_start: number;
  char_end: number;
}

export interface QueryResult {
  chunk_id: string;
  document_id: string;
  content: string;
  score: number;
  page_num: number | null;
  pipeline: Pipeline;
  metadata: Record<string, unknown>;
  citation?: Citation;
  context?: { before: string[]; after: string[] };
}

export interface QueryResponse {
  results: QueryResult[];
  query: string;
  total_results: number;
  search_mode: SearchMode;
  processing_time_ms: number;
  not_searched_densely?: Array<{ document_id: string; owner: string; embedding_model: string; chunks: number }>;
}

/** The API's error body. */
export interface ErrorBody {
  error: string;
  code: string;
}

// ------------------------------------------------------------------ WebSocket

export type ClientMessage =
  | { action: 'subscribe'; statusId: string }
  | { action: 'unsubscribe'; statusId?: string }
  | { action: 'ping' };

export interface DocumentStatusUpdate {
  type: 'document_status_update';
  statusId: string;
  status: Stage;
  metadata: { progress: number; message: string; pipeline?: Pipeline; error?: string; error_code?: string; failed_at_stage?: string } & Record<string, unknown>;
  timestamp: string;
}

export type ServerMessage =
  | { type: 'subscription_confirmed'; statusId: string }
  | DocumentStatusUpdate
  | { type: 'unsubscribed'; statusId?: string }
  | { type: 'pong'; timestamp: string }
  | { type: 'error'; error: string; statusId?: string };
