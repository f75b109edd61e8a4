// End-to-end test of the rag-gateway developer console in headless Chromium.
//
//   node console.test.mjs <base-url> <file-to-upload> <screenshot-path> [query [vdr-file vdr-query]]
//
// Opens the console, waits for the WebSocket, uploads the file through the file input, waits for
// its row to reach `completed` (fails fast on `failed`), searches, expects a highlighted hit and
// takes a full-page screenshot. With a VDR file (a presentation), also uploads it, searches in
// `vdr` mode and expects the top result to show its rendered page image. Exits 1 with a clear
// message on any failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [baseUrl, file, shot, query = 'crazy', vdrFile, vdrQuery] = process.argv.slice(2);
if (!baseUrl || !file || !shot || (vdrFile && !vdrQuery)) {
  console.error('usage: node console.test.mjs <base-url> <file-to-upload> <screenshot-path> [query [vdr-file vdr-query]]');
  process.exit(2);
}
for (const f of [file, vdrFile].filter(Boolean)) {
  if (!fs.existsSync(f)) {
    console.error(`FAIL: no such file: ${f}`);
    process.exit(1);
  }
}
const STEP_MS = 60_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) || [])];
const timings = {};
let browser;
let page;

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exitCode = 1;
  throw Object.assign(new Error(message), { reported: true });
}

