// Cloudflare's own Calls client library, partytracks (pinned in
// package.json, unmodified), against the reference server (examples/server):
// only its URL prefix changes, to the server's open proxy of the Calls API
// at /demo/api (the "page's server" partytracks expects to sit behind, as
// Orange Meets' worker does). Bundles partytracks-entry.js with esbuild in
// memory, starts the server, and in headless Chromium:
//
//   page A: partytracks pushes getCamera() and getMic() (the fake devices);
//   page B: partytracks pulls A's two tracks by (sessionId, trackName) and
//           must decode video (framesDecoded > 0) and receive audio.
//
// Every request partytracks makes is recorded (method, path, status, and the
// bodies of any that fail). Run inside a private network namespace
// (tests/calls_interop.rs does that):
//
//   node partytracks.mjs --server PATH
//
// Prints one JSON line of figures, then `partytracks: ok`; exits non-zero on
// failure.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const httpPort = 19080 + Math.floor(Math.random() * 1000);
const udpPort = 29443 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${httpPort}`;
const APP = 'test';
const SECRET = 'partytracks-interop-secret-0123';
// partytracks' only configuration here: where its API lives.
const PREFIX = '/demo/api';
const here = dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(readFileSync(join(here, 'node_modules/partytracks/package.json'), 'utf8')).version;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
let stopping = false;
let crashed = null;

function start(cmd, cmdArgs, name) {
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  child.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  child.on('exit', (code, signal) => { if (!stopping) crashed = `${name} exited (${code ?? signal})`; });
  children.push(child);
  return child;
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// Polls `probe` until `done(value)` holds; the last value goes in the error.
async function until(label, ms, probe, done) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    if (crashed) throw new Error(`${label}: ${crashed}`);
    last = await probe();
    if (done(last)) return last;
    await sleep(400);
  }
  throw new Error(`${label}: not within ${ms} ms: ${JSON.stringify(last).slice(0, 1500)}\nrequests: ${JSON.stringify(requests).slice(0, 4000)}`);
}

async function waitForHttp(url, ms) {
  await until(`server on ${url}`, ms, async () => {
    try { return (await fetch(url)).ok; } catch { return false; }
  }, (ok) => ok);
}

// partytracks and rxjs as one classic script setting window.PT.
async function bundle() {
  const out = await build({
    entryPoints: [join(here, 'partytracks-entry.js')],
    bundle: true,
    format: 'iife',
    globalName: 'PT',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'warning',
  });
  return out.outputFiles[0].text;
}

// Bodies for the record: SDP replaced by its type and length.
function brief(text) {
  try {
    return JSON.parse(text, (k, v) => (k === 'sdp' && typeof v === 'string' ? `<${v.length} bytes of SDP>` : v));
  } catch {
    return text === undefined || text === null ? text : String(text).slice(0, 400);
  }
}

// Every request a page makes to the server's API, in order.
const requests = [];
function record(page, label) {
  page.on('response', async (res) => {
    const url = new URL(res.url());
    if (!url.pathname.startsWith(`${PREFIX}/`)) return;
    const req = res.request();
    const row = { page: label, method: req.method(), path: url.pathname + url.search, status: res.status() };
    requests.push(row);
    if (res.status() >= 400) {
      const body = req.postData();
      if (body) row.request_body = brief(body);
      row.response_type = (await res.allHeaders())['content-type'];
      row.response_body = brief(await res.text().catch(() => null));
    }
  });
}

async function partyPage(browser, label, code) {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`[${label}] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[${label}] page error: ${e.message}\n`));
  record(page, label);
  await page.goto(`${base}/`);
  await page.addScriptTag({ content: code });
  return page;
}

// What the page's PeerConnection sends and receives, by kind.
const rtp = (page) => page.evaluate(async () => {
  const out = { connection: window.pc?.connectionState ?? null, video: {}, audio: {} };
  if (!window.pc) return out;
  (await window.pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp') {
      const o = out[s.kind];
      o.bytes_sent = (o.bytes_sent ?? 0) + (s.bytesSent || 0);
      o.packets_sent = (o.packets_sent ?? 0) + (s.packetsSent || 0);
    }
    if (s.type === 'inbound-rtp') {
      const o = out[s.kind];
      o.packets_received = (o.packets_received ?? 0) + (s.packetsReceived || 0);
      if (s.kind === 'video') {
        o.frames_decoded = (o.frames_decoded ?? 0) + (s.framesDecoded || 0);
        o.width = s.frameWidth || 0;
        o.height = s.frameHeight || 0;
      }
    }
  });
  return out;
});

async function scenario(browser, code) {
  // Page A: push the camera and the microphone, as partytracks' README does.
  const a = await partyPage(browser, 'A', code);
  await a.evaluate((prefix) => {
    const { PartyTracks, getCamera, getMic } = window.PT;
    const pt = new PartyTracks({ prefix });
    window.pt = pt;
    window.pushed = {};
    window.errors = [];
    pt.peerConnection$.subscribe((pc) => { window.pc = pc; });
    pt.sessionError$.subscribe((e) => window.errors.push(`session: ${e}`));
    const mic = getMic({ broadcasting: true });
    const camera = getCamera({ broadcasting: true });
    mic.error$.subscribe((e) => window.errors.push(`mic: ${e.message}`));
    camera.error$.subscribe((e) => window.errors.push(`camera: ${e.message}`));
    const subscribe = (name, meta$) => meta$.subscribe({
      next: (meta) => { window.pushed[name] = meta; },
      error: (e) => window.errors.push(`push ${name}: ${e.message}`),
    });
    subscribe('mic', pt.push(mic.broadcastTrack$));
    subscribe('cam', pt.push(camera.broadcastTrack$));
  }, PREFIX);
  const pushed = await until('A pushes camera and mic', 20000, () => a.evaluate(() => ({ pushed: window.pushed, errors: window.errors })),
    (v) => v.pushed.mic && v.pushed.cam);
  check(pushed.pushed.mic.sessionId === pushed.pushed.cam.sessionId && pushed.pushed.mic.trackName !== pushed.pushed.cam.trackName,
    `pushed metadata: ${JSON.stringify(pushed)}`);

  // Page B: pull both by (sessionId, trackName), as another participant
  // told of them over the app's own channel would.
  const b = await partyPage(browser, 'B', code);
  await b.evaluate(([prefix, meta]) => {
    const { PartyTracks, createAudioSink, of } = window.PT;
    const pt = new PartyTracks({ prefix });
    window.pt = pt;
    window.pulled = {};
    window.errors = [];
    pt.peerConnection$.subscribe((pc) => { window.pc = pc; });
    pt.sessionError$.subscribe((e) => window.errors.push(`session: ${e}`));
    const video = document.body.appendChild(document.createElement('video'));
    video.autoplay = true;
    video.muted = true;
    const audio = document.body.appendChild(document.createElement('audio'));
    audio.autoplay = true;
    const video$ = pt.pull(of(meta.cam));
    const audio$ = pt.pull(of(meta.mic));
    video$.subscribe({
      next: (track) => {
        window.pulled.cam = { kind: track.kind, readyState: track.readyState };
        video.srcObject = new MediaStream([track]);
      },
      error: (e) => window.errors.push(`pull cam: ${e.message}`),
    });
    audio$.subscribe({
      next: (track) => { window.pulled.mic = { kind: track.kind, readyState: track.readyState }; },
      error: (e) => window.errors.push(`pull mic: ${e.message}`),
    });
    createAudioSink({ audioElement: audio }).attach(audio$);
  }, [PREFIX, pushed.pushed]);
  const pulled = await until('B gets both tracks from partytracks', 20000,
    () => b.evaluate(() => ({ pulled: window.pulled, errors: window.errors })), (v) => v.pulled.mic && v.pulled.cam);
  check(pulled.pulled.cam.kind === 'video' && pulled.pulled.mic.kind === 'audio', `pulled tracks: ${JSON.stringify(pulled)}`);
  const viewer = await until('B decodes video and receives audio', 20000, () => rtp(b),
    (s) => s.video.frames_decoded > 0 && s.audio.packets_received > 0);
  // And it keeps flowing.
  await sleep(2000);
  const viewerLater = await rtp(b);
  check(viewerLater.video.frames_decoded > viewer.video.frames_decoded && viewerLater.audio.packets_received > viewer.audio.packets_received,
    `media stopped: ${JSON.stringify(viewer)} then ${JSON.stringify(viewerLater)}`);
  const publisher = await rtp(a);
  const played = await b.evaluate(() => {
    const v = document.querySelector('video');
    return { video_width: v.videoWidth, video_height: v.videoHeight, audio_tracks: document.querySelector('audio').srcObject?.getAudioTracks().length ?? 0 };
  });
  // What the server says of both sessions (through the same open proxy).
  const state = async (sessionId) => (await fetch(`${base}${PREFIX}/sessions/${sessionId}`)).json();
  const sessionB = await b.evaluate(() => window.pt.history.entries.find((e) => e.type === 'response' && e.body?.sessionId)?.body.sessionId);
  const aState = await state(pushed.pushed.mic.sessionId);
  const bState = sessionB ? await state(sessionB) : null;
  const errors = [...pushed.errors, ...pulled.errors, ...await a.evaluate(() => window.errors), ...await b.evaluate(() => window.errors)];
  console.log(JSON.stringify({
    partytracks: version, prefix: PREFIX,
    pushed: pushed.pushed, pulled: pulled.pulled, publisher, viewer, viewer_2s_later: viewerLater, played,
    publisher_tracks: aState.tracks, viewer_tracks: bState?.tracks,
    requests, errors: [...new Set(errors)],
  }));
  check(['mic', 'cam'].every((n) => aState.tracks?.some((t) => t.trackName === pushed.pushed[n].trackName && t.status === 'active')),
    `publisher's tracks: ${JSON.stringify(aState)}`);
  check(played.video_width > 0, `the <video> shows nothing: ${JSON.stringify(played)}`);
  // Every request partytracks made was answered, its ICE-servers ask too.
  check(requests.every((r) => r.status < 400), `failed requests: ${JSON.stringify(requests.filter((r) => r.status >= 400))}`);
}

async function main() {
  if (!args.server) throw new Error('--server PATH is required');
  const code = await bundle();
  start(args.server, ['--http', `127.0.0.1:${httpPort}`, '--udp', `127.0.0.1:${udpPort}`, '--app', `${APP}:${SECRET}`], 'sfu');
  await waitForHttp(`${base}/healthz`, 30000);
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
    ],
  });
  try {
    await scenario(browser, code);
    if (crashed) throw new Error(crashed);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// A hung browser or server must fail the test, not stall cargo test.
setTimeout(() => {
  console.error('partytracks: FAILED: timed out');
  stopping = true;
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
}, 120000).unref();
main()
  .then(() => { console.log('partytracks: ok'); })
  .catch((e) => { console.error(`partytracks: FAILED: ${e.message}`); process.exitCode = 1; })
  .finally(() => { stopping = true; for (const c of children) c.kill('SIGTERM'); });
