//! The records of a datagram from a session's own path that a DTLS 1.2
//! client can have sent us, told from junk before dimpl sees them.
//!
//! dimpl queues a plaintext handshake record it cannot place yet (up to 30
//! datagrams, then it refuses every datagram with `ReceiveQueueFull`): 30
//! junk fragments in the middle of a handshake would leave no room for the
//! client's real flight. The rules below only drop what no client sends —
//! they are checks of form, not of authenticity: a forged fragment that
//! looks like the client's own still reaches dimpl.

/// Screens one session's datagrams; holds the rebuilt datagram and the
/// ChangeCipherSpec count.
#[derive(Debug, Default)]
pub struct Screen {
    /// The records of the last datagram the screen kept, when it dropped
    /// others.
    pub kept: Vec<u8>,
    /// ChangeCipherSpec records let through before the handshake completed.
    ccs_forwarded: u32,
}

impl Screen {
    /// Splits `datagram` into records and keeps those a DTLS 1.2 client
    /// can have sent (`connected`: its handshake with us is complete);
    /// when it drops any, the kept ones are copied, in order, into
    /// [`kept`](Self::kept).
    pub fn screen(&mut self, datagram: &[u8], connected: bool) -> Screened {
        let mut screened = Screened::default();
        let mut at = 0;
        while let Some(rest) = datagram.get(at..).filter(|r| !r.is_empty()) {
            // A header cut short, or a record longer than what is left: the
            // rest of the datagram is one broken record.
            let Some((record, _)) = record_len(rest).and_then(|len| rest.split_at_checked(len))
            else {
                screened.drop_record(&mut self.kept, datagram, at);
                break;
            };
            if screened.kept < MAX_RECORDS_PER_DATAGRAM && self.admits(record, connected) {
                screened.kept += 1;
                if screened.rebuilt {
                    self.kept.extend_from_slice(record);
                }
            } else {
                screened.drop_record(&mut self.kept, datagram, at);
            }
            at += record.len();
        }
        screened
    }

    /// Whether one whole record (header included) is one a DTLS 1.2
    /// client can send to this server.
    fn admits(&mut self, record: &[u8], connected: bool) -> bool {
        let Some((header, body)) = record.split_at_checked(RECORD_HEADER_LEN) else {
            return false;
        };
        let Ok([content_type, v0, v1, e0, e1, ..]) = <[u8; RECORD_HEADER_LEN]>::try_from(header)
        else {
            return false;
        };
        let version = u16::from_be_bytes([v0, v1]);
        if version != DTLS_1_0 && version != DTLS_1_2 {
            return false;
        }
        match (u16::from_be_bytes([e0, e1]), content_type) {
            // Protected: dimpl authenticates it (and discards what fails
            // once the handshake is done).
            (1, ALERT | HANDSHAKE | APPLICATION_DATA) => true,
            (0, CHANGE_CIPHER_SPEC) if body == [1] => {
                // One per transmission of the client's second flight is
                // legitimate; they are identical, so a few are enough and
                // more would only fill dimpl's queue.
                if connected {
                    return true;
                }
                self.ccs_forwarded = self.ccs_forwarded.saturating_add(1);
                self.ccs_forwarded <= MAX_CCS_BEFORE_CONNECTED
            }
            // An alert is two bytes: level (warning or fatal), description.
            (0, ALERT) => matches!(body, [1 | 2, _]),
            (0, HANDSHAKE) => is_client_handshake(body),
            // Plaintext application data, unknown content types, epochs a
            // DTLS 1.2 connection never reaches.
            _ => false,
        }
    }
}

