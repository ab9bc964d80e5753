/**
 * Symbolic MLS for checking the browser CallMember against the Rust one: a
 * port of `ModelKeying` in `sfu-e2ee/tests/model/mod.rs`, byte for byte
 * (key packages, Commits, Welcomes, FNV authenticators, safety-number input)
 * and check for check (same errors, same details), implementing the keying
 * interface documented in `examples/server/pages/e2ee/committer.js`.
 * Test-only: it has no secrets at all.
 */

import { E2eeError } from '../../examples/server/pages/e2ee/wire.js';
import { safetyNumberOf } from '../../examples/server/pages/e2ee/safety.js';

const MASK = (1n << 64n) - 1n;
const BLANK = MASK; // u64::MAX marks a blank leaf in encodings
const enc = new TextEncoder();
const KP = enc.encode('kp');
const COMMIT = enc.encode('commit');
const WELCOME = enc.encode('welcome');
const FOUND = enc.encode('found');

/**
 * FNV-1a over `data` with `seed` xored into the offset basis, as
 * `model::fnv`. Runs on two 32-bit halves: the prime is 2^40 + 0x1b3, so
 * h * prime = h * 0x1b3 + (lo << 40) mod 2^64, every partial product exact
 * in a double (BigInt per byte is ten times slower).
 */
