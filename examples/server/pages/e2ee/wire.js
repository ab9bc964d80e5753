/**
 * Messages of the designated-committer protocol on the application server's
 * broadcast channel, and their byte encoding: the browser twin of
 * `sfu-e2ee/src/wire.rs`, byte for byte (checked against it by
 * `sfu-e2ee/tests/committer_traces.rs`).
 *
 * Encoding: a type byte, then fixed fields big-endian; byte strings carry a
 * u32 length, lists a u16 count. Every length is checked against the input
 * and against MAX_MESSAGE_LEN before anything is allocated.
 *
 * Client ids and epochs are BigInt (they are u64 on the wire; a Number would
 * silently lose ids above 2^53). Messages are plain objects:
 *   {type: 'join', client, keyPackage}
 *   {type: 'left', client}
 *   {type: 'found', client}
 *   {type: 'welcome', commit: Uint8Array(16), joiners: [BigInt], welcome}
 *   {type: 'commit', epoch, added: [BigInt], removed: [BigInt], commit}
 */

/** Largest message accepted from the broadcast channel (as in wire.rs). */
export const MAX_MESSAGE_LEN = 1 << 20;
/** Most client ids listed in one Commit or Welcome. */
export const MAX_LISTED_CLIENTS = 4096;

const T_JOIN = 1;
const T_LEFT = 2;
const T_FOUND = 3;
const T_WELCOME = 4;
const T_COMMIT = 5;

const U64_MAX = (1n << 64n) - 1n;

/**
 * The error of this crate's twin: `code` is the name of the Rust `Error`
 * variant ('MalformedGroupMessage', 'KeyPackageRejected', 'WelcomeRejected',
 * 'CommitRejected', 'Mls'), `detail` its payload if it has one, and
 * `message` what the Rust `Display` prints.
 */
export class E2eeError extends Error {
  constructor(code, detail = null) {
    super(displayOf(code, detail));
    this.name = 'E2eeError';
    this.code = code;
    this.detail = detail;
  }
}

const PREFIX = {
  KeyPackageRejected: 'key package rejected',
  WelcomeRejected: 'welcome rejected',
  CommitRejected: 'commit rejected',
  Mls: 'MLS failure',
};

function displayOf(code, detail) {
  if (code === 'MalformedGroupMessage') return 'malformed group message';
  const p = PREFIX[code] ?? code;
  return detail === null ? p : `${p}: ${detail}`;
}

const malformed = () => new E2eeError('MalformedGroupMessage');

function checkU64(v, what) {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`${what} must be a u64 BigInt`);
}

function checkBytes(b, what) {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (b.length > 0xffffffff) throw new RangeError(`${what} longer than a u32 length`);
}

function checkIds(ids, what) {
  if (!Array.isArray(ids)) throw new TypeError(`${what} must be an array`);
  // wire.rs truncates the count to u16 silently; refusing is kinder.
  if (ids.length > 0xffff) throw new RangeError(`${what}: more ids than a u16 count`);
  for (const c of ids) checkU64(c, what);
}

/** Encoded length of `msg`; validates its fields on the way. */
function sizeOf(msg) {
  switch (msg.type) {
    case 'join':
      checkU64(msg.client, 'client');
      checkBytes(msg.keyPackage, 'keyPackage');
      return 1 + 8 + 4 + msg.keyPackage.length;
    case 'left':
    case 'found':
      checkU64(msg.client, 'client');
      return 1 + 8;
    case 'welcome':
      if (!(msg.commit instanceof Uint8Array) || msg.commit.length !== 16) {
        throw new TypeError('commit must be a 16-byte Uint8Array');
      }
      checkIds(msg.joiners, 'joiners');
      checkBytes(msg.welcome, 'welcome');
      return 1 + 16 + 2 + 8 * msg.joiners.length + 4 + msg.welcome.length;
    case 'commit':
      checkU64(msg.epoch, 'epoch');
      checkIds(msg.added, 'added');
      checkIds(msg.removed, 'removed');
      checkBytes(msg.commit, 'commit');
      return 1 + 8 + 2 + 8 * msg.added.length + 2 + 8 * msg.removed.length + 4 + msg.commit.length;
    default:
      throw new TypeError(`unknown group message type ${msg.type}`);
  }
}

