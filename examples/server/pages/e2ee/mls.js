/**
 * MLS (RFC 9420) keying in the browser, on ts-mls: the twin of
 * `sfu-e2ee/src/mls.rs` (`MlsKeying`, openmls), method for method, so the
 * page's CallMember (the twin of committer.rs) drives the same operations
 * and a call can mix browser and Rust clients in one group.
 *
 * Same as the Rust side, on the wire and in every derived value:
 * - cipher suite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, group id
 *   "sfu-e2ee call", the ratchet tree extension in every Welcome (joiners
 *   take the tree from it), Commits as PrivateMessages (openmls accepts
 *   only those by default), no padding (openmls pads to 0);
 * - a basic credential holding the client id as 8 big-endian bytes, one
 *   Ed25519 signature key per MlsKeying, key packages with openmls's
 *   default lifetime (now - 1 h .. now + 84 days: openmls checks it);
 * - key packages travel bare (a TLS KeyPackage, not an MLSMessage), as
 *   `KeyPackageIn::tls_deserialize_exact_bytes` reads them; Commits and
 *   Welcomes as MLSMessages;
 * - per-sender SFrame base key (RFC 9605 §5.2) =
 *   HKDF-Expand(MLS-Exporter("SFrame 1.0 Base Key", "", 32), leaf as u32
 *   big-endian, 32), KID = (leaf << E) | (epoch mod 2^E);
 * - the safety number of safety.rs.
 *
 * What differs, none of it visible to other members:
 * - `epochKeys` returns the raw base keys (the Rust side derives SFrame keys
 *   from them right away; here sframe.js does), for the SHA-256 SFrame suites;
 * - errors are `Error`s with `code` set to the Rust variant's name
 *   (KeyPackageRejected, CommitRejected, WelcomeRejected, or Mls);
 * - our key packages' private keys live in this object, not a provider's
 *   store, and go with it (a page that reloads asks to join again);
 * - ts-mls is immutable: a pending Commit is the next epoch's state held
 *   aside, merged by swapping it in (see commit() for the one thing that
 *   needs care).
 *
 * Randomness: ts-mls draws its secrets (epoch, path, reuse guards) from
 * crypto.getRandomValues; Ed25519 and X25519 keys come from WebCrypto's
 * key generation (the same CSPRNG). Nothing uses Math.random, which is why
 * the capabilities are spelled out below instead of ts-mls's
 * defaultCapabilities() (its GREASE picks from Math.random).
 */
import * as mls from './vendor/ts-mls.js';
import { safetyNumberOf } from './safety.js';

/** The MLS cipher suite calls use (mls.rs MLS_SUITE). */
export const MLS_SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
/** Exporter label of RFC 9605 §5.2. */
export const SFRAME_EXPORTER_LABEL = 'SFrame 1.0 Base Key';
/** The group every call uses (mls.rs found()). */
const GROUP_ID = new TextEncoder().encode('sfu-e2ee call');
/** Hash length of the SHA-256 SFrame suites: the exporter and base key length. */
const SFRAME_HASH_LEN = 32;
/** openmls's default key package lifetime and its margin into the past. */
const KEY_PACKAGE_LIFETIME_S = 60n * 60n * 24n * 28n * 3n;
const KEY_PACKAGE_MARGIN_S = 60n * 60n;

// What our leaves support: our suite, basic credentials, nothing beyond the
// default extensions and proposals (which need no listing).
const CAPABILITIES = {
  versions: ['mls10'],
  ciphersuites: [MLS_SUITE],
  extensions: [],
  proposals: [],
  credentials: ['basic'],
};

// ts-mls's defaults except padding: openmls pads to 0, so do we (no byte
// of a message tells the two implementations apart).
const CLIENT_CONFIG = {
  keyRetentionConfig: mls.defaultKeyRetentionConfig,
  lifetimeConfig: mls.defaultLifetimeConfig,
  keyPackageEqualityConfig: mls.defaultKeyPackageEqualityConfig,
  paddingConfig: { kind: 'alwaysPad', paddingLength: 0 },
  authService: mls.defaultAuthenticationService,
};

