// Real-browser flows of the Cloudflare Calls API (/v1/apps/{appId}/…) of the
// reference server (examples/server). Starts the server, opens Chromium
// pages on its origin, injects calls-client.js and drives sessions through
// it, asserting on the server's answers and on what the browser decodes.
// Run inside a private network namespace (tests/calls_interop.rs does that):
//
//   node calls.mjs --server PATH --scenario push|pull-before-publish|close|simulcast|many|demo
//
// Prints one JSON line of figures, then `calls SCENARIO: ok`; exits non-zero
// on failure.
import { args, check, openSession, procs, sleep, start, stopAll, until, waitForHttp, withChromium } from './lib.mjs';

const scenario = args.scenario || 'push';
const httpPort = 19080 + Math.floor(Math.random() * 1000);
const udpPort = 29443 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${httpPort}`;
const APP = 'test';
const SECRET = 'calls-interop-secret-0123456789';
// A second app: a session of one app must be 404 through the other.
const OTHER = ['other', 'other-secret-9876543210'];

// A page of the server's origin holding one Calls session, `s`.
const session = (browser, label) => openSession(browser, { base, app: APP, secret: SECRET }, label);

const inbound = (viewer) => viewer.eval(() => window.s.inbound());
const connection = (peer) => peer.eval(() => window.s.pc.connectionState);

// Pushes the fake microphone and camera from one offer, as `mic` and `cam`
// (more with `extra`: [{kind, name, clone, encodings}]).
async function publish(peer, { video = { width: 640, height: 480 }, encodings, extra = [] } = {}) {
  return peer.eval(async ([video, encodings, extra]) => {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    const [audio] = media.getAudioTracks();
    const [cam] = media.getVideoTracks();
    const entries = [{ track: audio, name: 'mic' }, { track: cam, name: 'cam', encodings }];
    for (const e of extra) entries.push({ track: (e.kind === 'audio' ? audio : cam).clone(), name: e.name });
    const body = await window.s.push(entries);
    return Object.fromEntries(body.tracks.map((t) => [t.trackName, t.mid]));
  }, [video, encodings, extra]);
}

async function pull(viewer, publisherId, names, simulcast) {
  return viewer.eval(async ([sessionId, names, simulcast]) => {
    const body = await window.s.pull(names.map((trackName) => ({ sessionId, trackName, ...(simulcast ? { simulcast } : {}) })));
    if (!body.requiresImmediateRenegotiation) throw new Error(`a fresh pull needs the SFU's offer: ${JSON.stringify(body).slice(0, 400)}`);
    return Object.fromEntries(body.tracks.map((t) => [t.trackName, t.mid]));
  }, [publisherId, names, simulcast]);
}

// An answer body for the figures: the SDP replaced by its type.
const brief = (body) => ({ ...body, sessionDescription: body.sessionDescription?.type });

const get = (peer, path, opts) => peer.eval(([p, o]) => window.s.api('GET', p, undefined, o), [path, opts]);

// --- scenarios -------------------------------------------------------------

