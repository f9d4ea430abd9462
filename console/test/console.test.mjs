// The console in a real browser against a real tern (console/test/env.py): login and logout,
// the operator's account creation and switch, a domain whose records are published in the
// test DNS and checked, the route switched to the customer's own server (the SMTP sink) with a
// test email and its remote reply, a wrong port and its error, the sandbox and its captured
// message, message search and timeline, suppressions, CSRF refusal of a cross-site request,
// keyboard-only use, axe-core in light and dark on every page, screenshots, the byte budget of
// the first page, and the generated API types against the server's OpenAPI document.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { startEnv, startBrowser, watchedPage, login, go, bearer, assertAccessible, assertScreenshot, docShot, HERE } from './lib.mjs';
import { schemaText } from '../scripts/schema-text.mjs';

let env;
let browser;
let page;

before(async () => {
  env = await startEnv();
  browser = await startBrowser();
  page = await watchedPage(browser.context);
});

after(async () => {
  if (browser) await browser.close();
  if (env) await env.close();
});

test('the console is embedded and served with its security headers', async () => {
  const r = await fetch(env.base + '/console/');
  assert.equal(r.status, 200);
  const html = await r.text();
  assert.match(html, /<script type="module" crossorigin src="\/console\/assets\/[^"]+\.js">/, 'built console embedded (not the placeholder)');
  assert.doesNotMatch(html.replace(/<script[^>]*src=[^>]*><\/script>/g, ''), /<script/, 'no inline script');
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const js = html.match(/src="(\/console\/assets\/[^"]+\.js)"/)[1];
  const a = await fetch(env.base + js, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(a.status, 200);
  assert.match(a.headers.get('cache-control'), /immutable/);
  assert.equal(a.headers.get('content-encoding'), 'gzip');
  const etag = a.headers.get('etag');
  const again = await fetch(env.base + js, { headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const deep = await fetch(env.base + '/console/domains/example.com');
  assert.equal(await deep.text(), html, 'SPA fallback');
  // A raw request (fetch would normalise the dots away before sending).
  for (const path of ['/console/%2e%2e/api/v1/accounts', '/console/../api/v1/accounts', '/console/assets/..%2f..%2fetc%2fpasswd']) {
    const status = await new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: env.http, path }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 400, path);
  }
});

test('the first page stays within 120 KB gzipped', async () => {
  const p = await browser.context.newPage();
  const urls = new Set();
  p.on('request', (req) => urls.add(req.url()));
  await p.goto(env.base + '/console/');
  await p.getByLabel('Operator token or API key').waitFor();
  await p.waitForLoadState('networkidle');
  await p.close();
  let total = 0;
  const sizes = [];
  for (const u of urls) {
    if (!u.startsWith(env.base + '/console/')) continue;
    const r = await fetch(u, { headers: { 'Accept-Encoding': 'gzip' } });
    const body = Buffer.from(await r.arrayBuffer());
    // What travels: the gzip variant when the server has one (fetch decodes it: re-measure).
    const n = r.headers.get('content-encoding') === 'gzip' ? gzipSync(body, { level: 9 }).length : body.length;
    sizes.push(`${u.slice(env.base.length)} ${n}`);
    total += n;
  }
  console.log(`first page: ${(total / 1024).toFixed(1)} KiB gzipped\n  ${sizes.join('\n  ')}`);
  assert.ok(total <= 120 * 1024, `first page loads ${total} bytes gzipped (budget 120 KiB)`);
});

test('the generated API types match the server’s OpenAPI document', async () => {
  const doc = await (await fetch(env.base + '/api/v1/openapi.json')).json();
  const want = await schemaText(doc);
  const have = readFileSync(join(HERE, '..', 'src', 'api', 'schema.d.ts'), 'utf8');
  assert.equal(have, want, 'console/src/api/schema.d.ts is stale: run `npm run types -- <tern>/api/v1/openapi.json` in console/ and commit it');
});

test('login with a wrong token is refused; the operator logs in and out', async () => {
  await page.goto(env.base + '/console/');
  await page.getByLabel('Operator token or API key').fill('tern_admin_wrong_wrong_wrong_wrong_wrong');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('That token or key is not valid.').waitFor();
  page.allowProblems(/^HTTP 401 (GET|POST) \/api\/v1\/session$/);
  await assertScreenshot(page, 'login');
  await login(page, env);
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  // The session is gone on the server too: a reload stays logged out.
  await page.reload();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  page.allowProblems(/^HTTP 401 GET \/api\/v1\/session$/);
  page.assertClean('login/logout');
});

