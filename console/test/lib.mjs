// Shared machinery of the browser suite: the loopback world (env.py: tern serve, nsd+unbound,
// an SMTP sink), Debian's Chromium driven by playwright-core, and checks every page gets (no
// console error, no CSP violation, axe-core WCAG 2.2 AA, screenshots against baselines).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const SHOTS = join(HERE, 'screenshots');
export const OUT = join(HERE, '.out');
export const CHROMIUM = process.env.TERN_CHROMIUM || '/usr/bin/chromium';
export const VIEWPORT = { width: 1280, height: 860 };

// --- the world ------------------------------------------------------------------------------
export async function startEnv() {
  const bin = process.env.TERN_BIN;
  assert.ok(bin, 'TERN_BIN must name the tern binary (console/test/run.sh sets it)');
  const proc = spawn('/usr/bin/python3', [join(HERE, 'env.py'), bin], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  const lines = createInterface({ input: proc.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else queue.push(l);
  });
  const next = (ms = 60000) =>
    new Promise((resolve, reject) => {
      const q = queue.shift();
      if (q !== undefined) return resolve(q);
      const timer = setTimeout(() => reject(new Error('env.py did not answer')), ms);
      waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  const exited = new Promise((r) => proc.on('exit', r));
  const info = JSON.parse(await Promise.race([next(90000), exited.then(() => { throw new Error('env.py exited'); })]));
  const env = {
    ...info,
    async cmd(c) {
      proc.stdin.write(JSON.stringify(c) + '\n');
      const out = JSON.parse(await next());
      if (out.error) throw new Error(out.error);
      return out;
    },
    async close() {
      proc.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
  return env;
}

// Bearer calls to the API (setup and checks beside the browser, like curl).
export async function bearer(env, method, path, body, token = env.admin) {
  const res = await fetch(env.base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// --- the browser ----------------------------------------------------------------------------
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'tern-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
    reducedMotion: 'reduce',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--font-render-hinting=none',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// A page whose console errors, page errors and CSP violations are recorded; assertClean()
// fails the test on any of them.
export async function watchedPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    // A failed load is logged by the browser without its URL: the response below names it.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url().replace(/^https?:\/\/[^/]+/, '')}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.problems = problems;
  page.assertClean = (what) => {
    const p = problems.splice(0);
    assert.deepEqual(p, [], `${what}: console errors or CSP violations`);
  };
  page.allowProblems = (re) => {
    for (let i = problems.length - 1; i >= 0; i--) if (re.test(problems[i])) problems.splice(i, 1);
  };
  return page;
}

export async function login(page, env, token = env.admin) {
  await page.goto(env.base + '/console/');
  await page.getByLabel('Operator token or API key').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  // Logged out, the console's first GET /api/v1/session is answered 401.
  page.allowProblems(/^HTTP 401 GET \/api\/v1\/session$/);
}

export async function go(page, env, path) {
  await page.goto(env.base + '/console/' + path);
  await page.locator('#page-title').waitFor();
  // Let the page's first loads settle ("Loading…" gone).
  await page.waitForFunction(() => !document.querySelector('main [role=status]')?.textContent?.includes('Loading'), null, { timeout: 15000 }).catch(() => {});
}

// --- accessibility --------------------------------------------------------------------------
export async function assertAccessible(page, what) {
  const r = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
    .analyze();
  const v = r.violations.map((x) => `${x.id} (${x.impact}): ${x.help} — ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  assert.deepEqual(v, [], `${what}: axe-core violations`);
}

// --- screenshots ----------------------------------------------------------------------------
// Compares a screenshot with console/test/screenshots/<name>.png. Volatile parts (times, keys,
// ports, ids) are masked. UPDATE_SCREENSHOTS=1 writes the baselines instead (then look at them
// and commit them). A difference writes <name>.actual.png and <name>.diff.png to test/.out/.
export async function assertScreenshot(page, name, mask = []) {
  mkdirSync(OUT, { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  const buf = await page.screenshot({
    fullPage: false,
    animations: 'disabled',
    caret: 'hide',
    mask: [page.locator('time'), page.locator('[data-volatile]'), page.locator('.toasts'), ...mask],
    maskColor: '#8a8f98',
  });
  const base = join(SHOTS, `${name}.png`);
  writeFileSync(join(OUT, `${name}.png`), buf);
  if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(base)) {
    if (process.env.UPDATE_SCREENSHOTS !== '1') assert.fail(`no baseline ${base}: run with UPDATE_SCREENSHOTS=1 and commit it`);
    writeFileSync(base, buf);
    return;
  }
  const want = PNG.sync.read(readFileSync(base));
  const got = PNG.sync.read(buf);
  assert.equal(`${got.width}x${got.height}`, `${want.width}x${want.height}`, `${name}: size`);
  const diff = new PNG({ width: want.width, height: want.height });
  const n = pixelmatch(want.data, got.data, diff.data, want.width, want.height, { threshold: 0.1 });
  const ratio = n / (want.width * want.height);
  if (ratio > 0.002) {
    writeFileSync(join(OUT, `${name}.actual.png`), buf);
    writeFileSync(join(OUT, `${name}.diff.png`), PNG.sync.write(diff));
    assert.fail(`${name}: ${n} pixels (${(ratio * 100).toFixed(2)}%) differ from the baseline; see console/test/.out/${name}.diff.png (UPDATE_SCREENSHOTS=1 to accept)`);
  }
}

// With UPDATE_SCREENSHOTS=1, also a full-page picture for docs/console.md (not compared).
export async function docShot(page, name) {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  const dir = join(HERE, '..', '..', 'docs', 'console');
  mkdirSync(dir, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  // An inline style: the stylesheet's `.toasts { display: flex }` would beat the hidden attribute.
  await page.locator('.toasts').evaluate((el) => (el.style.display = 'none'));
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true, animations: 'disabled', caret: 'hide' });
  await page.locator('.toasts').evaluate((el) => (el.style.display = ''));
}

// Polls f until it returns a truthy value (bounded).
export async function until(f, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