// Camera and microphone from one offer; a second session pulls both by name
// with the SFU's offer. Also: the bearer is required, and apps are separate.
async function push(browser) {
  const pub = await session(browser, 'publisher');
  const unauth = await pub.eval(() => window.s.api('POST', 'sessions/new', undefined, { auth: false }));
  check(unauth.status === 401 && typeof unauth.body.errorCode === 'string', `no bearer: ${JSON.stringify(unauth)}`);
  const wrong = await pub.eval(async () => {
    const res = await fetch(`${window.s.prefix}sessions/${window.s.id}`, { headers: { Authorization: 'Bearer wrong' } });
    return { status: res.status, body: await res.json().catch(() => null) };
  });
  check(wrong.status === 401 && typeof wrong.body?.errorCode === 'string', `wrong bearer: ${JSON.stringify(wrong)}`);
  const cross = await pub.eval(async ([app, secret]) => {
    const res = await fetch(`${location.origin}/v1/apps/${app}/sessions/${window.s.id}`, { headers: { Authorization: `Bearer ${secret}` } });
    return { status: res.status, body: await res.json().catch(() => null) };
  }, OTHER);
  check(cross.status === 404 && typeof cross.body?.errorCode === 'string', `another app's session: ${JSON.stringify(cross)}`);

  const mids = await publish(pub);
  check(mids.mic && mids.cam && mids.mic !== mids.cam, `push mids: ${JSON.stringify(mids)}`);
  const viewer = await session(browser, 'viewer');
  await pull(viewer, pub.id, ['mic', 'cam']);
  const got = await until('viewer decodes', 15000, () => inbound(viewer), (rows) =>
    rows.some((r) => r.kind === 'video' && r.frames > 0) && rows.some((r) => r.kind === 'audio' && r.packets > 0));
  const state = await until('publisher tracks active', 10000, () => get(pub, `sessions/${pub.id}`), (r) =>
    r.status === 200 && ['mic', 'cam'].every((n) => r.body.tracks?.some((t) => t.trackName === n && t.status === 'active')));
  const viewerState = await get(viewer, `sessions/${viewer.id}`);
  const renegotiated = await viewer.eval(() => window.s.lastRenegotiate);
  check(JSON.stringify(renegotiated) === '{}', `renegotiate answered ${JSON.stringify(renegotiated)}`);
  check(viewerState.status === 200 && ['mic', 'cam'].every((n) => viewerState.body.tracks?.some((t) =>
    t.location === 'remote' && t.trackName === n && t.sessionId === pub.id)), `viewer state: ${JSON.stringify(viewerState)}`);
  console.log(JSON.stringify({
    scenario, unauthenticated: unauth, renegotiate: renegotiated, wrong_bearer: wrong.status, other_app: cross.status,
    publisher_tracks: state.body.tracks, viewer_tracks: viewerState.body.tracks, inbound: got,
  }));
}

// The viewer pulls before the publisher pushes; it must end up decoding.
// The server holds such a pull (no client offer) until the tracks are
// published (up to 30 s), then answers it with its offer: the viewer needs
// no second request.
async function pullBeforePublish(browser) {
  const pub = await session(browser, 'publisher');
  const viewer = await session(browser, 'viewer');
  await viewer.eval(([sessionId]) => {
    const started = performance.now();
    window.early = window.s.api('POST', `sessions/${window.s.id}/tracks/new`, {
      tracks: ['mic', 'cam'].map((trackName) => ({ location: 'remote', sessionId, trackName })),
    }).then((r) => ({ ...r, ms: Math.round(performance.now() - started) }));
    window.early.then((r) => { window.earlyDone = r; });
  }, [pub.id]);
  await sleep(2000);
  const pendingAfter2s = await viewer.eval(() => window.earlyDone === undefined);
  const before = await get(viewer, `sessions/${viewer.id}`);
  await publish(pub);
  const early = await viewer.eval(() => window.early);
  console.error(`early pull -> ${JSON.stringify(early).slice(0, 600)}`);
  check(early.status === 200 && !(early.body.tracks || []).some((t) => t.errorCode), `early pull: ${JSON.stringify(early).slice(0, 600)}`);
  const renegotiated = await viewer.eval((body) => window.s.answerSfu(body), early.body);
  check(renegotiated !== null, `early pull answered without the SFU's offer: ${JSON.stringify(early).slice(0, 600)}`);
  const rows = await until('viewer decodes', 15000, () => inbound(viewer), (rows) =>
    rows.some((r) => r.kind === 'video' && r.frames > 0) && rows.some((r) => r.kind === 'audio' && r.packets > 0));
  const after = await get(viewer, `sessions/${viewer.id}`);
  console.log(JSON.stringify({
    scenario, pull_pending_after_2s: pendingAfter2s, pull_answered_after_ms: early.ms,
    early_pull: { ...early.body, sessionDescription: early.body.sessionDescription?.type },
    viewer_tracks_before_publish: before.body.tracks, viewer_tracks_after: after.body.tracks, inbound: rows,
  }));
  check(pendingAfter2s, 'the early pull was answered before the tracks were published');
}

