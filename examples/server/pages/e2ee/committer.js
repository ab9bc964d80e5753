/**
 * The designated-committer protocol: every client runs a CallMember; the
 * application server only sequences and broadcasts. A line-by-line twin of
 * `sfu-e2ee/src/committer.rs` (same state, same rules, same order of
 * transmits and events); `sfu-e2ee/tests/committer_traces.rs` replays
 * thousands of the Rust CallMember's traces through it and requires every
 * output to be identical.
 *
 * Rules, all derived from the broadcast order alone:
 * - the committer is the live member with the smallest leaf index; a member
 *   believes it is the committer only once every member with a smaller leaf
 *   index has been seen to leave ('left');
 * - every member (and every joiner, from the moment it connects) tracks
 *   pending join requests and departures, so a new committer continues where
 *   a departed one stopped;
 * - the committer commits all pending Adds and Removes in one Commit, sends
 *   the Welcome before the Commit, and has at most one Commit in flight;
 * - the first Commit for an epoch in broadcast order wins; later ones for the
 *   same epoch are ignored, and an own Commit that lost is discarded;
 * - a joiner keeps Welcomes unprocessed until the Commit they belong to is
 *   sequenced, so a committer that crashes between its Welcome and its
 *   Commit leaves no joiner in an epoch nobody else reaches.
 *
 * The keying object (GroupKeying in Rust; mls.js implements it with ts-mls,
 * the trace test with a symbolic model). Client ids and epochs are BigInt;
 * failures are thrown as E2eeError (wire.js) or anything with a string
 * `code` naming the Rust Error variant:
 *   async keyPackage() -> Uint8Array        fresh key package for our join request
 *   async checkKeyPackage(client, kp)       throws unless valid, our suite, credential names client
 *   async found()                           a group with only us (epoch 0), replacing any
 *   inGroup() -> boolean                    whether we hold a group
 *   epoch() -> BigInt                       current epoch (0n without a group)
 *   roster() -> [[leaf: number, client]]    members of the current epoch, by leaf
 *   ownLeaf() -> number | null              our leaf index
 *   async commit(adds: [[client, kp]], removes: [leaf])
 *         -> {commit: Uint8Array, welcome: Uint8Array | null}
 *                                           pending until mergeOwnCommit; welcome iff adds
 *   async mergeOwnCommit()                  our pending Commit was sequenced
 *   async discardOwnCommit()                our pending Commit lost
 *   async applyCommit(bytes) -> 'applied' | 'removed'
 *   async join(welcome)                     joins from a Welcome
 *   async safetyNumber() -> string | null   safety number of the current epoch
 *
 * Concurrency: handleBroadcast/handleMessage run one at a time, in call
 * order, on an internal promise chain, so a caller may fire them without
 * awaiting; poll* and the getters are synchronous and may be called at any
 * time (they see the state between two whole inputs only if the caller
 * awaits each handle call).
 */

import { E2eeError, commitRef, decodeGroupMessage, sameRef } from './wire.js';

/** Welcomes a joiner keeps while waiting for their Commits. */
export const MAX_STAGED_WELCOMES = 4;
/** Pending join requests a member tracks at most (more are refused). */
export const MAX_PENDING_JOINS = 1024;

/** A keying failure without a Rust variant name is an MLS failure. */
function asE2eeError(e) {
  if (e instanceof E2eeError) return e;
  if (e && typeof e.code === 'string') return e;
  return new E2eeError('Mls', String(e?.message ?? e));
}

/** One client's state machine for the designated-committer protocol. */
export class CallMember {
  constructor(me, keying) {
    this.me = me;
    this.keying = keying;
    /** 'joining' | 'member' | 'gone' */
    this._phase = 'joining';
    // Valid join requests not yet known to be in the group, in broadcast
    // order: joiners are added first come, first served, and client ids are
    // only ever compared for equality.
    this.requests = [];
    // Clients seen to leave that may still be (or become) in the group.
    this.departed = new Set();
    // CommitRef of our Commit waiting to be sequenced.
    this.inFlight = null;
    // Welcomes naming us, unprocessed: [CommitRef, welcome bytes].
    this.staged = [];
    this.transmits = [];
    this.events = [];
    this._tail = Promise.resolve();
  }

  /** A client `me` (BigInt) about to join: queues its join request. */
  static async join(me, keying) {
    if (typeof me !== 'bigint') throw new TypeError('client id must be a BigInt');
    const keyPackage = await keying.keyPackage();
    const m = new CallMember(me, keying);
    m.transmits.push({ type: 'join', client: me, keyPackage });
    return m;
  }

  /** Our client id. */
  get client() {
    return this.me;
  }

  /** Where we are: 'joining', 'member' or 'gone'. */
  get phase() {
    return this._phase;
  }

  /**
   * Whether we currently believe we are the committer: a member, and every
   * member with a smaller leaf index has been seen to leave.
   */
  isCommitter() {
    if (this._phase !== 'member') return false;
    const mine = this.keying.ownLeaf();
    if (mine === null || mine === undefined) return false;
    return this.keying
      .roster()
      .filter(([leaf]) => leaf < mine)
      .every(([, c]) => this.departed.has(c));
  }

  /** Join requests we would add if we were committer. */
  pendingAdds() {
    return this.requests.map(([c]) => c);
  }

  /** Members we would remove if we were committer. */
  pendingRemoves() {
    return this.keying
      .roster()
      .map(([, c]) => c)
      .filter((c) => this.departed.has(c));
  }

  /** Messages queued for the server. */
  queuedTransmits() {
    return this.transmits.length;
  }

