/**
 * The safety number: what two people read to each other to know they are in
 * the same MLS epoch with the same members. Browser twin of
 * `sfu-e2ee/src/safety.rs`: the same thirty digits, formatted the same way
 * (checked against it by `sfu-e2ee/tests/committer_traces.rs`).
 */

const LABEL = new TextEncoder().encode('sfu-e2ee safety number v1');

/**
 * Six groups of five decimal digits, "ddddd ddddd ddddd ddddd ddddd ddddd",
 * from SHA-256("sfu-e2ee safety number v1" || authenticator): each group is
 * a 5-byte big-endian chunk of the digest modulo 100 000.
 */
export async function safetyNumberOf(epochAuthenticator) {
  const input = new Uint8Array(LABEL.length + epochAuthenticator.length);
  input.set(LABEL, 0);
  input.set(epochAuthenticator, LABEL.length);
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', input));
  const groups = [];
  for (let g = 0; g < 6; g++) {
    // 40 bits fit a double exactly, so plain arithmetic is exact here.
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + d[g * 5 + i];
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}