// One pull closed with an offer (force:false), one forced: both stop, the
// third keeps flowing, the connection stays up.
async function close(browser) {
  const pub = await session(browser, 'publisher');
  await publish(pub, { extra: [{ kind: 'audio', name: 'mic2' }] });
  const viewer = await session(browser, 'viewer');
  const mids = await pull(viewer, pub.id, ['mic', 'cam', 'mic2']);
  await until('viewer receives all three', 15000, () => inbound(viewer), (rows) =>
    rows.length === 3 && rows.every((r) => r.packets > 0) && rows.some((r) => r.kind === 'video' && r.frames > 0));
  const byOffer = await viewer.eval((m) => window.s.closeByOffer([m]), mids.cam);
  const forced = await viewer.eval((m) => window.s.closeForced([m]), mids.mic);
  await sleep(1000); // packets already in flight
  const count = async () => Object.fromEntries((await inbound(viewer)).map((r) => [r.mid, r.packets]));
  const t0 = await count();
  await sleep(3000);
  const t1 = await count();
  const state = await connection(viewer);
  const grew = (mid) => (t1[mid] ?? 0) > (t0[mid] ?? 0);
  const viewerState = await get(viewer, `sessions/${viewer.id}`);
  console.log(JSON.stringify({
    scenario, mids, close_by_offer: brief(byOffer), close_forced: brief(forced), packets_t0: t0, packets_t3s: t1,
    connection: state, viewer_tracks: viewerState.body.tracks,
  }));
  check(!grew(mids.cam), `cam (closed by offer) still receives: ${t0[mids.cam]} -> ${t1[mids.cam]}`);
  check(!grew(mids.mic), `mic (closed with force) still receives: ${t0[mids.mic]} -> ${t1[mids.mic]}`);
  check(grew(mids.mic2), `mic2 (left open) stopped: ${t0[mids.mic2]} -> ${t1[mids.mic2]}`);
  check(state === 'connected', `connection ${state}`);
  const listed = (mid) => viewerState.body.tracks?.find((t) => t.mid === mid);
  check(listed(mids.cam)?.status !== 'active' && listed(mids.mic)?.status !== 'active' && listed(mids.mic2)?.status === 'active',
    `viewer state after the closes: ${JSON.stringify(viewerState.body)}`);
}

// Three layers; the viewer asks for f, then q, then f: the width follows.
async function simulcast(browser) {
  const pub = await session(browser, 'publisher');
  await publish(pub, {
    video: { width: 1280, height: 720 },
    encodings: [{ rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f', scaleResolutionDownBy: 1 }],
  });
  const viewer = await session(browser, 'viewer');
  const mids = await pull(viewer, pub.id, ['cam'], { preferredRid: 'f' });
  const width = async () => (await inbound(viewer)).find((r) => r.mid === mids.cam)?.width ?? 0;
  // f is sent once the publisher's bandwidth estimate allows it; a loaded
  // machine makes Chromium scale every layer down (quality limitation
  // "cpu"), so f is the widest the viewer decodes: 1280 when unloaded.
  const widest = { w: 0, at: Date.now() };
  await until('viewer decodes layer f', 25000, async () => {
    const w = await width();
    if (w > widest.w) Object.assign(widest, { w, at: Date.now() });
    return w;
  }, (w) => w >= 1280 || (widest.w >= 640 && Date.now() - widest.at > 8000));
  const full = widest.w;
  const update = (rid) => viewer.eval(([mid, sessionId, rid]) => window.s.ok('PUT', `sessions/${window.s.id}/tracks/update`, {
    tracks: [{ location: 'remote', mid, sessionId, trackName: 'cam', simulcast: { preferredRid: rid } }],
  }), [mids.cam, pub.id, rid]);
  const toQ = await update('q');
  const quarter = await until('viewer drops to layer q', 15000, width, (w) => w > 0 && w <= full / 2);
  const toF = await update('f');
  const back = await until('viewer back on layer f', 15000, width, (w) => w >= full);
  console.log(JSON.stringify({ scenario, width_f: full, width_q: quarter, width_f_again: back, update_q: brief(toQ), update_f: brief(toF) }));
}

// 64 audio tracks pushed in one request and pulled in one request.
async function many(browser) {
  const N = 64;
  const names = Array.from({ length: N }, (_, i) => `a${i}`);
  const pub = await session(browser, 'publisher');
  const pushed = await pub.eval(async (names) => {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true });
    const [mic] = media.getAudioTracks();
    const body = await window.s.push(names.map((name) => ({ track: mic.clone(), name })));
    return body.tracks.length;
  }, names);
  check(pushed === N, `pushed ${pushed} tracks`);
  const viewer = await session(browser, 'viewer');
  const mids = await pull(viewer, pub.id, names);
  check(Object.keys(mids).length === N && new Set(Object.values(mids)).size === N, `pull mids: ${JSON.stringify(mids)}`);
  const rows = await until(`all ${N} receive`, 25000, () => inbound(viewer), (rows) =>
    rows.filter((r) => r.kind === 'audio' && r.packets > 0).length === N);
  const packets = rows.map((r) => r.packets);
  console.log(JSON.stringify({ scenario, pushed, pulled: Object.keys(mids).length, receiving: packets.filter((p) => p > 0).length, min_packets: Math.min(...packets), max_packets: Math.max(...packets) }));
}