// Runs one step within the budget; the step's name goes into any failure.
async function step(name, fn) {
  const t0 = Date.now();
  let timer;
  try {
    const out = await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${STEP_MS / 1000} s`)), STEP_MS); }),
    ]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    return out;
  } catch (e) {
    if (e.reported) throw e;
    fail(`${name}: ${e.message.split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
  }
}

// Uploads `file` through the file input and waits for its row to reach `completed`; returns
// the time from upload to completed.
async function ingest(file) {
  // Rows already listed (earlier runs against the same gateway) are not ours.
  const before = await page.$$eval('[data-testid="doc-row"]', (rows) => rows.map((r) => r.dataset.statusId));
  const fileName = path.basename(file);
  const tUpload = Date.now();
  await step(`upload ${fileName}`, () => page.setInputFiles('[data-testid="file-input"]', file));
  const statusId = await step('document row appears', async () => {
    const handle = await page.waitForFunction(([name, known]) => {
      const row = [...document.querySelectorAll('[data-testid="doc-row"]')]
        .find((r) => !known.includes(r.dataset.statusId) && r.dataset.statusId.endsWith(`/${name}`));
      return row && row.dataset.statusId;
    }, [fileName, before]);
    return handle.jsonValue();
  });
  console.log(`     statusId ${statusId}`);
  const rowSel = `[data-testid="doc-row"][data-status-id="${statusId.replace(/["\\]/g, '\\$&')}"]`;
  // Record every stage the row shows, with its time, for the report.
  await page.$eval(rowSel, (row) => {
    const t0 = performance.now();
    window.__stages = [[row.dataset.status, 0]];
    new MutationObserver(() => {
      const last = window.__stages[window.__stages.length - 1][0];
      if (row.dataset.status !== last) window.__stages.push([row.dataset.status, Math.round(performance.now() - t0)]);
    }).observe(row, { attributes: true, attributeFilter: ['data-status'] });
  });

  const final = await step('document reaches a final state', async () => {
    const h = await page.waitForFunction((sel) => {
      const s = document.querySelector(sel)?.dataset.status;
      return ['completed', 'failed', 'cancelled'].includes(s) && s;
    }, rowSel, { polling: 50 });
    return h.jsonValue();
  });
  const elapsed = Date.now() - tUpload;
  const rowText = (await page.textContent(rowSel)).replace(/\s+/g, ' ').trim();
  const stages = await page.evaluate(() => window.__stages);
  console.log(`     stages: ${stages.map(([s, t]) => `${s}@${t}ms`).join(' → ')}`);
  if (final !== 'completed') {
    fail(`document ended ${final}: ${rowText}`);
  }
  const progress = await page.$eval(`${rowSel} [data-testid="progress"]`,
    (p) => Number(p.value ?? p.getAttribute('aria-valuenow')));
  if (progress !== 100) fail(`completed row shows progress ${progress}, expected 100`);
  console.log(`     row: ${rowText}`);
  return elapsed;
}

async function main() {
  fs.rmSync(shot, { force: true }); // a stale screenshot must not pass for this run's
  browser = await step('launch chromium', () => chromium.launch({
    executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'],
  }));
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_MS);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.log(`  [browser] ${m.text()}`); });

  const tLoad = Date.now();
  await step(`open ${baseUrl}`, () => page.goto(baseUrl, { waitUntil: 'load', timeout: STEP_MS }));
  await step('websocket connected', () => page.waitForSelector('[data-testid="ws-state"][data-state="connected"]'));
  timings.load_to_connected_ms = Date.now() - tLoad;

  timings.upload_to_completed_ms = await ingest(file);

  await step(`search "${query}"`, async () => {
    await page.fill('[data-testid="search-input"]', query);
    const tSearch = Date.now();
    await page.click('[data-testid="search-button"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="result"]') ||
      document.querySelector('[data-testid="search-status"].error'), null, { polling: 50 });
    timings.search_ms = Date.now() - tSearch;
    const err = await page.$('[data-testid="search-status"].error');
    if (err) fail(`search failed: ${await err.textContent()}`);
  });
  const hits = await page.$$eval('[data-testid="result"] mark', (ms) => ms.map((m) => m.textContent.toLowerCase()));
  const results = await page.$$eval('[data-testid="result"]', (rs) => rs.length);
  const score = await page.textContent('[data-testid="result-score"]');
  if (!hits.some((h) => words.includes(h))) {
    fail(`${results} result(s), none with a query word (${words.join(', ')}) in <mark>; marks: ${hits.join(', ') || 'none'}`);
  }
  if (!/^-?\d+\.\d{3}$/.test(score.trim())) fail(`result score "${score}" is not shown with 3 decimals`);
  // Every text result cites where it came from; its context opens on request.
  const crumbs = await page.textContent('[data-testid="result-crumbs"]');
  if (!/chars \d+–\d+/.test(crumbs)) fail(`the top result cites no characters: "${crumbs}"`);
  const toggle = await page.$('[data-testid="result-show-context"]:not([hidden])');
  if (toggle) {
    await toggle.click();
    const shown = await page.$$eval('[data-testid="result"]:first-child .context:not([hidden])', (cs) => cs.length);
    if (!shown) fail('"Show context" showed no neighbouring chunk');
  }
  console.log(`ok   ${results} result(s), ${hits.length} highlighted word(s), top score ${score}`);

  if (vdrFile) {
    timings.vdr_upload_to_completed_ms = await ingest(vdrFile);
    await step(`vdr search "${vdrQuery}" shows the page image`, async () => {
      await page.selectOption('[data-testid="search-mode"]', 'vdr');
      await page.fill('[data-testid="search-input"]', vdrQuery);
      await page.click('[data-testid="search-button"]');
      await page.waitForFunction((name) => {
        if (document.querySelector('[data-testid="search-status"].error')) return true;
        const top = document.querySelector('[data-testid="result"]');
        const img = top && top.querySelector('[data-testid="result-image"]');
        return top && top.querySelector('[data-testid="result-doc"]').textContent === name &&
          img && !img.hidden && img.complete && img.naturalWidth > 0;
      }, path.basename(vdrFile), { polling: 50 });
      const err = await page.$('[data-testid="search-status"].error');
      if (err) fail(`vdr search failed: ${await err.textContent()}`);
    });
    const shown = await page.$eval('[data-testid="result"] [data-testid="result-image"]',
      (img) => `${img.naturalWidth}x${img.naturalHeight} "${img.alt}"`);
    console.log(`ok   top vdr result shows its page image ${shown}`);
  }

  await step('screenshot', async () => {
    fs.mkdirSync(path.dirname(path.resolve(shot)), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
  });
  if (pageErrors.length) fail(`uncaught errors in the page: ${pageErrors.join('; ')}`);
  console.log(`screenshot: ${path.resolve(shot)}`);
  console.log(`timings: ${JSON.stringify(timings)}`);
  console.log('PASS');
}

main()
  .catch((e) => {
    if (!e.reported) console.error(`FAIL: ${e.stack || e.message}`);
    process.exitCode = 1;
    if (page && !fs.existsSync(shot)) {
      fs.mkdirSync(path.dirname(path.resolve(shot)), { recursive: true });
      return page.screenshot({ path: shot, fullPage: true })
        .then(() => console.error(`screenshot of the failure: ${path.resolve(shot)}`), () => {});
    }
  })
  .finally(async () => {
    if (browser) await browser.close().catch(() => {});
  });