/// DTLS record header: content type, version, epoch, sequence number,
/// length (RFC 6347 §4.1).
const RECORD_HEADER_LEN: usize = 13;
/// Handshake fragment header: type, length, message_seq, fragment offset,
/// fragment length (RFC 6347 §4.2.2).
const HANDSHAKE_HEADER_LEN: usize = 12;
const DTLS_1_0: u16 = 0xfeff;
const DTLS_1_2: u16 = 0xfefd;
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
/// The handshake messages a client sends in plaintext to this server:
/// ClientHello, Certificate, CertificateVerify, ClientKeyExchange (its
/// Finished is encrypted).
const CLIENT_HANDSHAKE_TYPES: [u8; 4] = [1, 11, 15, 16];
/// The highest message_seq of those: ClientHello 0 (1 after a
/// HelloVerifyRequest, which this server does not send), then Certificate,
/// ClientKeyExchange, CertificateVerify.
const MAX_CLIENT_MESSAGE_SEQ: u16 = 4;
/// The longest of those messages we accept: the certificate chain is the
/// long one, and a WebRTC peer sends one self-signed certificate of under
/// 2 KiB.
const MAX_CLIENT_MESSAGE_LEN: u32 = 16 * 1024;
/// dimpl parses at most this many records of a datagram and discards the
/// whole datagram past it.
const MAX_RECORDS_PER_DATAGRAM: u64 = 8;
/// ChangeCipherSpec records let through before the handshake completes.
const MAX_CCS_BEFORE_CONNECTED: u32 = 8;

/// What [`Screen::screen`] made of one datagram.
#[derive(Debug, Default)]
pub struct Screened {
    /// Records kept, to hand to dimpl.
    pub kept: u64,
    /// Records dropped.
    pub dropped: u64,
    /// Some were dropped: the kept ones are in [`Screen::kept`].
    pub rebuilt: bool,
}

impl Screened {
    /// Drops the record at `at` of `datagram`; on the first drop, `kept`
    /// starts over with the records before it.
    fn drop_record(&mut self, kept: &mut Vec<u8>, datagram: &[u8], at: usize) {
        if !self.rebuilt {
            kept.clear();
            kept.extend_from_slice(datagram.get(..at).unwrap_or_default());
            self.rebuilt = true;
        }
        self.dropped += 1;
    }
}

/// The length (header included) of the record at the start of `rest`, if
/// its header is whole and the record fits.
fn record_len(rest: &[u8]) -> Option<usize> {
    let header = rest.get(..RECORD_HEADER_LEN)?;
    let body = u16::from_be_bytes([*header.get(11)?, *header.get(12)?]);
    let len = RECORD_HEADER_LEN + usize::from(body);
    (len <= rest.len()).then_some(len)
}

