// An end-to-end encrypted meeting on the reference server's demo page,
// with real Chromium pages and the server's Rust member (run by
// tests/e2ee_meeting.rs inside a private network namespace):
// 1. A, the Rust member, B and C join in turn; everyone decodes everyone
//    and all safety numbers match, the Rust member's too;
// 2. C leaves the group (its page stays, still pulling): after the next
//    Commit it decrypts nothing new;
// 3. A, the committer, "crashes" between the Welcome and the Commit of D's
//    join and its page closes: the next committer adds D;
// 4. a page outside the group (E2EE off) receives the packets and decodes
//    nothing of them.
// Prints one JSON line of figures, then `e2ee meeting ok`.
import { args, check, procs, sleep, start, stopAll, until, withChromium } from './lib.mjs';

const ROOM = 'e2ee';

async function server() {
  const child = start(args.server, ['--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--log', 'warn'], 'server');
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/sfu server on (http:\/\/[0-9.:]+)\//);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error('server exited')));
  });
  return line;
}

// A page outside the group sees what the SFU forwards: a pass-through
// receive transform counts, per inbound section, the frames that parse as
// SFrame (after VP8's clear bytes, a header with a KID of our layout, then
// at least a tag).
function inspectFrames() {
  const src = `import { Header } from '${location.origin}/e2ee/sframe.js';
    import { clearPrefixLen } from '${location.origin}/e2ee/codec.js';
    const seen = {};
    onrtctransform = ({ transformer }) => {
      const { id, kind } = transformer.options;
      const s = (seen[id] = { kind, frames: 0, sframe: 0 });
      transformer.readable.pipeThrough(new TransformStream({ transform(frame, c) {
        const d = new Uint8Array(frame.data);
        s.frames++;
        try {
          const clear = kind === 'video' ? clearPrefixLen('vp8', d) : 0;
          const { header, len } = Header.decode(d.subarray(clear));
          if (header.kid < 256n && d.length >= clear + len + 16) s.sframe++;
        } catch {}
        c.enqueue(frame);
      } })).pipeTo(transformer.writable);
    };
    onmessage = () => postMessage(seen);`;
  let worker = null;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config) {
      super(config);
      this.addEventListener('track', (ev) => {
        worker ||= new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
        ev.receiver.transform = new RTCRtpScriptTransform(worker, { id: ev.transceiver.mid, kind: ev.track.kind });
      });
    }
  };
  window.inspected = () => new Promise((resolve) => {
    if (!worker) return resolve({});
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage(0);
  });
}

async function open(browser, base, label, query = '') {
  const page = await browser.newPage();
  if (query.includes('e2ee=off')) await page.addInitScript(inspectFrames);
  page.on('console', (m) => process.stderr.write(`[${label}] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[${label}] page error: ${e.message}\n`));
  await page.goto(`${base}/demo/?room=${ROOM}${query}`, { waitUntil: 'domcontentloaded' });
  return { page, label };
}

// What a page sees: its group state, decoded frames and audio per
// inbound section, and its worker's counters per section.
async function view(p) {
  return p.page.evaluate(async () => {
    const out = { safety: window.e2ee?.safetyNumber ?? null, epoch: window.e2ee?.epoch?.toString() ?? null, inbound: {} };
    if (!window.pc) return out;
    (await window.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      out.inbound[s.mid] = { kind: s.kind, frames: s.framesDecoded || 0, packets: s.packetsReceived || 0, audio: s.totalAudioEnergy || 0 };
    });
    out.worker = window.e2ee ? await window.e2ee.stats() : {};
    out.client = window.e2ee?.client ?? null;
    return out;
  });
}

async function member(base) {
  const r = await fetch(`${base}/demo/rooms/${ROOM}/member`);
  return r.ok ? r.json() : null;
}

function sameGroup(views, bot) {
  const numbers = new Set([...views.map((v) => v.safety), bot?.safetyNumber]);
  return numbers.size === 1 && !numbers.has(null) && !numbers.has(undefined);
}

// Every other browser's video decodes and the member's audio plays.
function decodesAll(v, others) {
  const video = Object.values(v.inbound).filter((x) => x.kind === 'video' && x.frames > 0).length;
  const audio = Object.values(v.inbound).filter((x) => x.kind === 'audio' && x.audio > 0).length;
  return video >= others && audio >= others + 1;
}