test('a one-time login link logs the operator in once and leaves the address bar', async () => {
  const out = await env.cmd({ cmd: 'cli', args: ['console', 'link'] });
  assert.equal(out.rc, 0, out.stderr);
  const code = out.stdout.trim().match(/#login=([A-Za-z0-9_-]+)$/)?.[1];
  assert.ok(code, out.stdout);
  const link = `${env.base}/console/#login=${code}`;
  await page.goto('about:blank'); // a full load, not a fragment change of the current page
  await page.goto(link);
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  assert.equal(await page.evaluate(() => location.hash), '', 'the code is removed from the URL');
  assert.doesNotMatch(await page.evaluate(() => location.href), /login=/);
  page.allowProblems(/^HTTP 401 GET \/api\/v1\/session$/);
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  // The same link a second time: refused, said so, and the login form is there.
  await page.goto('about:blank');
  await page.goto(link);
  await page.getByText('The login link did not work').waitFor();
  assert.equal(await page.evaluate(() => location.hash), '');
  page.allowProblems(/^HTTP 401 (GET|POST) \/api\/v1\/session$/);
  page.assertClean('login link');
});

test('the operator creates an account and switches into it', async () => {
  await login(page, env);
  await go(page, env, 'accounts');
  await page.getByLabel('Name', { exact: true }).fill('shop');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Account shop created with SMTP login').waitFor();
  const secret = page.locator('.secret-value');
  assert.ok((await secret.textContent()).length >= 16, 'password shown once');
  await page.getByRole('button', { name: 'I have copied it' }).click();
  assert.equal(await secret.count(), 0, 'the password is gone once acknowledged');
  await page.getByRole('button', { name: 'Switch to shop' }).click();
  await page.getByText('Acting as account shop').waitFor();
  await page.getByRole('heading', { name: 'Sending', level: 1 }).waitFor();
  assert.equal(await page.locator('#account-switcher').inputValue(), 'shop');
  page.assertClean('accounts');
});

test('a domain: records published in DNS turn ok after "check now"', async () => {
  await go(page, env, 'domains');
  await page.getByLabel('Domain', { exact: true }).fill('shop.test');
  await page.getByRole('button', { name: 'Add domain' }).click();
  await page.getByRole('heading', { name: 'shop.test', level: 1 }).waitFor();
  await page.locator('.record').first().waitFor();
  const records = (await bearer(env, 'GET', '/api/v1/accounts/shop/domains/shop.test')).body.records;
  assert.ok(records.length >= 4, JSON.stringify(records));
  // Copy buttons carry the exact text.
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.base });
  await page.getByRole('button', { name: 'Copy value of the ownership record' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, records.find((r) => r.id === 'ownership').value);
  await env.cmd({ cmd: 'publish', zone: 'shop.test', records });
  await page.getByRole('button', { name: 'Check now' }).click();
  await page.getByText('Every record is in place.').waitFor({ timeout: 20000 });
  const states = await page.locator('.record .badge').allTextContents();
  assert.ok(states.length >= 4 && states.every((s) => s === 'ok'), states.join(','));
  await page.locator('.tile .badge', { hasText: 'verified' }).waitFor();
  page.assertClean('domains');
});

// Saves the Sending form and waits for the server's answer (a toast of an earlier save may
// still be on screen).
async function save(p) {
  const answered = p.waitForResponse((r) => /\/settings$/.test(r.url()) && r.request().method() === 'PATCH');
  await p.getByRole('button', { name: 'Save' }).click();
  const r = await answered;
  assert.equal(r.status(), 200, await r.text());
}

test('own SMTP server: save the route, send a test email, read the remote reply; a wrong port shows the error', async () => {
  await go(page, env, 'sending');
  await page.getByLabel('Your own SMTP server').check();
  await page.getByLabel('Server host').fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(env.sinkPort));
  await page.getByLabel('Security').selectOption('none');
  await page.getByLabel('Default Mail-From').fill('hello@shop.test');
  await save(page);
  const saved = (await bearer(env, 'GET', '/api/v1/accounts/shop/settings')).body;
  assert.equal(saved.route, 'custom');
  assert.equal(saved['relay.host'], '127.0.0.1');
  assert.equal(Number(saved['relay.port']), env.sinkPort);

  await page.getByLabel('To', { exact: true }).fill('jane@example.net');
  await page.getByRole('button', { name: 'Send test email' }).click();
  const result = page.getByTestId('test-result');
  await result.waitFor({ timeout: 30000 });
  await result.getByText('Delivered: the remote server accepted the message.').waitFor();
  const reply = await result.locator('code.reply').textContent();
  assert.match(reply, /^250\b/, reply);
  assert.match(await result.textContent(), /127\.0\.0\.1/);
  const sink = await env.cmd({ cmd: 'sink' });
  assert.ok(sink.messages.some((m) => m.to.includes('jane@example.net')), 'the sink got the test email');
  await docShot(page, 'sending');
  await page.evaluate(() => window.scrollTo(0, 0));
  await result.evaluate((el) => el.scrollIntoView({ block: 'end' }));
  await assertScreenshot(page, 'sending', [page.locator('.kv code:not(.reply)'), page.locator('#relay-port')]);

  await page.getByLabel('Port', { exact: true }).fill(String(env.closedPort));
  await save(page);
  const answered = page.waitForResponse((r) => /\/settings\/test-email$/.test(r.url()));
  await page.getByRole('button', { name: 'Send test email' }).click();
  const answer = await (await answered).json();
  assert.notEqual(answer.outcome, 'delivered', JSON.stringify(answer));
  await result.getByText('Not delivered').waitFor({ timeout: 30000 });
  const err = await result.locator('code.reply').textContent();
  assert.match(err, /refused|connect/i, err);
  page.assertClean('sending');
});

