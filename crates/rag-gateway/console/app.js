// amplify-rag-async developer console: upload, watch every stage live, search.
// No framework, no build step of its own: it talks to the API through the TypeScript client
// (clients/typescript, compiled into /client/). All server text goes through textContent.
import { RagApiError, RagClient, StatusSocket } from '/client/index.js';

const BUCKET = 'local';
const STAGES = ['uploading', 'uploaded', 'validating', 'queued', 'processing_started',
  'converting_pages', 'extracting_text', 'processing_visuals', 'classifying_visuals',
  'chunking', 'embedding', 'embedding_pages', 'storing'];
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const $ = (id) => document.getElementById(id);
const docs = new Map(); // statusId -> {row, status, progress, name}
let token = null;
let user = ''; // the token's user: uploads go under their prefix
let tokenExpiry = 0; // ms epoch
let tokenTimer = 0;

// ---------- identity ----------
async function refreshToken() {
  const res = await fetch('/dev/token', { cache: 'no-store' });
  if (!res.ok) throw new Error(`token: HTTP ${res.status} ${(await errorText(res))}`);
  const body = await res.json();
  token = body.token;
  const ttl = Math.max(30, Number(body.expires_in) || 3600);
  tokenExpiry = Date.now() + ttl * 1000;
  user = body.user || '';
  $('user').textContent = user;
  clearTimeout(tokenTimer);
  // Renew at 80% of the lifetime; on failure the next call fetches one.
  tokenTimer = setTimeout(() => refreshToken().catch(() => { token = null; }), ttl * 800);
  return token;
}

async function ensureToken() {
  if (!token || Date.now() > tokenExpiry - 30000) await refreshToken();
  return token;
}

async function errorText(res) {
  const text = await res.text().catch(() => '');
  try { const j = JSON.parse(text); return j.error || j.message || text; } catch { return text; }
}

const client = new RagClient({ baseUrl: location.origin, token: ensureToken });

// A call through the client, once more with a fresh token after a 401.
async function call(fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof RagApiError) || e.status !== 401) throw e;
    token = null;
    return fn();
  }
}

// ---------- WebSocket ----------
// The client's StatusSocket: reconnects with backoff, subscribes again, pings every 25 s and
// replaces a socket silent for 60 s. While it is down, documents in progress are polled.
let pollTimer = 0;
let connectFailures = 0;
const subscriptions = new Map(); // statusId -> stop()

function setWsState(state, text) {
  const el = $('ws-state');
  el.dataset.state = state;
  el.textContent = text;
}