export function fnv(data, seed) {
  const h0 = 0xcbf29ce484222325n ^ seed;
  let hi = Number(h0 >> 32n);
  let lo = Number(h0 & 0xffffffffn);
  for (let i = 0; i < data.length; i++) {
    lo = (lo ^ data[i]) >>> 0;
    const a = lo * 0x1b3;
    const carry = Math.floor(a / 4294967296);
    hi = (Math.imul(hi, 0x1b3) + ((lo << 8) >>> 0) + carry) >>> 0;
    lo = a >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Appends big-endian integers and byte strings. */
class Writer {
  constructor() {
    this.parts = [];
    this.len = 0;
  }
  raw(b) {
    this.parts.push(b);
    this.len += b.length;
    return this;
  }
  int(v, n) {
    const b = new Uint8Array(n);
    const dv = new DataView(b.buffer);
    if (n === 8) dv.setBigUint64(0, v);
    else if (n === 4) dv.setUint32(0, v);
    else dv.setUint16(0, v & 0xffff); // `as u16` in mod.rs
    return this.raw(b);
  }
  done() {
    const out = new Uint8Array(this.len);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Reads at offsets like `slice.get(i..j)?`: undefined past the end. */
function reader(data) {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fits = (i, n) => i + n <= data.length;
  return {
    u64: (i) => (fits(i, 8) ? dv.getBigUint64(i) : undefined),
    u32: (i) => (fits(i, 4) ? dv.getUint32(i) : undefined),
    u16: (i) => (fits(i, 2) ? dv.getUint16(i) : undefined),
  };
}

function stripPrefix(data, prefix) {
  if (data.length < prefix.length) return undefined;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return undefined;
  return data.subarray(prefix.length);
}

function encodeGroup(g, w) {
  w.int(g.gid, 8).int(g.epoch, 8).int(g.auth, 8).int(g.leaves.length, 2);
  for (const l of g.leaves) w.int(l === null ? BLANK : l, 8);
}

function decodeGroup(data) {
  const r = reader(data);
  const [gid, epoch, auth] = [r.u64(0), r.u64(8), r.u64(16)];
  const n = r.u16(24);
  if (gid === undefined || epoch === undefined || auth === undefined || n === undefined) return undefined;
  const leaves = [];
  for (let i = 0; i < n; i++) {
    const v = r.u64(26 + 8 * i);
    if (v === undefined) return undefined;
    leaves.push(v !== BLANK ? v : null);
  }
  return { gid, epoch, leaves, auth };
}

/**
 * The group after a Commit removing `removes` then adding `adds`, leaves
 * assigned as MLS does (leftmost blank first, then append); undefined if
 * invalid.
 */
function after(g, removes, adds, commit) {
  const leaves = [...g.leaves];
  for (const r of removes) {
    if (r >= leaves.length || leaves[r] === null) return undefined;
    leaves[r] = null;
  }
  for (const a of adds) {
    if (leaves.some((c) => c === a)) return undefined;
    const p = leaves.indexOf(null);
    if (p >= 0) leaves[p] = a;
    else leaves.push(a);
  }
  while (leaves.length > 0 && leaves[leaves.length - 1] === null) leaves.pop();
  return { gid: g.gid, epoch: (g.epoch + 1n) & MASK, leaves, auth: fnv(commit, g.auth) };
}

function encodeCommit(g, committer, removes, adds) {
  const w = new Writer().raw(COMMIT).int(g.gid, 8).int(g.epoch, 8).int(g.auth, 8).int(committer, 4);
  w.int(removes.length, 2);
  for (const r of removes) w.int(r, 4);
  w.int(adds.length, 2);
  for (const a of adds) w.int(a, 8);
  return w.done();
}

function decodeCommit(bytes) {
  const c = stripPrefix(bytes, COMMIT);
  if (c === undefined) return undefined;
  const r = reader(c);
  const committer = r.u32(24);
  const nr = r.u16(28);
  if (committer === undefined || nr === undefined) return undefined;
  let at = 30;
  const removes = [];
  for (let i = 0; i < nr; i++, at += 4) {
    const v = r.u32(at);
    if (v === undefined) return undefined;
    removes.push(v);
  }
  const na = r.u16(at);
  if (na === undefined) return undefined;
  at += 2;
  const adds = [];
  for (let i = 0; i < na; i++, at += 8) {
    const v = r.u64(at);
    if (v === undefined) return undefined;
    adds.push(v);
  }
  const [gid, epoch, auth] = [r.u64(0), r.u64(8), r.u64(16)];
  if (gid === undefined || epoch === undefined || auth === undefined) return undefined;
  return { gid, epoch, auth, committer, removes, adds };
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** `ModelKeying`: the keying interface over explicit group state. */
export class ModelKeying {
  constructor(me) {
    this.me = me;
    this.group = null;
    this.pending = null;
  }

  static kp(client) {
    return new Writer().raw(KP).int(client, 8).done();
  }

  static err(s) {
    return new E2eeError('Mls', s);
  }

  async keyPackage() {
    return ModelKeying.kp(this.me);
  }

  async checkKeyPackage(client, keyPackage) {
    this._check(client, keyPackage);
  }

  _check(client, keyPackage) {
    if (!sameBytes(keyPackage, ModelKeying.kp(client))) {
      throw new E2eeError('KeyPackageRejected', 'model: credential names another client');
    }
  }

  async found() {
    this.group = { gid: this.me, epoch: 0n, leaves: [this.me], auth: fnv(FOUND, this.me) };
    this.pending = null;
  }

  inGroup() {
    return this.group !== null;
  }

  epoch() {
    return this.group === null ? 0n : this.group.epoch;
  }

  roster() {
    if (this.group === null) return [];
    const out = [];
    this.group.leaves.forEach((c, i) => {
      if (c !== null) out.push([i, c]);
    });
    return out;
  }

  ownLeaf() {
    if (this.group === null) return null;
    const p = this.group.leaves.indexOf(this.me);
    return p < 0 ? null : p;
  }

  async commit(adds, removes) {
    const g = this.group;
    if (g === null) throw ModelKeying.err('no group');
    const me = this.ownLeaf();
    if (me === null) throw ModelKeying.err('not in group');
    if (removes.includes(me)) throw ModelKeying.err('committer removes itself');
    for (const [c, kp] of adds) this._check(c, kp);
    const ids = adds.map(([c]) => c);
    const commit = encodeCommit(g, me, removes, ids);
    const next = after(g, removes, ids, commit);
    if (next === undefined) throw ModelKeying.err('invalid proposals');
    let welcome = null;
    if (ids.length > 0) {
      const w = new Writer().raw(WELCOME);
      encodeGroup(next, w);
      welcome = w.done();
    }
    this.pending = next;
    return { commit, welcome };
  }

  async mergeOwnCommit() {
    if (this.pending === null) throw ModelKeying.err('no pending commit');
    this.group = this.pending;
    this.pending = null;
  }

  async discardOwnCommit() {
    this.pending = null;
  }

  async applyCommit(commit) {
    const g = this.group;
    if (g === null) throw ModelKeying.err('no group');
    const p = decodeCommit(commit);
    if (p === undefined) throw new E2eeError('CommitRejected', 'model: not a commit');
    if (p.gid !== g.gid || p.epoch !== g.epoch || p.auth !== g.auth) {
      throw new E2eeError('CommitRejected', 'model: wrong group or epoch');
    }
    if (p.committer >= g.leaves.length || g.leaves[p.committer] === null) {
      throw new E2eeError('CommitRejected', 'model: committer not a member');
    }
    const next = after(g, p.removes, p.adds, commit);
    if (next === undefined) throw new E2eeError('CommitRejected', 'model: invalid');
    if (!next.leaves.includes(this.me)) {
      // MLS: the removed member gets no path secret for the new epoch.
      this.group = null;
      return 'removed';
    }
    this.group = next;
    return 'applied';
  }

  async join(welcome) {
    const body = stripPrefix(welcome, WELCOME);
    if (body === undefined) throw new E2eeError('WelcomeRejected', 'model');
    const g = decodeGroup(body);
    if (g === undefined) throw new E2eeError('WelcomeRejected', 'model');
    if (!g.leaves.includes(this.me)) throw new E2eeError('WelcomeRejected', 'model: not for us');
    this.group = g;
  }

  async safetyNumber() {
    const g = this.group;
    if (g === null) return null;
    return safetyNumberOf(new Writer().int(g.gid, 8).int(g.epoch, 8).int(g.auth, 8).done());
  }
}

/**
 * FNV of the group and pending group, as `state_of` in committer_traces.rs:
 * shows that the keying took the same calls (a Commit not discarded). It
 * runs after every input, so it writes one buffer instead of using Writer.
 */
export function stateOf(k) {
  const gs = [k.group, k.pending];
  const size = gs.reduce((n, g) => n + 1 + (g === null ? 0 : 26 + 8 * g.leaves.length), 0);
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  let at = 0;
  for (const g of gs) {
    b[at++] = g === null ? 0 : 1;
    if (g === null) continue;
    dv.setBigUint64(at, g.gid);
    dv.setBigUint64(at + 8, g.epoch);
    dv.setBigUint64(at + 16, g.auth);
    dv.setUint16(at + 24, g.leaves.length);
    at += 26;
    for (const l of g.leaves) {
      dv.setBigUint64(at, l === null ? BLANK : l);
      at += 8;
    }
  }
  return fnv(b, 0n).toString(16).padStart(16, '0');
}
