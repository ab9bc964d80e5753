// The browser side of tests/e2ee_mls_interop.rs: MLS groups mixing the
// Rust MlsKeying (openmls, in the test) and the page's MlsKeying
// (examples/server/pages/e2ee/mls.js on ts-mls, here in headless Chromium).
//
// Serves the e2ee page directory from a loopback node:http server, opens one
// page that imports mls.js from it (and so the committed vendor bundle), and
// then obeys the Rust test, which drives every step: one JSON request per
// line on stdin, one reply per line on stdout.
//
//   request  {"seq": n, "member": "j2", "method": "commit", "args": [...]}
//   reply    {"seq": n, "ok": true, "value": ...}
//            {"seq": n, "ok": false, "code": "CommitRejected", "message": "..."}
//
// Bytes travel as {"hex": "..."} and BigInts as {"big": "123"}, both ways.
// Methods are MlsKeying's, plus `create` (args [client]: a new member under
// that name) and `snapshot` (everything a member reports about its epoch).
// A request {"quit": true} ends the run: `e2ee_mls: ok` on stdout, exit 0.
//
// Run inside a private network namespace (the Rust test does that):
//
//   node e2ee_mls.mjs
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join, normalize, sep } from 'node:path';
import { withChromium, here } from './lib.mjs';

const pages = join(here, '../../examples/server/pages/e2ee');
// A guard against a wedged browser, not a measurement: the test's own
// read of stdout would otherwise wait forever.
setTimeout(() => {
  process.stderr.write('e2ee_mls: no quit within 10 minutes\n');
  process.exit(2);
}, 600_000).unref();

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>e2ee mls interop</title>');
    return;
  }
  if (path === '/favicon.ico') {
    res.writeHead(204).end();
    return;
  }
  const file = normalize(join(pages, path));
  if (!file.startsWith(pages + sep) || !file.endsWith('.js')) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

// Runs in the page: imports mls.js and installs window.__mls(request).
async function installHarness() {
  const { MlsKeying } = await import('/mls.js');
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const unhex = (s) => new Uint8Array(s.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
  const enc = (v) => {
    if (v instanceof Uint8Array) return { hex: hex(v) };
    if (typeof v === 'bigint') return { big: v.toString() };
    if (Array.isArray(v)) return v.map(enc);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
    return v === undefined ? null : v;
  };
  const dec = (v) => {
    if (Array.isArray(v)) return v.map(dec);
    if (v && typeof v === 'object') {
      if (typeof v.hex === 'string') return unhex(v.hex);
      if (typeof v.big === 'string') return BigInt(v.big);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)]));
    }
    return v;
  };
  const members = {};
  const snapshot = async (m) => {
    const inGroup = m.inGroup();
    return {
      inGroup,
      epoch: m.epoch(),
      ownLeaf: m.ownLeaf(),
      roster: m.roster(),
      safety: await m.safetyNumber(),
      authenticator: m.epochAuthenticator(),
      exporter: inGroup ? await m.exportSecret('sfu-e2ee interop check', 32) : null,
      keys: inGroup ? await m.epochKeys() : null,
    };
  };
  window.__mls = async ({ member, method, args }) => {
    try {
      const a = dec(args ?? []);
      let value;
      if (method === 'create') {
        members[member] = await MlsKeying.create(...a);
      } else {
        const m = members[member];
        if (!m) throw new Error(`no member ${member}`);
        if (method === 'snapshot') value = await snapshot(m);
        else if (method !== 'constructor' && typeof m[method] === 'function') value = await m[method](...a);
        else throw new Error(`no method ${method}`);
      }
      return { ok: true, value: enc(value) };
    } catch (e) {
      return { ok: false, code: e?.code ?? null, message: String(e?.stack ?? e) };
    }
  };
}

let failed = null;
try {
  await withChromium(async (browser) => {
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`[page] error: ${e.message}\n`));
    await page.goto(`${base}/`);
    await page.evaluate(installHarness);
    process.stdout.write('e2ee_mls: ready\n');
    for await (const line of createInterface({ input: process.stdin })) {
      if (!line.trim()) continue;
      const req = JSON.parse(line);
      if (req.quit) break;
      const reply = await page.evaluate((r) => window.__mls(r), req);
      process.stdout.write(`${JSON.stringify({ seq: req.seq, ...reply })}\n`);
    }
  });
} catch (e) {
  failed = e;
} finally {
  server.close();
}
if (failed) {
  process.stderr.write(`e2ee_mls: ${failed.stack ?? failed}\n`);
  process.exit(1);
}
process.stdout.write('e2ee_mls: ok\n');
process.exit(0);