let socket = null;
let connected = false;
function connect() {
  let opened = false;
  socket = new StatusSocket({
    url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`,
    // A refused handshake may mean a stale token: after two, fetch a new one.
    token: () => { if (connectFailures >= 2) token = null; return ensureToken(); },
    pingIntervalMs: 25000,
    silenceTimeoutMs: 60000,
    reconnectDelayMs: 500,
    maxReconnectDelayMs: 15000,
    onMessage,
    onState: (state) => {
      if (state === 'open') {
        opened = true; connected = true; connectFailures = 0;
        setWsState('connected', 'Connected');
        stopPolling();
      } else if (state === 'connecting') {
        setWsState('connecting', 'Connecting…');
      } else {
        if (!opened) connectFailures++;
        opened = false; connected = false;
        setWsState('reconnecting', `Disconnected; retrying${connectFailures ? ` (${connectFailures} failed attempt${connectFailures === 1 ? '' : 's'})` : ''}`);
        startPolling();
      }
    },
  });
}

function onMessage(msg) {
  switch (msg.type) {
    case 'document_status_update': {
      const m = msg.metadata || {};
      applyStatus(msg.statusId, {
        status: msg.status, progress: m.progress, message: m.message, pipeline: m.pipeline,
        error: m.error, failedAt: m.failed_at_stage, meta: m, timestamp: msg.timestamp,
      });
      break;
    }
    case 'error':
      if (msg.statusId && docs.has(msg.statusId)) {
        applyStatus(msg.statusId, { status: 'failed', error: msg.error, force: true });
      } else {
        console.warn('websocket error:', msg.error);
      }
      break;
    default: break; // pong, unsubscribed
  }
}

// Subscribe and wait (briefly) for the confirmation, so no update is missed. Updates arrive
// through onMessage, for this and every other document.
function subscribe(statusId) {
  if (subscriptions.has(statusId)) return Promise.resolve(true);
  const { confirmed, stop } = socket.subscribeConfirmed(statusId, () => {});
  subscriptions.set(statusId, stop);
  return confirmed;
}

function unsubscribe(statusId) {
  const stop = subscriptions.get(statusId);
  if (stop) { subscriptions.delete(statusId); stop(); }
}

// While the socket is down, poll documents still in progress.
function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(() => {
    for (const [id, d] of docs) {
      if (TERMINAL.has(d.status) || d.status === 'uploading') continue;
      call(() => client.getStatus(id)).then((r) => applyRecord(r)).catch(() => {});
    }
  }, 3000);
}
function stopPolling() { clearInterval(pollTimer); pollTimer = 0; }

// ---------- documents ----------
function rank(status) { return TERMINAL.has(status) ? 99 : STAGES.indexOf(status); } // -1: unknown

function docRow(statusId, name) {
  let d = docs.get(statusId);
  if (d) return d;
  const row = $('doc-tpl').content.firstElementChild.cloneNode(true);
  row.dataset.statusId = statusId;
  row.querySelector('.name').textContent = name;
  row.querySelector('.name').title = statusId;
  row.querySelector('progress').setAttribute('aria-label', `Progress of ${name}`);
  d = { row, name, status: '', progress: 0 };
  docs.set(statusId, d);
  $('docs').prepend(row);
  $('docs-empty').hidden = true;
  return d;
}

function applyRecord(r) {
  if (!r || !r.statusId) return;
  const meta = r.metadata || {};
  docRow(r.statusId, meta.file_name || r.statusId.split('/').pop());
  applyStatus(r.statusId, {
    status: r.status, progress: r.progress, message: r.message, pipeline: r.pipeline,
    error: r.error, failedAt: r.failedAtStage, meta, timestamp: r.timestamp, quiet: true,
  });
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// u: {status, progress?, message?, pipeline?, error?, failedAt?, meta?, force?, quiet?}
function applyStatus(statusId, u) {
  const d = docs.get(statusId);
  if (!d || !u.status) return;
  // A finished run stays finished; stages and progress never go backwards.
  if (!u.force && TERMINAL.has(d.status)) return;
  const r = rank(u.status);
  if (!u.force && !TERMINAL.has(u.status) &&
      ((r >= 0 && r < rank(d.status)) || (u.progress ?? d.progress) < d.progress)) return;
  const stageChanged = u.status !== d.status;
  d.status = u.status;
  if (typeof u.progress === 'number') d.progress = u.progress;
  if (u.status === 'completed') d.progress = 100;
  const { row } = d;
  row.dataset.status = u.status;
  row.querySelector('progress').value = d.progress;
  row.querySelector('progress').setAttribute('aria-valuetext', `${d.progress}% · ${u.status.replace(/_/g, ' ')}`);
  row.querySelector('.stage').textContent = u.status.replace(/_/g, ' ');
  if (u.pipeline) row.querySelector('.pipeline').textContent = u.pipeline;
  const msg = row.querySelector('.msg');
  const err = row.querySelector('.err');
  if (u.status === 'failed' || u.status === 'cancelled') {
    err.hidden = false;
    err.textContent = u.status === 'cancelled' ? (u.message || 'Cancelled')
      : `Failed${u.failedAt ? ` at ${u.failedAt.replace(/_/g, ' ')}` : ''}: ${u.error || u.message || 'unknown error'}`;
    msg.textContent = '';
  } else if (u.status === 'completed') {
    err.hidden = true;
    const m = u.meta || {};
    const facts = [];
    if (m.chunks != null) facts.push(plural(m.chunks, 'chunk'));
    if (m.pages != null) facts.push(plural(m.pages, 'page'));
    if (m.elapsed_ms != null) facts.push(`${(m.elapsed_ms / 1000).toFixed(1)} s`);
    msg.textContent = facts.length ? facts.join(' · ') : (u.message || 'Done');
  } else if (u.message != null) {
    msg.textContent = u.message;
  }
  if (u.timestamp) row.title = `Last update ${u.timestamp}`;
  if (stageChanged && !u.quiet) {
    $('announcer').textContent = `${d.name}: ${err.hidden ? u.status.replace(/_/g, ' ') : err.textContent}`;
  }
  if (stageChanged && TERMINAL.has(u.status)) unsubscribe(statusId);
}

// randomUUID needs a secure context; localhost is one. The fallback only has to be unique.
const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
  : [...crypto.getRandomValues(new Uint8Array(16))].map((x) => x.toString(16).padStart(2, '0')).join(''));

// The browser knows most types; a few it may not (the server also routes on the extension).
const OOXML = 'application/vnd.openxmlformats-officedocument.';
const TYPES = { md: 'text/markdown', docx: `${OOXML}wordprocessingml.document`,
  pptx: `${OOXML}presentationml.presentation`, xlsx: `${OOXML}spreadsheetml.sheet` };
const contentType = (f) => f.type || TYPES[f.name.split('.').pop().toLowerCase()] || 'application/octet-stream';

async function ingest(file) {
  if (!user) await ensureToken().catch(() => {}); // the token names the user
  const key = `${user}/uploads/${uuid()}/${file.name}`;
  const statusId = `${BUCKET}#${key}`;
  const type = contentType(file);
  docRow(statusId, file.name);
  applyStatus(statusId, { status: 'uploading', progress: 0, message: `Uploading ${formatSize(file.size)}…` });
  try {
    await subscribe(statusId); // before submitting: nothing can be missed
    await call(() => client.uploadToGateway(BUCKET, key, file, type));
    applyStatus(statusId, { status: 'uploaded', progress: 0, message: 'Uploaded; submitting…' });
    const res = await call(() => client.processDocument({
      bucket: BUCKET, key, metadata: { fileName: file.name, contentType: type, size: file.size },
      force_reprocess: false,
    }));
    applyStatus(statusId, { status: res.status || 'queued', pipeline: res.pipeline, message: res.message });
    if (!connected) startPolling();
  } catch (e) {
    const stage = docs.get(statusId).status === 'uploading' ? 'upload' : 'submit';
    applyStatus(statusId, { status: 'failed', error: e.message, failedAt: stage, force: true });
  }
}

const formatSize = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);
const ingestAll = (files) => { for (const f of files) ingest(f); };

async function loadRecent() {
  try {
    const body = await call(() => client.listDocuments());
    const list = (body && body.documents) || [];
    for (const r of [...list].reverse()) applyRecord(r); // prepend oldest first: newest ends on top
    for (const r of list) if (!TERMINAL.has(r.status)) subscribe(r.statusId);
  } catch (e) { console.warn('recent documents:', e.message); }
}

// ---------- search ----------
function queryWords(q) {
  const words = [...new Set((q.toLowerCase().match(/[\p{L}\p{N}_]+/gu) || []))];
  const long = words.filter((w) => w.length > 1);
  return (long.length ? long : words).sort((a, b) => b.length - a.length);
}

// Appends `text` to `el` with the query words in <mark>; text nodes only, never HTML.
function highlight(el, text, words) {
  el.textContent = '';
  if (!words.length) { el.textContent = text; return; }
  const re = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'giu');
  text.split(re).forEach((part, i) => {
    if (!part) return;
    if (i % 2) { const m = document.createElement('mark'); m.textContent = part; el.append(m); }
    else el.append(part);
  });
}

