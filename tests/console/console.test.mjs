// The emulator's web console in a real headless Chromium (Debian's package), driven by playwright-core
// over the DevTools protocol. Starts `sf-emulator --seed-demo` on a free port, compares what the pages
// show with what `/__emulator/state` and `/__emulator/requests` hold, injects faults from the form and
// checks that the next Telephony API call (signed with the emulator's test key) fails accordingly.
// Screenshots go to target/console/. Ends with `console: N passed, M failed`.
//
// Environment: SF_EMULATOR_BIN (default target/debug/sf-emulator), CHROMIUM (default /usr/bin/chromium),
// CONSOLE_OUT (default target/console).

import { spawn } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const emulatorBin = process.env.SF_EMULATOR_BIN || join(root, 'target', 'debug', 'sf-emulator');
const chromiumBin = process.env.CHROMIUM || '/usr/bin/chromium';
const outDir = process.env.CONSOLE_OUT || join(root, 'target', 'console');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const results = [];
async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function assertEqual(actual, expected, message) {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`${message}\n  expected ${b}\n  actual   ${a}`);
}

// ---- the emulator --------------------------------------------------------------------------------

function startEmulator(keyDir) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(emulatorBin, ['--port', '0', '--seed-demo', '--generate-keys', keyDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error('the emulator did not start in 20 s:\n' + log)), 20_000);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run ${emulatorBin}: ${e.message}`)); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the emulator exited (${code}):\n${log}`)); });
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /control=(http:\/\/[^\s]+)\/__emulator console=(http:\/\/[^\s]+)/.exec(log);
      if (m) { clearTimeout(timer); child.stderr.removeAllListeners('data'); child.stderr.resume(); resolvePromise({ child, base: m[1], console: m[2] }); }
    });
  });
}

function b64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

// A documented SCRT token (RS256), as the functions sign it.
function scrtToken(privatePem, orgId, callCenter) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url({ alg: 'RS256', typ: 'JWT' });
  const body = b64url({ iss: orgId, sub: callCenter, aud: 'https://scrt.salesforce.com', iat: now, exp: now + 120, jti: randomUUID() });
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(privatePem).toString('base64url');
  return `${head}.${body}.${signature}`;
}

// ---- the test ------------------------------------------------------------------------------------

const keyDir = mkdtempSync(join(tmpdir(), 'console-keys-'));
const profileDir = mkdtempSync(join(tmpdir(), 'console-chromium-'));
mkdirSync(outDir, { recursive: true });
let emulator = null;
let context = null;
const began = Date.now();

