// The meeting page's end-to-end encryption, on the main thread: joins the
// room's MLS group through the page server's broadcast channel (which
// only sequences; it never sees a key), runs the designated-committer
// state machine (committer.js, the twin of sfu-e2ee's CallMember) over
// ts-mls (mls.js), and hands every epoch's SFrame keys to the worker
// (transform.js) that encrypts what we send and decrypts what we receive
// behind RTCRtpScriptTransform. The SFU in between forwards ciphertext.
//
// Usage: `const e2ee = await E2ee.start({ room, onEpoch })`, then
// `e2ee.protectSender(sender, kind)` / `e2ee.protectReceiver(receiver,
// kind)` for every transceiver, `e2ee.safetyNumber`, `await e2ee.stats()`,
// `e2ee.leave()`.
import { CallMember } from './committer.js';
import { MlsKeying } from './mls.js';
import { encodeMessage } from './wire.js';

const SUITE = 4; // AES_128_GCM_SHA256_128, as the Rust member.
// Channel messages received and not yet handled.
const MAX_INBOX = 1024;

// `[u64 seq][u32 len][bytes]…` → [[seq, bytes]].
function parsePoll(buf) {
  const out = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at + 12 <= buf.length) {
    const seq = view.getBigUint64(at);
    const len = view.getUint32(at + 8);
    if (at + 12 + len > buf.length) break;
    out.push([seq, buf.subarray(at + 12, at + 12 + len)]);
    at += 12 + len;
  }
  return out;
}

export class E2ee {
  // Joins `room`'s group; resolves once the join request is sent (the
  // group itself comes when a committer adds us, see `onEpoch`).
  static async start({ room, base = '', onEpoch = () => {}, log = () => {} }) {
    const channel = `${base}/demo/rooms/${encodeURIComponent(room)}/mls`;
    const res = await fetch(`${channel}/connect`, { method: 'POST' });
    if (!res.ok) throw new Error(`channel connect: ${res.status}`);
    const { client, credential, after } = await res.json();
    const keying = await MlsKeying.create(BigInt(client));
    const member = await CallMember.join(BigInt(client), keying);
    const worker = new Worker(new URL('./transform.js', import.meta.url), { type: 'module' });
    const e = new E2ee({ channel, client, credential, after: BigInt(after), keying, member, worker, onEpoch, log });
    await e.flush();
    e.pump();
    addEventListener('pagehide', () => e.leave());
    return e;
  }

  constructor(fields) {
    Object.assign(this, fields);
    this.safetyNumber = null;
    this.epoch = null;
    this.stopped = false;
    this.nextId = 0;
    this.pending = new Map();
    // Test hook: a committer that "crashes" between its Welcome and its
    // Commit sends the Welcome and nothing after it.
    this.hooks = { crashAfterWelcome: false };
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'stats') {
        this.pending.get(data.reqId)?.(data.stats);
        this.pending.delete(data.reqId);
      }
    };
  }

  // What the state machine wants sent, in order, then what it tells us.
  // One flush at a time, so that sends leave in the machine's order.
  flush() {
    this.flushing = (this.flushing || Promise.resolve()).then(() => this.flushNow());
    return this.flushing;
  }

  async flushNow() {
    let m;
    while ((m = this.member.pollTransmit()) !== undefined) {
      if (this.crashed) continue;
      const body = encodeMessage(m);
      const res = await fetch(`${this.channel}/send`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.credential}` },
        body,
      });
      if (!res.ok) this.log(`channel send ${m.type}: ${res.status}`);
      if (m.type === 'welcome' && this.hooks.crashAfterWelcome) {
        this.crashed = true;
        this.log('test hook: crashed between Welcome and Commit');
      }
    }
    let ev;
    while ((ev = this.member.pollEvent()) !== undefined) {
      if (ev.type === 'epochChanged') await this.installEpoch(ev);
      else if (ev.type === 'removed') {
        this.safetyNumber = null;
        this.log('removed from the group');
      } else if (ev.type === 'rejected') this.log(`rejected: ${ev.error?.code || ev.error}`);
    }
  }

  async installEpoch(ev) {
    const keys = await this.keying.epochKeys();
    this.worker.postMessage({
      type: 'epoch',
      nowMs: performance.now(),
      epoch: keys.epoch,
      suite: SUITE,
      own: { kid: keys.own.kid, baseKey: keys.own.baseKey },
      others: keys.others.map((k) => ({ kid: k.kid, baseKey: k.baseKey })),
    });
    this.epoch = ev.epoch;
    this.safetyNumber = ev.safetyNumber;
    this.ownKid = keys.own.kid;
    this.log(`epoch ${ev.epoch}: safety number ${ev.safetyNumber}`);
    this.onEpoch(ev);
  }

  // The long poll: every message of the channel, in the server's order.
  // Polling never waits for the state machine (an MLS Commit can take a
  // while on a slow machine): the channel's lease only sees that we poll.
  async pump() {
    const inbox = [];
    let wake = () => {};
    const work = async () => {
      while (!this.stopped) {
        if (inbox.length === 0) {
          await new Promise((r) => { wake = r; });
          continue;
        }
        const msg = inbox.shift();
        if (!this.crashed) await this.member.handleBroadcast(msg);
        await this.flush();
      }
    };
    work().catch((e) => this.log(`e2ee: ${e.stack || e}`));
    while (!this.stopped) {
      // Bounded: a machine this far behind stops reading the channel.
      while (inbox.length > MAX_INBOX && !this.stopped) await new Promise((r) => setTimeout(r, 50));
      let res;
      try {
        res = await fetch(`${this.channel}/poll?after=${this.after}`, {
          headers: { Authorization: `Bearer ${this.credential}` },
        });
      } catch {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (res.status === 401) {
        this.log('the channel forgot us (lease ran out)');
        this.stopped = true;
        wake();
        return;
      }
      if (res.status === 200) {
        const buf = new Uint8Array(await res.arrayBuffer());
        for (const [seq, msg] of parsePoll(buf)) {
          this.after = seq;
          inbox.push(msg);
        }
        wake();
      }
    }
  }

  protectSender(sender, kind) {
    sender.transform = new RTCRtpScriptTransform(this.worker, { side: 'send', kind, id: `send-${kind}` });
  }

  protectReceiver(receiver, kind, id) {
    receiver.transform = new RTCRtpScriptTransform(this.worker, { side: 'receive', kind, id });
  }

  // The worker's counters per transform id.
  stats() {
    const reqId = ++this.nextId;
    return new Promise((resolve) => {
      this.pending.set(reqId, resolve);
      this.worker.postMessage({ type: 'stats', reqId });
    });
  }

  // Leaves the group: the channel tells the others, whose committer
  // removes us. Media keeps flowing to us, but under keys we never get.
  leave() {
    if (this.stopped) return;
    this.stopped = true;
    navigator.sendBeacon(`${this.channel}/leave`, this.credential);
  }
}