  /** Next message to send to the server, in order (encode with wire.js). */
  pollTransmit() {
    return this.transmits.shift();
  }

  /** Next event for the application. */
  pollEvent() {
    return this.events.shift();
  }

  /** Feeds one message of the broadcast channel (encoded), in server order. */
  handleBroadcast(data) {
    return this._serial(async () => {
      let msg;
      try {
        msg = decodeGroupMessage(data);
      } catch (e) {
        this.events.push({ type: 'rejected', error: asE2eeError(e) });
        return;
      }
      await this._handle(msg);
    });
  }

  /** Feeds one already-decoded message of the broadcast channel. */
  handleMessage(msg) {
    return this._serial(() => this._handle(msg));
  }

  _serial(run) {
    const done = this._tail.then(run);
    // A failed input must not wedge the ones queued behind it.
    this._tail = done.catch(() => {});
    return done;
  }

  async _handle(msg) {
    if (this._phase === 'gone') return;
    try {
      switch (msg.type) {
        case 'join':
          await this._onJoinRequest(msg.client, msg.keyPackage);
          break;
        case 'left':
          this._onLeft(msg.client);
          break;
        case 'found':
          await this._onFound(msg.client);
          break;
        case 'welcome':
          if (this._phase === 'joining' && msg.joiners.includes(this.me)) {
            if (this.staged.length === MAX_STAGED_WELCOMES) this.staged.shift();
            this.staged.push([msg.commit, msg.welcome]);
          }
          break;
        case 'commit':
          await this._onCommit(msg.epoch, msg.commit);
          break;
        default:
          throw new E2eeError('MalformedGroupMessage');
      }
    } catch (e) {
      this.events.push({ type: 'rejected', error: asE2eeError(e) });
    }
    try {
      await this._maybeCommit();
    } catch (e) {
      this.events.push({ type: 'rejected', error: asE2eeError(e) });
    }
  }

  _inRoster(client) {
    return this.keying.roster().some(([, c]) => c === client);
  }

  async _onJoinRequest(client, keyPackage) {
    if (client === this.me || this.requests.some(([c]) => c === client) || this.departed.has(client)) {
      return;
    }
    if (this._phase === 'member' && this._inRoster(client)) return;
    if (this.requests.length >= MAX_PENDING_JOINS) {
      throw new E2eeError('KeyPackageRejected', 'too many pending join requests');
    }
    // Every member runs the same deterministic check, so all agree on which
    // requests are pending, and a bad key package cannot stall the committer.
    await this.keying.checkKeyPackage(client, keyPackage);
    this.requests.push([client, keyPackage]);
  }

  _onLeft(client) {
    if (client === this.me) {
      this._phase = 'gone';
      return;
    }
    this.requests = this.requests.filter(([c]) => c !== client);
    this.departed.add(client);
  }

  async _onFound(client) {
    // A new group replaces the old one: its Welcomes can never activate.
    this.staged = [];
    if (client !== this.me || this._phase !== 'joining') return;
    await this.keying.found();
    this._phase = 'member';
    await this._enteredEpoch();
  }

  async _onCommit(epoch, commit) {
    const r = await commitRef(commit);
    switch (this._phase) {
      case 'joining': {
        const pos = this.staged.findIndex(([c]) => sameRef(c, r));
        if (pos < 0) return;
        const [, welcome] = this.staged[pos];
        this.staged = [];
        await this.keying.join(welcome);
        this._phase = 'member';
        await this._enteredEpoch();
        return;
      }
      case 'member': {
        if (epoch !== this.keying.epoch()) return;
        if (this.inFlight !== null && sameRef(this.inFlight, r)) {
          this.inFlight = null;
          await this.keying.mergeOwnCommit();
        } else {
          if (this.inFlight !== null) {
            this.inFlight = null;
            await this.keying.discardOwnCommit();
          }
          if ((await this.keying.applyCommit(commit)) === 'removed') {
            this._phase = 'gone';
            this.events.push({ type: 'removed' });
            return;
          }
        }
        await this._enteredEpoch();
        return;
      }
      default:
        return;
    }
  }

  /** Bookkeeping after every epoch change. */
  async _enteredEpoch() {
    const roster = new Set(this.keying.roster().map(([, c]) => c));
    this.requests = this.requests.filter(([c]) => !roster.has(c));
    // A departure matters only while the client is a member or could be
    // added by a Commit already in flight; that Commit is the one just
    // applied (or it lost), so non-members can be forgotten now.
    for (const c of [...this.departed]) if (!roster.has(c)) this.departed.delete(c);
    const safetyNumber = await this.keying.safetyNumber();
    if (safetyNumber !== null && safetyNumber !== undefined) {
      this.events.push({ type: 'epochChanged', epoch: this.keying.epoch(), safetyNumber });
    }
  }

  async _maybeCommit() {
    if (this.inFlight !== null || !this.isCommitter()) return;
    const removes = this.keying.roster().filter(([, c]) => this.departed.has(c));
    if (this.requests.length === 0 && removes.length === 0) return;
    const adds = this.requests.map(([c, kp]) => [c, kp]);
    const added = adds.map(([c]) => c);
    const leaves = removes.map(([l]) => l);
    const epoch = this.keying.epoch();
    const { commit, welcome } = await this.keying.commit(adds, leaves);
    const r = await commitRef(commit);
    this.inFlight = r;
    if (welcome !== null && welcome !== undefined) {
      this.transmits.push({ type: 'welcome', commit: r, joiners: [...added], welcome });
    }
    this.transmits.push({
      type: 'commit',
      epoch,
      added,
      removed: removes.map(([, c]) => c),
      commit,
    });
  }
}