/// Whether a plaintext handshake record's body is one or more whole
/// fragments of messages a client sends, each inside its message.
fn is_client_handshake(mut body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    while !body.is_empty() {
        let Some((header, rest)) = body.split_at_checked(HANDSHAKE_HEADER_LEN) else {
            return false;
        };
        let Ok([msg_type, l0, l1, l2, s0, s1, o0, o1, o2, f0, f1, f2]) =
            <[u8; HANDSHAKE_HEADER_LEN]>::try_from(header)
        else {
            return false;
        };
        let length = u32::from_be_bytes([0, l0, l1, l2]);
        let message_seq = u16::from_be_bytes([s0, s1]);
        let offset = u32::from_be_bytes([0, o0, o1, o2]);
        let fragment_len = u32::from_be_bytes([0, f0, f1, f2]);
        let plausible = CLIENT_HANDSHAKE_TYPES.contains(&msg_type)
            && message_seq <= MAX_CLIENT_MESSAGE_SEQ
            && length <= MAX_CLIENT_MESSAGE_LEN
            // No client message is empty, nor sent in empty fragments.
            && fragment_len > 0
            && offset + fragment_len <= length;
        let Some((_, rest)) = rest.split_at_checked(fragment_len as usize) else {
            return false;
        };
        if !plausible {
            return false;
        }
        body = rest;
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(content_type: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn fragment(msg_type: u8, length: u32, seq: u16, offset: u32, data: &[u8]) -> Vec<u8> {
        let mut h = vec![msg_type];
        h.extend_from_slice(&length.to_be_bytes()[1..]);
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&offset.to_be_bytes()[1..]);
        h.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        h.extend_from_slice(data);
        h
    }

    #[test]
    fn screen_keeps_what_a_client_sends_in_order_and_drops_the_rest() {
        let mut screen = Screen::default();
        let hello = record(HANDSHAKE, 0, &fragment(1, 40, 0, 0, &[7; 40]));
        let server_hello = record(HANDSHAKE, 0, &fragment(2, 40, 1, 0, &[7; 40]));
        let ccs = record(CHANGE_CIPHER_SPEC, 0, &[1]);
        let finished = record(HANDSHAKE, 1, &[9; 40]);

        let whole = [hello.clone(), ccs.clone(), finished.clone()].concat();
        let s = screen.screen(&whole, false);
        assert_eq!((s.kept, s.dropped, s.rebuilt), (3, 0, false));

        let mixed = [hello.clone(), server_hello, ccs.clone(), finished.clone()].concat();
        let s = screen.screen(&mixed, false);
        assert_eq!((s.kept, s.dropped, s.rebuilt), (3, 1, true));
        assert_eq!(screen.kept, [hello.clone(), ccs, finished].concat());

        // A record cut short ends the datagram.
        let cut = [hello.clone(), hello.clone()].concat();
        let s = screen.screen(&cut[..cut.len() - 1], false);
        assert_eq!((s.kept, s.dropped), (1, 1));
        assert_eq!(screen.kept, hello);

        // Past eight records dimpl would drop the whole datagram.
        let many = vec![hello; 10].concat();
        let s = screen.screen(&many, false);
        assert_eq!((s.kept, s.dropped), (8, 2));
    }

    #[test]
    fn client_handshake_fragments_are_told_from_impossible_ones() {
        let data = [0u8; 30];
        let ok = |f: Vec<u8>| is_client_handshake(&f);
        assert!(ok(fragment(1, 30, 0, 0, &data)));
        assert!(ok(fragment(11, 900, 1, 870, &data)));
        assert!(ok([
            fragment(16, 30, 2, 0, &data),
            fragment(15, 60, 3, 30, &data)
        ]
        .concat()));
        assert!(!ok(fragment(2, 30, 1, 0, &data)), "a server's message");
        assert!(!ok(fragment(99, 30, 1, 0, &data)), "an unknown type");
        assert!(
            !ok(fragment(11, 900, 5, 0, &data)),
            "past the client's flights"
        );
        assert!(
            !ok(fragment(11, 40, 1, 20, &data)),
            "past its message's end"
        );
        assert!(!ok(fragment(11, 900, 1, 0, &[])), "empty");
        assert!(!ok(fragment(11, 0xff_ffff, 1, 0, &data)), "too long");
        assert!(
            !ok(fragment(11, 900, 1, 0, &data)[..20].to_vec()),
            "cut short"
        );
        assert!(!ok(Vec::new()));
    }

    #[test]
    fn change_cipher_specs_before_the_handshake_are_bounded() {
        let mut screen = Screen::default();
        let ccs = record(CHANGE_CIPHER_SPEC, 0, &[1]);
        let let_through = (0..20).filter(|_| screen.admits(&ccs, false)).count();
        assert_eq!(let_through, MAX_CCS_BEFORE_CONNECTED as usize);
        assert!(!screen.admits(&record(CHANGE_CIPHER_SPEC, 0, &[1, 1]), false));
        assert!(!screen.admits(&record(APPLICATION_DATA, 0, &[1; 40]), false));
        assert!(!screen.admits(&record(HANDSHAKE, 2, &[1; 40]), false));
        assert!(
            screen.admits(&record(ALERT, 0, &[2, 40]), false),
            "the peer's fatal alert"
        );
        assert!(!screen.admits(&record(ALERT, 0, &[2, 40, 0]), false));
    }
}