async function main() {
  const base = await server();
  const figures = {};
  await withChromium(async (browser) => {
    const a = await open(browser, base, 'A');
    await until('A founds the group', 20000, () => view(a), (v) => v.safety !== null);
    let r = await fetch(`${base}/demo/rooms/${ROOM}/member`, { method: 'POST' });
    check(r.ok, `starting the Rust member: ${r.status}`);
    await until('the Rust member joins', 20000, async () => [await view(a), await member(base)], ([v, bot]) => sameGroup([v], bot) && bot.phase === 'member');
    const b = await open(browser, base, 'B');
    await until('B joins', 30000, async () => [await view(a), await view(b), await member(base)], ([va, vb, bot]) => sameGroup([va, vb], bot));
    const c = await open(browser, base, 'C');
    const all = await until('C joins; all decode all', 45000,
      async () => [await view(a), await view(b), await view(c), await member(base)],
      ([va, vb, vc, bot]) => sameGroup([va, vb, vc], bot) && [va, vb, vc].every((v) => decodesAll(v, 2))
        && Object.values(bot.decrypted).filter((d) => d.audio > 0 && d.video > 0).length >= 3);
    figures.safety = all[0].safety;
    figures.epochAfterC = all[0].epoch;
    figures.member = all[3];

    // 2. C leaves the group; its page keeps pulling.
    const before = await view(c);
    await c.page.evaluate(() => window.e2ee.leave());
    const after = await until('the others move on without C', 20000,
      async () => [await view(a), await view(b), await member(base)],
      ([va, vb, bot]) => sameGroup([va, vb], bot) && va.safety !== before.safety);
    figures.safetyWithoutC = after[0].safety;
    const decrypted = (v) => Object.values(v.worker).filter((w) => w.side === 'receive').reduce((n, w) => n + w.decrypted, 0);
    const c1 = decrypted(await view(c));
    await sleep(3000);
    const c2view = await view(c);
    const c2 = decrypted(c2view);
    const failing = Object.values(c2view.worker).filter((w) => w.side === 'receive').reduce((n, w) => n + w.dropped, 0);
    figures.leaver = { decryptedAtLeave: c1, decrypted3sLater: c2, dropped: failing };
    // Frames in flight at the change may still decrypt; nothing after.
    check(c2 - c1 < 50, `C still decrypts after leaving: ${c1} → ${c2}`);
    check(failing > 0, 'C receives frames it cannot decrypt');

    // 3. A, the committer, crashes between the Welcome and the Commit.
    await a.page.evaluate(() => { window.e2ee.hooks.crashAfterWelcome = true; });
    const d = await open(browser, base, 'D');
    await until('A sent the Welcome and crashed', 20000, () => a.page.evaluate(() => !!window.e2ee.crashed), (x) => x);
    await a.page.close();
    const withD = await until('D joins through the next committer', 45000,
      async () => [await view(b), await view(d), await member(base)],
      ([vb, vd, bot]) => sameGroup([vb, vd], bot) && decodesAll(vd, 1));
    figures.safetyWithD = withD[0].safety;

    // 4. Outside the group, E2EE off: packets arrive, nothing decodes.
    const e = await open(browser, base, 'E', '&e2ee=off');
    const outside = await until('E receives packets', 30000, () => view(e),
      (v) => Object.values(v.inbound).filter((x) => x.kind === 'video' && x.packets > 100).length >= 2);
    await sleep(2000);
    const ev = await view(e);
    const seen = await e.page.evaluate(() => window.inspected());
    figures.outside = { inbound: ev.inbound, frames: seen };
    // Every frame the SFU forwards is an SFrame: Opus whole, VP8 after its
    // clear bytes. (A decoder is no judge of that: Chromium's Opus decoder
    // makes some sound of any bytes, and libvpx may accept a keyframe whose
    // clear header is intact and paint its ciphertext as noise.)
    const sections = Object.values(seen);
    check(sections.filter((x) => x.kind === 'audio').length >= 2 && sections.filter((x) => x.kind === 'video').length >= 2,
      `a page outside the group pulls too little: ${JSON.stringify(seen)}`);
    check(sections.every((x) => x.frames > 20 && x.sframe === x.frames),
      `frames reaching a page outside the group are not all SFrame: ${JSON.stringify(seen)}`);
    const decoded = Object.values(ev.inbound).filter((x) => x.kind === 'video').reduce((n, x) => n + x.frames, 0);
    const received = sections.filter((x) => x.kind === 'video').reduce((n, x) => n + x.frames, 0);
    figures.outside.videoDecoded = decoded;
    check(decoded * 20 < received, `a page outside the group decoded ${decoded} of ${received} video frames`);
    void outside;
  }, ['--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/']);
  console.log(JSON.stringify(figures));
  console.log('e2ee meeting ok');
}

main().then(() => { stopAll(); process.exit(0); }, (e) => {
  console.error(e.stack || String(e));
  stopAll();
  process.exit(1);
});
void procs;
