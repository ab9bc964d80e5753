// What the Calls browser scripts share (calls.mjs, cluster.mjs): their
// command line, the processes they start, polling, and Chromium pages
// holding one Calls session each (calls-client.js injected).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// `--name value` pairs of the command line.
export const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
export const here = dirname(fileURLToPath(import.meta.url));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The processes a script started. One that exits on its own sets
// `crashed` (unless the script is stopping, or marked it `expected` before
// killing it); `until` then fails at once.
export const procs = { children: [], stopping: false, crashed: null };

export function start(cmd, cmdArgs, name) {
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  child.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  child.on('exit', (code, signal) => {
    child.exited = true;
    if (!procs.stopping && !child.expected) procs.crashed = `${name} exited (${code ?? signal})`;
  });
  procs.children.push(child);
  return child;
}

// Kills `child` on purpose (not a crash); resolves once it is gone.
export function kill(child, signal = 'SIGKILL') {
  child.expected = true;
  if (child.exited) return Promise.resolve();
  const gone = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  return gone;
}

export function stopAll() {
  procs.stopping = true;
  for (const c of procs.children) if (!c.exited) c.kill('SIGTERM');
}

export function check(cond, what) {
  if (!cond) throw new Error(what);
}

// Polls `probe` until `done(value)` holds; the last value goes in the error.
export async function until(label, ms, probe, done, every = 400) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    if (procs.crashed) throw new Error(`${label}: ${procs.crashed}`);
    last = await probe();
    if (done(last)) return last;
    await sleep(every);
  }
  throw new Error(`${label}: not within ${ms} ms: ${JSON.stringify(last).slice(0, 8000)}`);
}

export async function waitForHttp(url, ms) {
  await until(`server on ${url}`, ms, async () => {
    try { return (await fetch(url)).ok; } catch { return false; }
  }, (ok) => ok);
}

// A page of a server's origin `base` (so the API is same-origin and the
// camera allowed: loopback is a secure context) holding one Calls session
// of `app`, `window.s`.
export async function openSession(browser, { base, app, secret }, label) {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`[${label}] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[${label}] page error: ${e.message}\n`));
  await page.goto(`${base}/`);
  await page.addScriptTag({ path: join(here, 'calls-client.js') });
  const id = await page.evaluate(async ([prefix, token]) => {
    window.s = new CallsSession(prefix, token);
    window.pc = window.s.pc;
    return window.s.open();
  }, [`${base}/v1/apps/${app}/`, secret]);
  return { page, id, label, base, eval: (fn, arg) => page.evaluate(fn, arg) };
}

// Headless Chromium with the fake camera and microphone (REAL_PEERS.md),
// plus `extraArgs`; `run(browser)`, then the browser and its profile are
// gone.
export async function withChromium(run, extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), 'sfu-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
  try {
    return await run(browser);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