test('sandbox: a test email is captured and readable in the console', async () => {
  await go(page, env, 'sending');
  await page.getByLabel('Sandbox').check();
  await save(page);
  await page.getByLabel('To', { exact: true }).fill('first@example.org');
  await page.getByRole('button', { name: 'Send test email' }).click();
  await page.getByTestId('test-result').waitFor({ timeout: 30000 });
  await go(page, env, 'captured');
  const link = page.locator('main table a').first();
  await link.waitFor({ timeout: 15000 });
  await link.click();
  await page.getByRole('tab', { name: 'Headers' }).click();
  await page.locator('main table th', { hasText: /^To$/i }).first().waitFor();
  assert.match(await page.locator('main table').textContent(), /first@example\.org/);
  await page.getByRole('tab', { name: 'Text' }).click();
  await page.locator('.mail-text').waitFor();
  page.assertClean('captured');
});

test('messages: search with the state in the URL, then a recipient timeline', async () => {
  // A message through the API (the test email above is not a logged message), relayed to the
  // sink (the route is the sandbox now: captured, logged like any other).
  const sent = await bearer(env, 'POST', '/api/v1/accounts/shop/messages', {
    from: 'hello@shop.test', to: ['jane@example.net'], subject: 'Your order', text: 'Thanks.', bulkId: 'orders-1',
  });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  await go(page, env, 'messages');
  await page.getByLabel('Recipient').fill('jane@example.net');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/recipient=jane%40example\.net/);
  const row = page.locator('main table a', { hasText: 'jane@example.net' }).first();
  await row.waitFor({ timeout: 15000 });
  // The search survives a reload (it lives in the URL).
  await page.reload();
  assert.equal(await page.getByLabel('Recipient').inputValue(), 'jane@example.net');
  await row.click();
  await page.getByRole('heading', { name: 'Message timeline' }).waitFor();
  await page.locator('.timeline .tl').first().waitFor();
  assert.match(await page.locator('.timeline').textContent(), /accepted|delivered/i);
  page.assertClean('messages');
});

test('suppressions: add one, find it, remove it', async () => {
  await go(page, env, 'suppressions');
  await page.getByLabel('Address', { exact: true }).fill('gone@example.com');
  await page.getByLabel('Reason').fill('left the company');
  await page.getByRole('button', { name: 'Suppress' }).click();
  const row = page.locator('main tbody tr', { hasText: 'gone@example.com' });
  await row.waitFor();
  assert.match(await row.textContent(), /left the company/);
  await page.getByRole('button', { name: 'Remove gone@example.com' }).click();
  await row.waitFor({ state: 'detached' });
  const list = (await bearer(env, 'GET', '/api/v1/accounts/shop/suppressions')).body.items;
  assert.ok(!list.some((s) => s.address === 'gone@example.com'));
  page.assertClean('suppressions');
});

