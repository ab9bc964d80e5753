/**
 * Replays traces of the Rust designated-committer protocol
 * (`sfu-e2ee/src/committer.rs`, `wire.rs`, `safety.rs`, recorded by
 * `sfu-e2ee/tests/committer_traces.rs` and `group_messages_match_js.rs`)
 * through their browser twins in `examples/server/pages/e2ee/`, over the JS
 * port of the symbolic MLS model (e2ee_model.js).
 *
 * Usage: node tests/browser/e2ee_traces.mjs <trace.jsonl>
 *
 * Each line is one of
 * - a schedule: {seed, log: [hex], clients: [{id, from, phases, out}]}:
 *   client `id` was constructed with CallMember.join (input 0) and then read
 *   log[from], log[from + 1], ... (input k is log[from + k - 1]); `phases`
 *   has one letter per input (j joining, m member, c committer, g gone) and
 *   `out` lists [input, [transmit hex], [event], state?] for inputs with
 *   output, `state` (hex FNV of the model's group and pending group) where
 *   it changed;
 * - a wire case: {wire: hex, ok, desc}: whether GroupMessage::decode
 *   accepts the bytes and, if so, what it decoded them to.
 * Every output of the JS twin must equal the Rust one; the first difference
 * is printed as `divergence: ...` and the exit status is 1.
 */

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CallMember } from '../../examples/server/pages/e2ee/committer.js';
import { decodeGroupMessage, encodeGroupMessage } from '../../examples/server/pages/e2ee/wire.js';
import { ModelKeying, stateOf } from './e2ee_model.js';

const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
// A plain Uint8Array, as a browser would hand over (not a Buffer).
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));

// Long fields (a 4 096-id list, a 1 MiB key package) are cut in reports.
const clip = (s, n = 240) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

const firstDiff = (x, y) => {
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  return `, first difference at char ${i}`;
};

class Divergence extends Error {}

const stats = {
  schedules: 0,
  clients: 0,
  inputs: 0,
  transmits: 0,
  events: 0,
  phases: 0,
  states: 0,
  wire: 0,
  accepted: 0,
  rejected: 0,
};

const PHASE = { joining: 'j', gone: 'g' };
const phaseOf = (m) => (m.phase === 'member' ? (m.isCommitter() ? 'c' : 'm') : PHASE[m.phase] ?? `?${m.phase}`);

function eventJson(e) {
  switch (e.type) {
    case 'epochChanged':
      return ['epoch', e.epoch.toString(), e.safetyNumber];
    case 'removed':
      return ['removed'];
    case 'rejected':
      return ['rejected', [e.error.code, e.error.detail ?? null, e.error.message]];
    default:
      return ['unknown', JSON.stringify(e)];
  }
}

function compareList(where, what, expected, got) {
  const n = Math.max(expected.length, got.length);
  for (let i = 0; i < n; i++) {
    const x = JSON.stringify(expected[i] ?? null);
    const y = JSON.stringify(got[i] ?? null);
    if (x !== y) throw new Divergence(`${where}: ${what} #${i}: expected ${clip(x)} got ${clip(y)}${firstDiff(x, y)}`);
  }
}

