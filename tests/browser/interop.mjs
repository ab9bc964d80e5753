// Real-peer interop for the reference server's WHIP/WHEP. Starts the server,
// publishes with one peer (headless Chromium, or aiortc), watches with
// Chromium pages, and checks that media is decoded. Run inside a private
// network namespace (tests/browser_interop.rs does that):
//
//   node interop.mjs --server PATH --scenario camera|simulcast|aiortc|renegotiate|stock [--python PATH]
//
// `stock` runs the server with its defaults (media on every interface,
// announcing the non-loopback addresses) and a Chromium without the
// loopback flag, as a user's browser is: the namespace must have a
// non-loopback interface (tests/browser_interop.rs adds one).
//
// Prints one JSON line per viewer and exits non-zero on failure.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const scenario = args.scenario || 'camera';
const httpPort = 18080 + Math.floor(Math.random() * 1000);
const udpPort = 28443 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${httpPort}`;
const here = dirname(fileURLToPath(import.meta.url));
const deadline = (ms) => Date.now() + ms;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
// The pages' scripts run once the document is parsed; what the test checks
// is media, so waiting for the 'load' event (every subresource, such as a
// favicon on a second connection of a bare HTTP loop) only adds a way to time out.
const LOADED = { waitUntil: 'domcontentloaded' };

function start(cmd, cmdArgs, name) {
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  child.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  children.push(child);
  return child;
}

async function waitForHttp(url, ms) {
  const until = deadline(ms);
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`server did not answer on ${url}`);
}

async function mediaStats(page) {
  return page.evaluate(async () => {
    if (!window.pc) return null;
    const out = { status: window.sfuStatus, video: null, audio: null };
    (await window.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') out.video = { framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0, packetsReceived: s.packetsReceived || 0, nackCount: s.nackCount || 0, pliCount: s.pliCount || 0 };
      if (s.kind === 'audio') out.audio = { packetsReceived: s.packetsReceived || 0 };
    });
    return out;
  });
}

async function publisherStats(page) {
  return page.evaluate(async () => {
    if (!window.pc) return null;
    const out = { layers: [], availableOutgoingBitrate: null };
    (await window.pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.layers.push({ rid: s.rid, width: s.frameWidth, active: s.active, limit: s.qualityLimitationReason, bytesSent: s.bytesSent });
      }
      if (s.type === 'candidate-pair' && s.nominated) out.availableOutgoingBitrate = s.availableOutgoingBitrate;
    });
    return out;
  });
}

async function waitForMedia(page, label, ms, minWidth = 0) {
  const until = deadline(ms);
  let last = null;
  while (Date.now() < until) {
    last = await mediaStats(page);
    if (last?.video?.framesDecoded > 0 && last?.audio?.packetsReceived > 0 && (last.video.frameWidth >= minWidth)) {
      return last;
    }
    await sleep(500);
  }
  throw new Error(`${label}: no decoded media within ${ms} ms: ${JSON.stringify(last)}`);
}

// A viewer watching one stream pulls a second one through an SFU-initiated
// offer (renegotiation) and must decode both.
async function renegotiate(browser) {
  for (const name of ['s-first', 's-second']) {
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write(`[${name}] ${m.text()}\n`));
    await page.goto(`${base}/publish.html?stream=${name}`, LOADED);
  }
  const viewer = await browser.newPage();
  viewer.on('console', (m) => process.stderr.write(`[viewer] ${m.text()}\n`));
  await viewer.goto(`${base}/watch.html?stream=s-first`, LOADED);
  console.log(JSON.stringify({ scenario, step: 'first stream', ...(await waitForMedia(viewer, 'viewer', 15000)) }));
  // The second publisher must be live before it can be pulled.
  const until = deadline(15000);
  let pulled = null;
  while (Date.now() < until && !pulled) {
    pulled = await viewer.evaluate(async () => {
      const res = await fetch(`${window.sfuResource}/pull/s-second`, { method: 'POST' });
      if (res.status !== 200) return null;
      await window.pc.setRemoteDescription({ type: 'offer', sdp: await res.text() });
      const answer = await window.pc.createAnswer();
      await window.pc.setLocalDescription(answer);
      const put = await fetch(`${window.sfuResource}/answer`, {
        method: 'PUT', headers: { 'Content-Type': 'application/sdp' }, body: answer.sdp,
      });
      return put.status;
    });
    if (!pulled) await sleep(500);
  }
  if (pulled !== 200) throw new Error(`renegotiation failed: ${pulled}`);
  const decodeUntil = deadline(15000);
  let videos = [];
  while (Date.now() < decodeUntil) {
    videos = await viewer.evaluate(async () => {
      const out = [];
      (await window.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') out.push(s.framesDecoded || 0);
      });
      return out;
    });
    if (videos.filter((f) => f > 0).length >= 2) break;
    await sleep(500);
  }
  console.log(JSON.stringify({ scenario, step: 'after renegotiation', framesDecoded: videos }));
  if (videos.filter((f) => f > 0).length < 2) throw new Error(`expected two decoding video tracks, got ${JSON.stringify(videos)}`);
}

async function main() {
  if (!args.server) throw new Error('--server PATH is required');
  const stock = scenario === 'stock';
  const serverArgs = stock
    ? ['--http', `127.0.0.1:${httpPort}`]
    : ['--http', `127.0.0.1:${httpPort}`, '--udp', `127.0.0.1:${udpPort}`];
  start(args.server, serverArgs, 'sfu');
  await waitForHttp(`${base}/`, 30000);

  const profile = mkdtempSync(join(tmpdir(), 'sfu-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      ...(stock ? [] : ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns']),
    ],
  });
  try {
    const stream = `s-${scenario}`;
    let publisher = null;
    if (scenario === 'aiortc') {
      start(args.python || 'python3', [join(here, 'aiortc_publish.py'), `${base}/whip/${stream}`], 'aiortc');
    } else {
      publisher = await browser.newPage();
      publisher.on('console', (m) => process.stderr.write(`[publisher] ${m.text()}\n`));
      const simulcast = scenario === 'simulcast' ? '&simulcast=1' : '';
      await publisher.goto(`${base}/publish.html?stream=${stream}${simulcast}`, LOADED);
      // Viewers come once the publish is answered (std_loop's bare endpoint
      // does not attach viewers that came first; the server does, tested in
      // the node's simulated-time tests).
      await publisher.waitForFunction(() => window.sfuResource, null, { timeout: 15000 });
    }
    if (scenario === 'renegotiate') {
      await renegotiate(browser);
      return;
    }
    const viewers = scenario === 'simulcast'
      ? [['viewer-highest', ''], ['viewer-q', '&layer=q']]
      : [['viewer-1', ''], ['viewer-2', '']];
    const pages = [];
    for (const [label, query] of viewers) {
      const page = await browser.newPage();
      page.on('console', (m) => process.stderr.write(`[${label}] ${m.text()}\n`));
      await page.goto(`${base}/watch.html?stream=${stream}${query}`, LOADED);
      pages.push([label, page]);
    }
    const results = {};
    for (const [label, page] of pages) {
      results[label] = await waitForMedia(page, label, 15000);
      console.log(JSON.stringify({ scenario, viewer: label, ...results[label] }));
    }
    if (stock) {
      // The path the publisher took: the SFU's announced, non-loopback address.
      const remote = await publisher.evaluate(async () => {
        let pair = null;
        const stats = await window.pc.getStats();
        stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated) pair = s; });
        return pair ? stats.get(pair.remoteCandidateId)?.address : null;
      });
      console.log(JSON.stringify({ scenario, sfu_candidate: remote }));
      if (!remote || remote.startsWith('127.') || remote === '::1') throw new Error(`media went to ${remote}`);
    }
    if (scenario === 'simulcast') {
      // Let both settle on their layers, then compare what they decode.
      const until = deadline(15000);
      let hi, lo;
      while (Date.now() < until) {
        hi = await mediaStats(pages[0][1]);
        lo = await mediaStats(pages[1][1]);
        if (hi.video.frameWidth > lo.video.frameWidth && lo.video.frameWidth > 0) break;
        await sleep(500);
      }
      console.log(JSON.stringify({ scenario, highest_width: hi.video.frameWidth, q_width: lo.video.frameWidth, publisher: await publisherStats(publisher) }));
      if (!(hi.video.frameWidth > lo.video.frameWidth)) {
        throw new Error(`layer selection: highest viewer decodes ${hi.video.frameWidth}px, q viewer ${lo.video.frameWidth}px`);
      }
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main()
  .then(() => { console.log(`interop ${scenario}: ok`); })
  .catch((e) => { console.error(`interop ${scenario}: FAILED: ${e.message}`); process.exitCode = 1; })
  .finally(() => { for (const c of children) c.kill('SIGTERM'); });