// A window of the content around the first hit, for long chunks.
function snippet(text, words, max = 600) {
  if (text.length <= max) return text;
  const lower = text.toLowerCase();
  const hits = words.map((w) => lower.indexOf(w)).filter((i) => i >= 0);
  const at = hits.length ? Math.min(...hits) : 0;
  const start = Math.max(0, Math.min(at - 150, text.length - max));
  return `${start > 0 ? '…' : ''}${text.slice(start, start + max)}${start + max < text.length ? '…' : ''}`;
}

async function search(ev) {
  ev.preventDefault();
  const q = $('search-input').value.trim();
  if (!q) return;
  const status = $('search-status');
  const button = $('search-button');
  button.disabled = true;
  status.classList.remove('error');
  status.textContent = 'Searching…';
  const t0 = performance.now();
  try {
    const res = await call(() => client.query({
      query: q, top_k: Number($('top-k').value) || 10, search_mode: $('search-mode').value,
      dense_weight: Number($('dense-weight').value), sparse_weight: Number($('sparse-weight').value),
      fusion: $('fusion').value, context: 1,
    }));
    renderResults(res, q);
    const server = res.processing_time_ms != null ? `${Math.round(res.processing_time_ms)} ms server, ` : '';
    status.textContent = `${res.total_results ?? res.results.length} result(s) · ${res.search_mode} · ${server}${Math.round(performance.now() - t0)} ms total`;
  } catch (e) {
    $('results').textContent = '';
    status.classList.add('error');
    status.textContent = `Search failed: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

// Object URLs of the page images on screen, released when results are replaced.
let pageImageUrls = [];

// Shows a VDR result's rendered page. The local gateway serves page images to their owner only,
// so an unsigned link is fetched with the token (by path: the console may be open under another
// host name than the gateway's) and shown from an object URL; a presigned S3 link loads as is.
async function showPageImage(img, link, label) {
  try {
    const url = new URL(link, location.href);
    if (url.searchParams.has('X-Amz-Signature')) {
      img.src = url.href;
    } else {
      const res = await fetch(url.pathname + url.search, {
        headers: { Authorization: `Bearer ${await ensureToken()}` },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const objectUrl = URL.createObjectURL(await res.blob());
      pageImageUrls.push(objectUrl);
      img.src = objectUrl;
    }
    img.alt = label;
    img.hidden = false;
  } catch (e) {
    console.warn(`page image ${link}:`, e.message);
  }
}

// Where a result came from (its headings and characters in the page's text) and, on request,
// the chunks around it.
function showCitation(li, r) {
  const c = r.citation;
  if (c) {
    const crumbs = li.querySelector('.crumbs');
    const path = (c.heading_path || []).join(' › ');
    crumbs.textContent = `${path ? `${path} · ` : ''}chars ${c.char_start}–${c.char_end}`;
    crumbs.hidden = false;
  }
  const ctx = r.context;
  if (ctx && ((ctx.before || []).length || (ctx.after || []).length)) {
    const before = li.querySelector('.context.before');
    const after = li.querySelector('.context.after');
    before.textContent = (ctx.before || []).join(' … ');
    after.textContent = (ctx.after || []).join(' … ');
    const toggle = li.querySelector('.show-context');
    toggle.hidden = false;
    toggle.setAttribute('aria-expanded', 'false');
    toggle.onclick = () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      before.hidden = !open || !before.textContent;
      after.hidden = !open || !after.textContent;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Hide context' : 'Show context';
    };
  }
}

function renderResults(res, q) {
  const words = queryWords(q);
  const list = $('results');
  list.textContent = '';
  for (const url of pageImageUrls) URL.revokeObjectURL(url);
  pageImageUrls = [];
  for (const r of res.results || []) {
    const li = $('result-tpl').content.firstElementChild.cloneNode(true);
    const content = String(r.content ?? '');
    li.querySelector('.score').textContent = Number(r.score).toFixed(3);
    li.querySelector('.name').textContent = (r.metadata && r.metadata.file_name) || r.document_id;
    li.querySelector('.name').title = `document ${r.document_id} · chunk ${r.chunk_id}`;
    li.querySelector('.page').textContent = r.page_num != null ? `p. ${r.page_num}` : '';
    li.querySelector('.pipeline').textContent = r.pipeline || '';
    const imageUrl = r.metadata && r.metadata.image_url;
    if (typeof imageUrl === 'string' && imageUrl) {
      const name = (r.metadata && r.metadata.file_name) || r.document_id;
      showPageImage(li.querySelector('.page-image'), imageUrl, `page ${r.page_num ?? '?'} of ${name}`);
    }
    showCitation(li, r);
    const p = li.querySelector('.content');
    const short = snippet(content, words);
    highlight(p, short, words);
    if (short !== content) {
      const more = li.querySelector('.more');
      more.hidden = false;
      more.setAttribute('aria-expanded', 'false');
      more.onclick = () => {
        const open = more.getAttribute('aria-expanded') !== 'true';
        highlight(p, open ? content : short, words);
        more.setAttribute('aria-expanded', String(open));
        more.textContent = open ? 'Show less' : 'Show full text';
      };
    }
    list.append(li);
  }
}

// ---------- wiring ----------
function showFatal(e) { setWsState('offline', `Offline: ${e.message || e}`); }

function init() {
  const zone = $('drop-zone');
  $('file-input').addEventListener('change', (e) => { ingestAll(e.target.files); e.target.value = ''; });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault(); zone.classList.remove('over');
    ingestAll(e.dataTransfer.files);
  });
  // A file dropped beside the zone must not navigate away from the console.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  for (const [input, out] of [['dense-weight', 'dense-out'], ['sparse-weight', 'sparse-out']]) {
    $(input).addEventListener('input', () => { $(out).textContent = Number($(input).value).toFixed(2); });
  }
  $('search-form').addEventListener('submit', search);
  start();
}

function start() {
  refreshToken()
    .then(() => { if (!socket) connect(); return loadRecent(); })
    .catch((e) => { showFatal(e); setTimeout(start, 3000); });
}

init();