// Two meeting pages in one room decode each other; the layer picker works.
async function demo(browser) {
  const pages = [];
  for (const label of ['alice', 'bob']) {
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write(`[${label}] ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`[${label}] page error: ${e.message}\n`));
    await page.goto(`${base}/demo/?room=r1`);
    pages.push(page);
  }
  const video = (page) => page.evaluate(async () => {
    if (!window.pc) return null;
    const out = { status: window.sfuStatus, sessionId: window.sessionId, frames: 0, width: 0, audio: 0 };
    (await window.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { out.frames += s.framesDecoded || 0; out.width = s.frameWidth || 0; }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audio += s.packetsReceived || 0;
    });
    return out;
  });
  const seen = [];
  for (const [i, page] of pages.entries()) {
    seen.push(await until(`page ${i} decodes the other`, 20000, () => video(page), (v) => v?.frames > 0 && v.audio > 0));
  }
  check(seen[0].sessionId !== seen[1].sessionId, 'two sessions');
  const roomList = await (await fetch(`${base}/demo/rooms/r1`)).json();
  const ids = roomList.members.map((m) => m.sessionId).sort();
  check(JSON.stringify(ids) === JSON.stringify(seen.map((v) => v.sessionId).sort()), `room list: ${JSON.stringify(roomList)}`);
  // Alice pulled Bob's camera (1280x720) at h, 640 wide once Bob's
  // bandwidth estimate lets him send it; she picks q: the width drops.
  const h = await until('alice on layer h', 20000, () => video(pages[0]), (v) => v.width >= 640);
  if (process.env.DEMO_SHOT) await pages[0].screenshot({ path: process.env.DEMO_SHOT });
  await pages[0].click('#tiles figure:nth-child(2) button:text-is("q")');
  const low = await until('layer q picked', 15000, () => video(pages[0]), (v) => v.width > 0 && v.width <= h.width / 2);
  // Bob leaves: his session ends with his PeerConnection, the room forgets
  // him, and Alice closes her pulls of his tracks and stays connected.
  await pages[1].close({ runBeforeUnload: true });
  const alone = await until('alice sees bob leave', 20000, () => pages[0].evaluate(() => ({
    status: window.sfuStatus,
    tiles: document.querySelectorAll('#tiles figure').length,
    receiving: window.pc.getTransceivers().filter((t) => t.currentDirection === 'recvonly').length,
    connection: window.pc.connectionState,
  })), (v) => v.tiles === 1 && v.receiving === 0);
  const roomAfter = await (await fetch(`${base}/demo/rooms/r1`)).json();
  check(alone.connection === 'connected' && !alone.status.startsWith('error'), `alice after bob left: ${JSON.stringify(alone)}`);
  check(roomAfter.members.length === 1 && roomAfter.members[0].sessionId === seen[0].sessionId, `room after bob left: ${JSON.stringify(roomAfter)}`);
  console.log(JSON.stringify({ scenario, alice: h, bob: seen[1], room: roomList, alice_after_q: low, alice_after_bob_left: alone, room_after: roomAfter }));
}

const scenarios = { push, 'pull-before-publish': pullBeforePublish, close, simulcast, many, demo };

async function main() {
  if (!args.server) throw new Error('--server PATH is required');
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  start(args.server, [
    '--http', `127.0.0.1:${httpPort}`, '--udp', `127.0.0.1:${udpPort}`,
    '--app', `${APP}:${SECRET}`, '--app', OTHER.join(':'),
  ], 'sfu');
  await waitForHttp(`${base}/healthz`, 30000);
  await withChromium(run);
  if (procs.crashed) throw new Error(procs.crashed);
}

// A hung browser or server must fail the test, not stall cargo test.
setTimeout(() => {
  console.error(`calls ${scenario}: FAILED: timed out`);
  procs.stopping = true;
  for (const c of procs.children) c.kill('SIGKILL');
  process.exit(1);
}, 150000).unref();
main()
  .then(() => { console.log(`calls ${scenario}: ok`); })
  .catch((e) => { console.error(`calls ${scenario}: FAILED: ${e.message}`); process.exitCode = 1; })
  .finally(stopAll);