async function replaySchedule(s) {
  const log = s.log.map(bytes);
  for (const c of s.clients) {
    const id = BigInt(c.id);
    const m = await CallMember.join(id, new ModelKeying(id));
    let next = 0;
    let state = '0000000000000000';
    // Transmits stay queued, as in the Rust world between its Send steps,
    // so a message queued out of order shows: each input's count is checked
    // here, the messages in queue order when the client's trace ends.
    const queued = [];
    for (let k = 0; k < c.phases.length; k++) {
      let input = 'join';
      if (k > 0) {
        const entry = log[c.from + k - 1];
        if (entry === undefined) throw new Divergence(`schedule ${s.seed}, client ${c.id}: input ${k} not in the log`);
        input = hex(entry);
        await m.handleBroadcast(entry);
      }
      const where = `schedule ${s.seed}, client ${c.id}, step ${k} (input ${clip(input, 160)})`;
      const events = [];
      for (let e = m.pollEvent(); e !== undefined; e = m.pollEvent()) events.push(eventJson(e));
      const out = c.out[next]?.[0] === k ? c.out[next++] : [k, [], []];
      for (const t of out[1]) queued.push([where, t]);
      if (m.queuedTransmits() !== queued.length) {
        throw new Divergence(`${where}: ${out[1].length} transmits expected, queue went to ${m.queuedTransmits()} of ${queued.length}`);
      }
      compareList(where, 'event', out[2], events);
      const phase = phaseOf(m);
      if (phase !== c.phases[k]) throw new Divergence(`${where}: phase expected ${c.phases[k]} got ${phase}`);
      // The keying's group and pending Commit, when the Rust side saw them change.
      if (out[3] !== undefined) {
        state = out[3];
        stats.states += 1;
      }
      const gotState = stateOf(m.keying);
      if (gotState !== state) throw new Divergence(`${where}: keying state expected ${state} got ${gotState}`);
      stats.inputs += 1;
      stats.transmits += out[1].length;
      stats.events += out[2].length;
      stats.phases += 1;
    }
    for (const [where, t] of queued) {
      const got = m.pollTransmit();
      compareList(where, 'transmit', [t], got === undefined ? [] : [hex(encodeGroupMessage(got))]);
    }
    if (next !== c.out.length) {
      throw new Divergence(`schedule ${s.seed}, client ${c.id}: output for input ${c.out[next][0]} never reached`);
    }
    stats.clients += 1;
  }
  stats.schedules += 1;
}

/** What a decoded message is, in the same words as the Rust side writes. */
function describe(m) {
  const ids = (l) => l.join(',');
  switch (m.type) {
    case 'join':
      return `join ${m.client} ${hex(m.keyPackage)}`;
    case 'left':
    case 'found':
      return `${m.type} ${m.client}`;
    case 'welcome':
      return `welcome ${hex(m.commit)} ${ids(m.joiners)} ${hex(m.welcome)}`;
    case 'commit':
      return `commit ${m.epoch} ${ids(m.added)} ${ids(m.removed)} ${hex(m.commit)}`;
  }
  return `?${m.type}`;
}

function checkWire(w, line) {
  const where = `wire case at line ${line} (${clip(w.wire, 80)})`;
  let msg;
  try {
    msg = decodeGroupMessage(bytes(w.wire));
  } catch (e) {
    if (e.code !== 'MalformedGroupMessage') throw new Divergence(`${where}: threw ${e}`);
    if (w.ok) throw new Divergence(`${where}: expected accepted (${clip(w.desc)}) got rejected`);
    stats.wire += 1;
    stats.rejected += 1;
    return;
  }
  if (!w.ok) throw new Divergence(`${where}: expected rejected got accepted as ${clip(describe(msg))}`);
  const desc = describe(msg);
  if (desc !== w.desc) throw new Divergence(`${where}: expected ${clip(w.desc)} got ${clip(desc)}${firstDiff(w.desc, desc)}`);
  const again = hex(encodeGroupMessage(msg));
  if (again !== w.wire) throw new Divergence(`${where}: re-encoded to ${clip(again)}`);
  stats.wire += 1;
  stats.accepted += 1;
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node e2ee_traces.mjs <trace.jsonl>');
    process.exit(2);
  }
  const started = Date.now();
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n += 1;
    if (line.trim() === '') continue;
    const v = JSON.parse(line);
    if (typeof v.wire === 'string') checkWire(v, n);
    else await replaySchedule(v);
  }
  const s = stats;
  console.log(
    `e2ee traces: ${s.schedules} schedules, ${s.clients} clients, ${s.inputs} inputs, ` +
      `${s.transmits + s.events} outputs compared (${s.transmits} transmits, ${s.events} events), ` +
      `${s.phases} phases and ${s.states} keying states checked, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log(`e2ee wire: ${s.wire} cases, ${s.accepted} accepted, ${s.rejected} rejected`);
  console.log('e2ee traces ok');
}

main().catch((e) => {
  if (e instanceof Divergence) {
    console.log(`divergence: ${e.message}`);
  } else {
    console.log(`error: ${e.stack ?? e}`);
  }
  process.exit(1);
});