/** The encoding of `msg` as a new Uint8Array (GroupMessage::to_bytes). */
export function encodeGroupMessage(msg) {
  const out = new Uint8Array(sizeOf(msg));
  const view = new DataView(out.buffer);
  let at = 0;
  const u8 = (v) => {
    view.setUint8(at, v);
    at += 1;
  };
  const u64 = (v) => {
    view.setBigUint64(at, v);
    at += 8;
  };
  const raw = (b) => {
    out.set(b, at);
    at += b.length;
  };
  const bytes = (b) => {
    view.setUint32(at, b.length);
    at += 4;
    raw(b);
  };
  const ids = (list) => {
    view.setUint16(at, list.length);
    at += 2;
    for (const c of list) u64(c);
  };
  switch (msg.type) {
    case 'join':
      u8(T_JOIN);
      u64(msg.client);
      bytes(msg.keyPackage);
      break;
    case 'left':
      u8(T_LEFT);
      u64(msg.client);
      break;
    case 'found':
      u8(T_FOUND);
      u64(msg.client);
      break;
    case 'welcome':
      u8(T_WELCOME);
      raw(msg.commit);
      ids(msg.joiners);
      bytes(msg.welcome);
      break;
    case 'commit':
      u8(T_COMMIT);
      u64(msg.epoch);
      ids(msg.added);
      ids(msg.removed);
      bytes(msg.commit);
      break;
  }
  return out;
}

/**
 * Parses one message; trailing bytes are an error. Byte fields are copies,
 * so the caller may reuse `data`. Throws E2eeError('MalformedGroupMessage').
 */
export function decodeGroupMessage(data) {
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  if (data.length > MAX_MESSAGE_LEN) throw malformed();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  // Every read is checked against what is left before it happens.
  const need = (n) => {
    if (n > data.length - at) throw malformed();
  };
  const take = (n) => {
    need(n);
    // Uint8Array's slice copies (a Buffer's would not).
    const b = Uint8Array.prototype.slice.call(data, at, at + n);
    at += n;
    return b;
  };
  const u8 = () => {
    need(1);
    return view.getUint8(at++);
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(at);
    at += 8;
    return v;
  };
  const bytes = () => {
    need(4);
    const n = view.getUint32(at);
    at += 4;
    return take(n);
  };
  const ids = () => {
    need(2);
    const n = view.getUint16(at);
    at += 2;
    if (n > MAX_LISTED_CLIENTS || n * 8 > data.length - at) throw malformed();
    const list = new Array(n);
    for (let i = 0; i < n; i++) list[i] = u64();
    return list;
  };
  let msg;
  switch (u8()) {
    case T_JOIN: {
      const client = u64();
      msg = { type: 'join', client, keyPackage: bytes() };
      break;
    }
    case T_LEFT:
      msg = { type: 'left', client: u64() };
      break;
    case T_FOUND:
      msg = { type: 'found', client: u64() };
      break;
    case T_WELCOME: {
      const commit = take(16);
      const joiners = ids();
      msg = { type: 'welcome', commit, joiners, welcome: bytes() };
      break;
    }
    case T_COMMIT: {
      const epoch = u64();
      const added = ids();
      const removed = ids();
      msg = { type: 'commit', epoch, added, removed, commit: bytes() };
      break;
    }
    default:
      throw malformed();
  }
  if (at !== data.length) throw malformed();
  return msg;
}

/**
 * Names a Commit so a joiner can match its Welcome: the first 16 bytes of
 * SHA-256 over the Commit's MLS bytes (CommitRef::of).
 */
export async function commitRef(commitBytes) {
  const d = await crypto.subtle.digest('SHA-256', commitBytes);
  return new Uint8Array(d, 0, 16).slice();
}

/** Whether two CommitRefs (or any byte strings) are equal. */
export function sameRef(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Shorter names, as e2ee.js imports them.
export { encodeGroupMessage as encodeMessage, decodeGroupMessage as decodeMessage };