try {
  emulator = await startEmulator(keyDir);
  const { base } = emulator;
  const control = async (path) => (await fetch(base + '/__emulator' + path)).json();
  const state = await control('/state');
  const requests = await control('/requests');
  const privatePem = readFileSync(join(keyDir, 'scrt-private-key.pem'), 'utf8');
  const telephony = (method, path, body) => fetch(base + '/telephony/v1' + path, {
    method,
    headers: { Authorization: 'Bearer ' + scrtToken(privatePem, state.orgId, state.callCenterApiName), 'Content-Type': 'application/json', 'Telephony-Provider-Name': 'amazon-connect' },
    body: JSON.stringify(body),
  });

  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumBin, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1360, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  const page = context.pages()[0] || await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

  await check('/ leads to the console, served by the emulator with nothing from elsewhere', async () => {
    const remote = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) remote.push(r.url()); });
    await page.goto(base + '/');
    assert(new URL(page.url()).pathname === '/console', `landed on ${page.url()}`);
    await page.waitForSelector('body[data-loaded="true"]');
    await page.waitForSelector('#live.on');
    assertEqual(remote, [], 'requests outside the emulator');
  });

  await check('the calls list shows every VoiceCall the org holds, newest first', async () => {
    await page.waitForSelector('#calls-table tbody tr');
    const rows = await page.$$eval('#calls-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.callId, tr.querySelector('.vendor-key').textContent]));
    assertEqual(rows, [...state.voiceCalls].reverse().map((c) => [c.id, c.vendorCallKey]), 'calls list');
    await page.fill('#call-search', 'voicemail');
    const found = await page.$$eval('#calls-table tbody tr', (trs) => trs.map((tr) => tr.dataset.vendorKey));
    assertEqual(found, state.voiceCalls.filter((c) => c.callOrigin === 'Voicemail').map((c) => c.vendorCallKey), 'search "voicemail"');
    await page.fill('#call-search', '');
    await page.screenshot({ path: join(outDir, 'calls.png'), fullPage: true });
  });

  const call = state.voiceCalls.find((c) => c.vendorCallKey === 'demo-contact-1');
  await check("a call's page shows its transcript, signals, sentiment, routing and requests, never a token", async () => {
    assert(call, 'the demo call is in the state');
    await page.click(`#calls-table a[href="#/call/${call.id}"]`);
    await page.waitForSelector('#transcript .bubble');
    const bubbles = await page.$$eval('#transcript .bubble', (els) => els.map((e) => [e.classList.contains('agent') ? 'agent' : 'customer', e.querySelector('.text').textContent]));
    const expected = [...call.messages].sort((a, b) => a.startTime - b.startTime)
      .map((m) => [m.senderType === 'END_USER' ? 'customer' : 'agent', m.content]);
    assertEqual(bubbles, expected, 'transcript bubbles');
    const signals = await page.$$eval('#transcript .signal', (els) => els.map((e) => e.textContent));
    assertEqual(signals.length, call.realtimeEvents.length, 'one inline signal per real-time event');
    for (const item of call.realtimeEvents) {
      assert(signals.some((s) => s.includes(item.event.value)), `signal ${item.event.type} ${item.event.value} shown`);
    }
    const lines = await page.$$eval('#sentiment svg polyline', (els) => els.map((e) => e.getAttribute('class')));
    const participants = [...new Set(call.postCallEvents.filter((p) => p.event.type === 'IntelligenceSignal__Sentiment').map((p) => p.event.participant.toLowerCase()))];
    assertEqual(lines.sort(), participants.sort(), 'one sentiment line per participant');
    const routed = requests.filter((r) => r.path.endsWith(`/voiceCalls/${call.vendorCallKey}/omniFlow`));
    const history = await page.$$eval('#routing-history tbody tr', (trs) => trs.map((tr) => [Number(tr.dataset.seq), tr.textContent]));
    assertEqual(history.map(([seq]) => seq), routed.map((r) => r.seq), 'routing history');
    routed.forEach((r, i) => assert(history[i][1].includes(String(r.status)) && history[i][1].includes(r.body.flowDevName), `routing #${r.seq} shows its flow and status`));
    const timeline = await page.$$eval('#timeline-table tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.seq)));
    const touching = requests.filter((r) => r.path.includes('/voiceCalls/' + call.vendorCallKey)).map((r) => r.seq);
    for (const seq of touching) assert(timeline.includes(seq), `request #${seq} is on the call's timeline`);
    const claims = await page.$$eval('#timeline-table tbody tr td:last-child summary', (els) => els.map((e) => e.textContent));
    assert(claims.length > 0 && claims.every((c) => c.includes('iss=' + state.orgId)), 'decoded JWT claims shown');
    const html = await page.content();
    assert(!/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(html) && !html.includes('Bearer '), 'no token on the page');
    await page.screenshot({ path: join(outDir, 'call.png'), fullPage: true });
  });

  await check("a voicemail's page shows its recording and transcript, caller text escaped", async () => {
    const vm = state.voiceCalls.find((c) => c.callOrigin === 'Voicemail');
    assert(vm, 'the demo voicemail is in the state');
    await page.goto(`${base}/console#/call/${vm.id}`);
    await page.waitForSelector('#voicemail');
    const text = await page.textContent('#voicemail');
    assert(text.includes(vm.fields.recordingLocation), 'recording location shown');
    const content = vm.messages[0].content;
    assert(content.includes('<'), 'the demo voicemail carries markup-like text');
    assert(text.includes(content), 'voicemail transcript shown as text');
    assertEqual(await page.$$eval('#transcript .bubble .text', (els) => els.map((e) => e.textContent)), [content], 'voicemail bubble');
    assertEqual(await page.$$eval('main ref', (els) => els.length), 0, 'caller text never becomes markup');
    await page.screenshot({ path: join(outDir, 'voicemail.png'), fullPage: true });
  });

  await check('the request log shows what the emulator recorded, with working filters', async () => {
    await page.click('nav a[data-page="requests"]');
    await page.waitForSelector('#requests-table tbody tr');
    const seqs = await page.$$eval('#requests-table tbody tr', (trs) => trs.map((tr) => [Number(tr.dataset.seq), Number(tr.dataset.status)]));
    assertEqual(seqs, [...requests].reverse().map((r) => [r.seq, r.status]), 'request log');
    await page.selectOption('#filter-status', '429');
    const throttled = await page.$$eval('#requests-table tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.seq)));
    assertEqual(throttled, requests.filter((r) => r.status === 429).map((r) => r.seq).reverse(), 'status filter 429');
    await page.selectOption('#filter-status', '');
    await page.fill('#filter-contact', 'demo-voicemail-1');
    const vm = await page.$$eval('#requests-table tbody tr', (trs) => trs.length);
    assertEqual(vm, requests.filter((r) => r.path.includes('/voiceCalls/demo-voicemail-1')).length, 'contact filter');
    await page.fill('#filter-contact', '');
    const endpoint = 'PATCH /telephony/v1/voiceCalls/{id}/omniFlow';
    await page.selectOption('#filter-endpoint', endpoint);
    const flows = await page.$$eval('#requests-table tbody tr', (trs) => trs.length);
    assertEqual(flows, requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/omniFlow')).length, 'endpoint filter');
    await page.selectOption('#filter-endpoint', '');
  });

  await check('a 5xx injected from the form fails the next Telephony API call, live in the log', async () => {
    await page.selectOption('#fault-kind', '5xx');
    await page.fill('#fault-status', '503');
    await page.fill('#fault-count', '1');
    await page.fill('#fault-path', '/telephony/v1/voiceCalls');
    await page.click('#fault-submit');
    await page.waitForSelector('#faults-table tbody tr');
    const pending = (await control('/state')).pendingFaults.faults;
    assertEqual(pending, [{ method: null, pathContains: '/telephony/v1/voiceCalls', count: 1, status: 503, retryAfterSecs: null, delayMs: null, dropConnection: false }], 'pending faults');
    const update = { callCenterApiName: state.callCenterApiName, isActiveCall: true };
    const failed = await telephony('PATCH', '/voiceCalls/demo-contact-2', update);
    assertEqual(failed.status, 503, 'the next call after the injected 5xx');
    const retried = await telephony('PATCH', '/voiceCalls/demo-contact-2', update);
    assertEqual(retried.status, 200, 'the fault is used up after one request');
    await page.waitForSelector('#requests-table tbody tr[data-status="503"]');
    await page.waitForSelector('#faults .empty');
  });

  await check('a 429 with Retry-After injected from the form throttles the next call', async () => {
    await page.selectOption('#fault-kind', '429');
    await page.fill('#fault-retry-after', '7');
    await page.fill('#fault-count', '2');
    await page.fill('#fault-path', '');
    await page.selectOption('#fault-method', 'POST');
    await page.click('#fault-submit');
    await page.waitForSelector('#faults-table tbody tr');
    const message = { participantId: 'END_USER', messageId: 'console-test-1', startTime: call.startTimeMs + 70_000, endTime: call.startTimeMs + 71_000, content: 'still there?', senderType: 'END_USER' };
    const throttled = await telephony('POST', '/voiceCalls/demo-contact-2/messages', message);
    assertEqual([throttled.status, throttled.headers.get('retry-after')], [429, '7'], 'status and Retry-After');
    await page.waitForFunction(() => document.querySelectorAll('#requests-table tbody tr[data-status="429"]').length === 2);
    const left = await page.$$eval('#faults-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    assertEqual(left, ['1 request'], 'one use left, shown live');
    await page.screenshot({ path: join(outDir, 'requests.png'), fullPage: false });
    await page.click('#clear-faults');
    await page.waitForSelector('#faults .empty');
    assertEqual((await control('/state')).pendingFaults.faults, [], 'faults cleared from the page');
  });

  await check('the org page shows platform events, REST records and conversation uploads', async () => {
    await page.click('nav a[data-page="org"]');
    await page.waitForSelector('#platform-events table');
    const events = await control('/platform-events');
    const severities = await page.$$eval('#platform-events tbody tr td:nth-child(4)', (tds) => tds.map((td) => td.textContent));
    assertEqual(severities, [...events].reverse().map((e) => e.Severity), 'platform event severities');
    const uploads = await page.$$eval('#uploads tbody tr td:nth-child(3)', (tds) => tds.map((td) => td.textContent));
    const fresh = await control('/state');
    assertEqual(uploads, [...fresh.conversationUploads].reverse().map((u) => u.uploadId), 'conversation uploads');
    const statuses = await page.$$eval('#uploads tbody tr td:nth-child(5) .badge', (els) => els.map((e) => e.textContent));
    assertEqual(statuses, [...fresh.conversationUploads].reverse().map((u) => (u.statusReads >= 2 ? u.status : 'PENDING')), 'upload statuses as the status API answers them');
    const cases = await control('/records/Case');
    const records = await page.textContent('#records');
    for (const c of cases) assert(records.includes(c.Id) && records.includes(c.Subject), `Case ${c.Id} shown`);
    await page.screenshot({ path: join(outDir, 'org.png'), fullPage: true });
  });

  await check('no script error on any page', async () => {
    assertEqual(pageErrors, [], 'page errors');
  });
} catch (e) {
  results.push({ name: 'set-up', ok: false });
  console.log(`not ok - set-up: ${e && e.stack ? e.stack : e}`);
} finally {
  if (context) await context.close().catch(() => {});
  if (emulator) emulator.child.kill('SIGTERM');
  rmSync(keyDir, { recursive: true, force: true });
  rmSync(profileDir, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`screenshots in ${outDir}; ${((Date.now() - began) / 1000).toFixed(1)} s`);
console.log(`console: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