test('a cross-site request carrying the session cookie is refused', async () => {
  // The attacker's page is on another site (localhost vs 127.0.0.1) and posts to the API with
  // the victim's cookie; then the same request straight from node, cookie without CSRF header.
  const evil = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><title>evil</title><form id=f method=POST action="${env.base}/api/v1/accounts" enctype="text/plain"><input name='{"name":"evil","x":"' value='"}'></form><script>
      fetch(${JSON.stringify(env.base + '/api/v1/accounts')}, {method:'POST', credentials:'include', mode:'no-cors', headers:{'Content-Type':'text/plain'}, body: JSON.stringify({name:'evil2'})}).finally(() => document.getElementById('f').submit());
    </script>`);
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const port = evil.address().port;
  const p = await browser.context.newPage();
  try {
    await p.goto(`http://localhost:${port}/`);
    await p.waitForURL(/api\/v1\/accounts/, { timeout: 10000 }).catch(() => {});
    await p.waitForLoadState('load');
  } finally {
    await p.close();
    evil.close();
  }
  const accounts = (await bearer(env, 'GET', '/api/v1/accounts')).body.items.map((a) => a.name);
  assert.ok(!accounts.includes('evil') && !accounts.includes('evil2'), accounts.join(','));
  const cookies = await browser.context.cookies(env.base);
  const c = cookies.find((x) => x.name.includes('tern_session'));
  assert.ok(c, 'session cookie present: ' + cookies.map((x) => x.name).join(','));
  const r = await fetch(env.base + '/api/v1/accounts', {
    method: 'POST',
    headers: { Cookie: `${c.name}=${c.value}`, 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site', Origin: 'http://evil.test' },
    body: JSON.stringify({ name: 'evil3' }),
  });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).error.code, 'csrf');
});

const PAGES = ['sending', 'captured', 'domains', 'domains/shop.test', 'senders', 'messages', 'suppressions', 'dashboard', 'webhooks', 'keys', 'accounts', 'queue', 'platform'];

test('every page passes axe-core in light and dark, with no console error or CSP violation', async () => {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const p of PAGES) {
      await go(page, env, p);
      await assertAccessible(page, `${p} (${scheme})`);
      page.assertClean(`${p} (${scheme})`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
});

test('screenshots of the main pages match their baselines', async () => {
  await page.emulateMedia({ colorScheme: 'light' });
  await go(page, env, 'domains/shop.test');
  await assertScreenshot(page, 'domain');
  await docShot(page, 'domain');
  await go(page, env, 'messages?recipient=jane%40example.net');
  await page.locator('main tbody tr').first().waitFor();
  await assertScreenshot(page, 'messages');
  await page.locator('main tbody a').first().click();
  await page.locator('.timeline .tl').first().waitFor();
  await assertScreenshot(page, 'timeline', [page.locator('.kv code'), page.locator('.page-header .intro')]);
  await docShot(page, 'timeline');
  await page.emulateMedia({ colorScheme: 'dark' });
  await go(page, env, 'accounts');
  await assertScreenshot(page, 'accounts-dark');
  await docShot(page, 'accounts-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('keyboard only: log out, log in with an API key, open a page from the menu, add and remove a suppression', async () => {
  const k = await watchedPage(browser.context);
  try {
    await k.goto(env.base + '/console/');
    await k.getByRole('button', { name: 'Log out' }).waitFor();
    await k.keyboard.press('Tab'); // skip link
    assert.equal(await k.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    // Log out and in again by keyboard.
    await k.getByRole('button', { name: 'Log out' }).focus();
    await k.keyboard.press('Enter');
    await k.getByLabel('Operator token or API key').waitFor();
    await k.keyboard.press('Tab');
    assert.equal(await k.evaluate(() => document.activeElement?.id), 'login-token');
    // An account's own API key this time (the account kind of session).
    const key = (await bearer(env, 'POST', '/api/v1/accounts/shop/api-keys', {})).body.key;
    await k.keyboard.type(key);
    await k.keyboard.press('Enter');
    await k.getByRole('button', { name: 'Log out' }).waitFor();
    // Tab through the menu to Suppressions and follow it.
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      await k.keyboard.press('Tab');
      found = await k.evaluate(() => document.activeElement?.textContent === 'Suppressions');
    }
    assert.ok(found, 'Suppressions reachable by Tab');
    await k.keyboard.press('Enter');
    await k.getByRole('heading', { name: 'Suppressions', level: 1 }).waitFor();
    await k.getByLabel('Address', { exact: true }).focus();
    await k.keyboard.type('kb@example.com');
    await k.keyboard.press('Tab');
    await k.keyboard.type('keyboard');
    await k.keyboard.press('Enter');
    await k.locator('main tbody tr', { hasText: 'kb@example.com' }).waitFor();
    // Remove it again: Tab from the row's checkbox to its Remove button.
    await k.getByRole('checkbox', { name: 'Select kb@example.com' }).focus();
    await k.keyboard.press('Tab');
    assert.equal(await k.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Remove kb@example.com');
    await k.keyboard.press('Enter');
    await k.locator('main tbody tr', { hasText: 'kb@example.com' }).waitFor({ state: 'detached' });
    k.allowProblems(/^HTTP 401 GET \/api\/v1\/session$/);
    k.assertClean('keyboard');
  } finally {
    await k.close();
  }
});