function fail(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

const detail = (e) => (e && e.message) || String(e);

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function u64be(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
}

function u32be(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** The client a basic credential names, or null (mls.rs client_of). */
function clientOf(credential) {
  if (credential?.credentialType !== 'basic' || credential.identity.length !== 8) return null;
  return new DataView(credential.identity.buffer, credential.identity.byteOffset, 8).getBigUint64(0);
}

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** Decodes all of `bytes` with a ts-mls decoder, or returns null. */
function decodeExact(decoder, bytes) {
  if (!(bytes instanceof Uint8Array)) return null;
  let r;
  try {
    r = decoder(bytes, 0);
  } catch {
    return null;
  }
  return r && r[1] === bytes.length ? r[0] : null;
}

// The safety number is safety.js's (the twin of safety.rs), re-exported
// for callers that hold only the keying.
export { safetyNumberOf };

/** One client's MLS state, backed by ts-mls. */
export class MlsKeying {
  #cs;
  #client;
  #signer;
  #credential;
  // Key packages we handed out and can still join with: {ref, publicPackage, privatePackage}.
  #keyPackages = [];
  // The group's state, or null.
  #state = null;
  // Our Commit's next-epoch state until merged or discarded: {newState, consumed}.
  #pending = null;

  constructor(cs, client, signer) {
    this.#cs = cs;
    this.#client = client;
    this.#signer = signer;
    this.#credential = { credentialType: 'basic', identity: u64be(client) };
  }

  /** A client whose credential names `clientId` (BigInt), with a fresh signature key. */
  static async create(clientId) {
    if (typeof clientId !== 'bigint' || clientId < 0n || clientId >= 1n << 64n) {
      throw fail('Mls', 'client id must be a u64 BigInt');
    }
    const cs = await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(MLS_SUITE));
    const signer = await cs.signature.keygen();
    return new MlsKeying(cs, clientId, signer);
  }

  /** The group state, or an Mls error when we hold none. */
  #group() {
    if (this.#state === null) throw fail('Mls', 'not in a group');
    return this.#state;
  }

  /** A fresh key package for our join request: a TLS-serialized bare KeyPackage. */
  async keyPackage() {
    const { publicPackage, privatePackage } = await this.#newKeyPackage();
    const ref = await mls.makeKeyPackageRef(publicPackage, this.#cs.hash);
    this.#keyPackages.push({ ref, publicPackage, privatePackage });
    return mls.encodeKeyPackage(publicPackage);
  }

  async #newKeyPackage() {
    const now = nowSeconds();
    const lifetime = { notBefore: now - KEY_PACKAGE_MARGIN_S, notAfter: now + KEY_PACKAGE_LIFETIME_S };
    return mls.generateKeyPackageWithKey(this.#credential, CAPABILITIES, lifetime, [], this.#signer, this.#cs);
  }

  /**
   * Checks a joiner's key package: valid signatures and lifetime, our cipher
   * suite, and a basic credential naming `client`. Throws KeyPackageRejected.
   */
  async checkKeyPackage(client, keyPackage) {
    await this.#parseKeyPackage(client, keyPackage);
  }

  // The checks of openmls's KeyPackageIn::validate, then mls.rs's own.
  async #parseKeyPackage(client, bytes) {
    const reject = (why) => fail('KeyPackageRejected', `key package rejected: ${why}`);
    const kp = decodeExact(mls.decodeKeyPackage, bytes);
    if (kp === null) throw reject('not a key package');
    if (kp.cipherSuite !== MLS_SUITE) throw reject('wrong cipher suite');
    const leaf = kp.leafNode;
    let valid = kp.version === 'mls10' && leaf.leafNodeSource === 'key_package';
    try {
      valid = valid
        && !sameBytes(kp.initKey, leaf.hpkePublicKey)
        && (await mls.verifyLeafNodeSignatureKeyPackage(leaf, this.#cs.signature))
        && (await mls.verifyKeyPackage(kp, this.#cs.signature))
        && mls.extensionsSupportedByCapabilities(kp.extensions, leaf.capabilities);
    } catch {
      // A malformed public key makes WebCrypto throw.
      valid = false;
    }
    if (valid) {
      // openmls: valid from not_before, expired at not_after.
      const now = nowSeconds();
      valid = leaf.lifetime.notBefore <= now && now < leaf.lifetime.notAfter;
    }
    if (!valid) throw reject('signature or lifetime invalid');
    if (leaf.credential.credentialType !== 'basic') throw reject('not a basic credential');
    if (clientOf(leaf.credential) !== client) throw reject('credential names another client');
    return kp;
  }

  /** Creates a group with only us (epoch 0); replaces any group we had. */
  async found() {
    const { publicPackage, privatePackage } = await this.#newKeyPackage();
    this.#state = await mls.createGroup(GROUP_ID, publicPackage, privatePackage, [], this.#cs, CLIENT_CONFIG);
    this.#pending = null;
  }

  /** Whether we hold a group we are a member of. */
  inGroup() {
    return this.#state !== null && this.#state.groupActiveState.kind === 'active';
  }

  /** Current epoch (BigInt; 0n without a group). */
  epoch() {
    return this.#state === null ? 0n : this.#state.groupContext.epoch;
  }

  // Non-blank leaves of the current epoch: [leaf index, leaf node], by index.
  #leaves() {
    const out = [];
    const tree = this.#state?.ratchetTree ?? [];
    for (let n = 0; n < tree.length; n += 2) {
      if (tree[n]?.nodeType === 'leaf') out.push([n / 2, tree[n].leaf]);
    }
    return out;
  }

  /** Members of the current epoch: [[leaf, client BigInt]], by leaf index. */
  roster() {
    const out = [];
    for (const [leaf, node] of this.#leaves()) {
      const client = clientOf(node.credential);
      if (client !== null) out.push([leaf, client]);
    }
    return out;
  }

  /** Our leaf index, or null without a group. */
  ownLeaf() {
    return this.#state === null ? null : this.#state.privatePath.leafIndex;
  }

  /**
   * A Commit adding `adds` ([[client, key package bytes]]) and removing
   * `removes` (leaf indices), pending until mergeOwnCommit(). Returns the
   * Commit (MLSMessage, PrivateMessage) and, with adds, the Welcome
   * (MLSMessage, ratchet tree extension in its GroupInfo), else null.
   */
  async commit(adds, removes) {
    const state = this.#group();
    // openmls refuses a second Commit while one is pending.
    if (this.#pending !== null) throw fail('Mls', 'a commit is pending');
    const proposals = [];
    for (const [client, bytes] of adds) {
      proposals.push({ proposalType: 'add', add: { keyPackage: await this.#parseKeyPackage(client, bytes) } });
    }
    for (const leaf of removes) proposals.push({ proposalType: 'remove', remove: { removed: leaf } });
    const cs = this.#cs;
    let res;
    try {
      res = await mls.createCommit({ state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true });
    } catch (e) {
      throw fail('Mls', detail(e));
    }
    // The Commit's PrivateMessage used our handshake ratchet's next
    // generation, but ts-mls returns only the next epoch's state. Step that
    // ratchet in the state we keep too: if this Commit loses and we commit
    // again in this epoch, the new one must not reuse its key and nonce
    // (openmls mutates its group in place, so it never does).
    const ownNode = mls.leafToNodeIndex(mls.toLeafIndex(state.privatePath.leafIndex));
    const { newTree } = await mls.consumeRatchet(state.secretTree, ownNode, 'commit', cs);
    this.#state = { ...state, secretTree: newTree };
    this.#pending = { newState: res.newState, consumed: res.consumed };
    const welcome = res.welcome
      ? mls.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome })
      : null;
    return { commit: mls.encodeMlsMessage(res.commit), welcome };
  }

  /** Our pending Commit was sequenced: move to its epoch (no-op without one, as openmls). */
  async mergeOwnCommit() {
    this.#group();
    const pending = this.#pending;
    if (pending === null) return;
    this.#state = pending.newState;
    this.#pending = null;
    // The previous epoch's init secret and the Commit's keys (ts-mls asks
    // its caller to erase them once the new state is in use).
    for (const secret of pending.consumed) secret.fill(0);
  }

  /** Our pending Commit lost: forget it. */
  async discardOwnCommit() {
    this.#pending = null;
  }

  /**
   * Applies someone else's Commit (an MLSMessage PrivateMessage) for our
   * epoch: 'applied', or 'removed' when it removed us (we then hold no
   * group). Throws CommitRejected.
   */
  async applyCommit(bytes) {
    const reject = (why) => fail('CommitRejected', `commit rejected: ${why}`);
    const msg = decodeExact(mls.decodeMlsMessage, bytes);
    if (msg === null) throw reject('not an MLS message');
    // openmls's default wire format policy: handshake messages encrypted.
    if (msg.wireformat !== 'mls_private_message') throw reject(`${msg.wireformat} is not a private message`);
    const state = this.#group();
    let kind = null;
    const onlyCommits = (incoming) => {
      kind = incoming.kind;
      return incoming.kind === 'commit' ? 'accept' : 'reject';
    };
    let res;
    try {
      res = await mls.processPrivateMessage(state, msg.privateMessage, mls.emptyPskIndex, this.#cs, onlyCommits);
    } catch (e) {
      throw reject(detail(e));
    }
    if (res.kind !== 'newState' || kind !== 'commit' || res.actionTaken !== 'accept') throw reject('not a commit');
    this.#pending = null;
    const removed = res.newState.groupActiveState.kind === 'removedFromGroup';
    this.#state = removed ? null : res.newState;
    for (const secret of res.consumed) secret.fill(0);
    return removed ? 'removed' : 'applied';
  }

  /** Joins from a Welcome (MLSMessage) for one of our key packages. Throws WelcomeRejected. */
  async join(welcomeBytes) {
    const reject = (why) => fail('WelcomeRejected', `welcome rejected: ${why}`);
    const msg = decodeExact(mls.decodeMlsMessage, welcomeBytes);
    if (msg === null) throw reject('not an MLS message');
    if (msg.wireformat !== 'mls_welcome') throw reject('not a welcome');
    const welcome = msg.welcome;
    const at = this.#keyPackages.findIndex((k) => welcome.secrets.some((s) => sameBytes(s.newMember, k.ref)));
    if (at < 0) throw reject('for none of our key packages');
    const { publicPackage, privatePackage } = this.#keyPackages[at];
    let state;
    try {
      // No tree passed: it must come in the Welcome's ratchet tree extension.
      state = await mls.joinGroup(welcome, publicPackage, privatePackage, mls.emptyPskIndex, this.#cs,
        undefined, undefined, CLIENT_CONFIG);
    } catch (e) {
      throw reject(detail(e));
    }
    // A key package is used once (openmls deletes it from its store too).
    this.#keyPackages.splice(at, 1);
    this.#state = state;
    this.#pending = null;
  }

  /** The MLS epoch authenticator (RFC 9420 §8.7) of the current epoch, or null. */
  epochAuthenticator() {
    return this.#state === null ? null : this.#state.keySchedule.epochAuthenticator.slice();
  }

  /** Safety number of the current epoch (safety.rs), or null without a group. */
  async safetyNumber() {
    const auth = this.epochAuthenticator();
    return auth === null ? null : safetyNumberOf(auth);
  }

  /** MLS-Exporter(label, "", length) of the current epoch (mls.rs export). */
  async exportSecret(label, length) {
    const state = this.#group();
    return mls.mlsExporter(state.keySchedule.exporterSecret, label, new Uint8Array(0), length, this.#cs);
  }

  /**
   * The raw SFrame base keys of the current epoch (RFC 9605 §5.2): ours for
   * sending, every other member's for receiving, each with its KID
   * (BigInt) under `layout`.
   */
  async epochKeys(layout = { epochBits: 4, indexBits: 12 }) {
    const state = this.#group();
    const epoch = state.groupContext.epoch;
    const secret = await this.exportSecret(SFRAME_EXPORTER_LABEL, SFRAME_HASH_LEN);
    const ownLeaf = state.privatePath.leafIndex;
    const epochBits = BigInt(layout.epochBits);
    const epochMask = (1n << epochBits) - 1n;
    let own = null;
    const others = [];
    for (const [leaf] of this.#leaves()) {
      if (layout.indexBits < 32 && leaf >= 2 ** layout.indexBits) throw fail('Mls', 'leaf index exceeds KID layout');
      const kid = (BigInt(leaf) << epochBits) | (epoch & epochMask);
      const baseKey = await this.#cs.kdf.expand(secret, u32be(leaf), SFRAME_HASH_LEN);
      if (leaf === ownLeaf) own = { kid, leaf, baseKey };
      else others.push({ kid, leaf, baseKey });
    }
    secret.fill(0);
    if (own === null) throw fail('Mls', 'own leaf missing');
    return { epoch, own, others };
  }
}
