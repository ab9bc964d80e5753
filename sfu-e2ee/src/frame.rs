//! Frame encryption for a call: SFrame with codec clear bytes on the send
//! side; a key ring with per-sender replay windows and an epoch grace period
//! on the receive side.

use std::time::{Duration, Instant};

use crate::Error;
use crate::codec::{self, Codec, Piece, Scratch};
use crate::sframe::{Header, ReplayWindow, SframeKey};

/// How long keys of the previous epoch keep decrypting after a new epoch is
/// installed, so frames in flight across the change still play.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Encrypts the local sender's frames. Reuses its buffers: after the first
/// frames of a size, encrypting allocates nothing.
#[derive(Debug, Default)]
pub struct FrameEncryptor {
    key: Option<SframeKey>,
    next_ctr: u64,
    scratch: Scratch,
    obus: Vec<codec::Obu>,
}

impl FrameEncryptor {
    /// An encryptor with no key yet ([`Self::encrypt`] fails until one is set).
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches to `key` (a new epoch's key); its counter starts at 0, which is
    /// safe because every epoch has a fresh key.
    pub fn set_key(&mut self, key: SframeKey) {
        self.key = Some(key);
        self.next_ctr = 0;
    }

    /// The KID frames are currently sent under.
    pub fn kid(&self) -> Option<u64> {
        self.key.as_ref().map(SframeKey::kid)
    }

    /// Writes the protected form of `frame` into `out` (cleared first).
    pub fn encrypt(&mut self, codec: Codec, frame: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let key = self.key.as_ref().ok_or(Error::NoSendKey)?;
        let ctr = self.next_ctr;
        self.next_ctr = ctr.checked_add(1).ok_or(Error::CounterExhausted)?;
        out.clear();
        match codec::clear_prefix_len(codec, frame)? {
            Some(n) => {
                let clear = frame.get(..n).ok_or(Error::FrameTooShort)?;
                let rest = frame.get(n..).ok_or(Error::FrameTooShort)?;
                out.extend_from_slice(clear);
                key.seal(ctr, clear, rest, out)
            }
            None if codec == Codec::H264 => encrypt_h264(key, ctr, frame, &mut self.scratch, out),
            None => encrypt_av1(key, ctr, frame, &mut self.scratch, &mut self.obus, out),
        }
    }
}

fn slice(frame: &[u8], s: usize, e: usize) -> Result<&[u8], Error> {
    frame.get(s..e).ok_or(Error::FrameTooShort)
}

/// Lengths of the protected segments: payload lengths plus the SFrame header
/// on the first and the tag on the last.
fn segment_lengths(payloads: &mut [usize], hlen: usize, tag: usize) {
    if let Some(first) = payloads.first_mut() {
        *first += hlen;
    }
    if let Some(last) = payloads.last_mut() {
        *last += tag;
    }
}

fn encrypt_h264(
    key: &SframeKey,
    ctr: u64,
    frame: &[u8],
    s: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    codec::h264_pieces(frame, &mut s.pieces)?;
    s.metadata.clear();
    s.plain.clear();
    s.seg_lens.clear();
    for p in &s.pieces {
        match *p {
            Piece::Clear(a, b) => s.metadata.extend_from_slice(slice(frame, a, b)?),
            Piece::Protected(a, b) => {
                s.plain.extend_from_slice(slice(frame, a, b)?);
                s.seg_lens.push(b - a);
            }
        }
    }
    if s.seg_lens.is_empty() {
        return Err(Error::NothingToEncrypt);
    }
    s.body.clear();
    key.seal(ctr, &s.metadata, &s.plain, &mut s.body)?;
    segment_lengths(
        &mut s.seg_lens,
        Header::new(key.kid(), ctr).len(),
        key.suite().tag_len(),
    );
    let (mut pos, mut k) = (0, 0);
    for p in &s.pieces {
        match *p {
            Piece::Clear(a, b) => out.extend_from_slice(slice(frame, a, b)?),
            Piece::Protected(..) => {
                let len = *s.seg_lens.get(k).ok_or(Error::MalformedH264)?;
                codec::escape_into(slice(&s.body, pos, pos + len)?, out);
                out.push(codec::H264_TRAILER);
                pos += len;
                k += 1;
            }
        }
    }
    Ok(())
}

fn parse_obus(frame: &[u8], obus: &mut Vec<codec::Obu>) -> Result<(), Error> {
    obus.clear();
    let mut at = 0;
    while at < frame.len() {
        let obu = codec::parse_obu(frame, at)?;
        if !obu.has_size && obu.end != frame.len() {
            return Err(Error::MalformedAv1);
        }
        at = obu.end;
        obus.push(obu);
    }
    Ok(())
}

fn encrypt_av1(
    key: &SframeKey,
    ctr: u64,
    frame: &[u8],
    s: &mut Scratch,
    obus: &mut Vec<codec::Obu>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    parse_obus(frame, obus)?;
    s.plain.clear();
    s.seg_lens.clear();
    for o in obus.iter().filter(|o| o.protected) {
        s.plain
            .extend_from_slice(slice(frame, o.payload_start, o.end)?);
        s.seg_lens.push(o.end - o.payload_start);
    }
    if s.seg_lens.is_empty() {
        return Err(Error::NothingToEncrypt);
    }
    segment_lengths(
        &mut s.seg_lens,
        Header::new(key.kid(), ctr).len(),
        key.suite().tag_len(),
    );
    // Pass 1: the clear bytes as they will appear (headers, rewritten sizes,
    // clear OBUs) are the metadata. Pass 2 writes the frame.
    s.metadata.clear();
    write_av1(frame, obus, &s.seg_lens, None, &mut s.metadata)?;
    s.body.clear();
    key.seal(ctr, &s.metadata, &s.plain, &mut s.body)?;
    write_av1(frame, obus, &s.seg_lens, Some(&s.body), out)
}

/// Writes OBUs with protected payloads of `seg_lens` taken from `body`
/// (`None`: write only the clear bytes, i.e. the metadata).
fn write_av1(
    frame: &[u8],
    obus: &[codec::Obu],
    seg_lens: &[usize],
    body: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let (mut pos, mut k) = (0, 0);
    for o in obus {
        out.extend_from_slice(slice(frame, o.start, o.header_end)?);
        let len = if o.protected {
            *seg_lens.get(k).ok_or(Error::MalformedAv1)?
        } else {
            o.end - o.payload_start
        };
        if o.has_size {
            codec::write_leb128(len as u64, out);
        }
        if !o.protected {
            out.extend_from_slice(slice(frame, o.payload_start, o.end)?);
        } else {
            if let Some(body) = body {
                out.extend_from_slice(slice(body, pos, pos + len)?);
            }
            pos += len;
            k += 1;
        }
    }
    Ok(())
}

/// One receive key: the SFrame key of one sender in one epoch.
#[derive(Debug, Clone)]
struct RingEntry {
    key: SframeKey,
    epoch: u64,
    window: ReplayWindow,
    /// `None` while its epoch is current; set when a newer epoch arrives.
    expires: Option<Instant>,
}

/// Receive keys of the current epoch and, for a grace period, the previous one.
#[derive(Debug, Clone)]
pub struct KeyRing {
    entries: Vec<RingEntry>,
    grace: Duration,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self::new(DEFAULT_GRACE)
    }
}

impl KeyRing {
    /// An empty ring whose previous-epoch keys live for `grace`.
    pub fn new(grace: Duration) -> Self {
        Self {
            entries: Vec::new(),
            grace,
        }
    }

    /// Installs the keys of `epoch`. Keys of the epoch that was current start
    /// their grace period; keys of anything older are dropped now.
    pub fn install_epoch(
        &mut self,
        now: Instant,
        epoch: u64,
        keys: impl IntoIterator<Item = SframeKey>,
    ) {
        self.entries
            .retain(|e| e.expires.is_none() && e.epoch != epoch);
        let until = now + self.grace;
        for e in &mut self.entries {
            e.expires = Some(until);
        }
        self.entries.extend(keys.into_iter().map(|key| RingEntry {
            key,
            epoch,
            window: ReplayWindow::default(),
            expires: None,
        }));
    }

    /// Drops keys whose grace period is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.entries.retain(|e| e.expires.is_none_or(|t| t > now));
    }

    /// When the next previous-epoch key expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|e| e.expires).min()
    }

    /// Number of installed keys (current plus grace).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is installed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&mut self, now: Instant, kid: u64) -> Result<&mut RingEntry, Error> {
        // Current epoch first: KIDs of two epochs differ in their epoch bits,
        // but an epoch counter that wrapped its bits must not pick the old key.
        let idx = self
            .entries
            .iter()
            .position(|e| e.key.kid() == kid && e.expires.is_none())
            .or_else(|| self.entries.iter().position(|e| e.key.kid() == kid))
            .ok_or(Error::UnknownKeyId(kid))?;
        let e = self.entries.get_mut(idx).ok_or(Error::UnknownKeyId(kid))?;
        if e.expires.is_some_and(|t| t <= now) {
            return Err(Error::KeyExpired(kid));
        }
        Ok(e)
    }

    /// Checks replay, authenticates and decrypts one SFrame ciphertext.
    fn open(
        &mut self,
        now: Instant,
        metadata: &[u8],
        sframe: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Header, Error> {
        let (header, hlen) = Header::decode(sframe)?;
        let e = self.entry(now, header.kid)?;
        if !e.window.check(header.ctr) {
            return Err(Error::Replayed {
                kid: header.kid,
                ctr: header.ctr,
            });
        }
        e.key.open(header, hlen, metadata, sframe, out)?;
        e.window.accept(header.ctr);
        Ok(header)
    }
}

/// Decrypts frames of every sender in the call.
#[derive(Debug, Default)]
pub struct FrameDecryptor {
    ring: KeyRing,
    scratch: Scratch,
    obus: Vec<codec::Obu>,
}

impl FrameDecryptor {
    /// A decryptor whose previous-epoch keys live for `grace`.
    pub fn new(grace: Duration) -> Self {
        Self {
            ring: KeyRing::new(grace),
            ..Self::default()
        }
    }

    /// The key ring, to install epochs and drive its timeout.
    pub fn keys(&mut self) -> &mut KeyRing {
        &mut self.ring
    }

    /// Writes the original frame of `protected` into `out` (cleared first) and
    /// returns its SFrame header (KID names the sender and epoch).
    pub fn decrypt(
        &mut self,
        now: Instant,
        codec: Codec,
        protected: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Header, Error> {
        out.clear();
        match codec::clear_prefix_len(codec, protected)? {
            Some(n) => {
                let clear = protected.get(..n).ok_or(Error::FrameTooShort)?;
                let sframe = protected.get(n..).ok_or(Error::FrameTooShort)?;
                let s = &mut self.scratch;
                let h = self.ring.open(now, clear, sframe, &mut s.plain)?;
                out.extend_from_slice(clear);
                out.extend_from_slice(&s.plain);
                Ok(h)
            }
            None if codec == Codec::H264 => self.decrypt_h264(now, protected, out),
            None => self.decrypt_av1(now, protected, out),
        }
    }

    fn decrypt_h264(
        &mut self,
        now: Instant,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Header, Error> {
        let s = &mut self.scratch;
        codec::h264_pieces(frame, &mut s.pieces)?;
        s.metadata.clear();
        s.body.clear();
        s.seg_lens.clear();
        for p in &s.pieces {
            match *p {
                Piece::Clear(a, b) => s.metadata.extend_from_slice(slice(frame, a, b)?),
                Piece::Protected(a, b) => {
                    let seg = slice(frame, a, b)?;
                    let (trailer, escaped) = seg.split_last().ok_or(Error::MalformedH264)?;
                    if *trailer != codec::H264_TRAILER {
                        return Err(Error::MalformedH264);
                    }
                    let before = s.body.len();
                    codec::unescape_into(escaped, &mut s.body);
                    s.seg_lens.push(s.body.len() - before);
                }
            }
        }
        if s.seg_lens.is_empty() {
            return Err(Error::NothingToEncrypt);
        }
        let h = self.ring.open(now, &s.metadata, &s.body, &mut s.plain)?;
        payload_lengths(&mut s.seg_lens, h, s.plain.len())?;
        let (mut pos, mut k) = (0, 0);
        for p in &s.pieces {
            match *p {
                Piece::Clear(a, b) => out.extend_from_slice(slice(frame, a, b)?),
                Piece::Protected(..) => {
                    let len = *s.seg_lens.get(k).ok_or(Error::MalformedH264)?;
                    out.extend_from_slice(slice(&s.plain, pos, pos + len)?);
                    pos += len;
                    k += 1;
                }
            }
        }
        Ok(h)
    }

    fn decrypt_av1(
        &mut self,
        now: Instant,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Header, Error> {
        let s = &mut self.scratch;
        parse_obus(frame, &mut self.obus)?;
        s.metadata.clear();
        s.body.clear();
        s.seg_lens.clear();
        for o in &self.obus {
            s.metadata
                .extend_from_slice(slice(frame, o.start, o.payload_start)?);
            let payload = slice(frame, o.payload_start, o.end)?;
            if o.protected {
                s.body.extend_from_slice(payload);
                s.seg_lens.push(payload.len());
            } else {
                s.metadata.extend_from_slice(payload);
            }
        }
        if s.seg_lens.is_empty() {
            return Err(Error::NothingToEncrypt);
        }
        let h = self.ring.open(now, &s.metadata, &s.body, &mut s.plain)?;
        payload_lengths(&mut s.seg_lens, h, s.plain.len())?;
        write_av1_plain(frame, &self.obus, &s.seg_lens, &s.plain, out)?;
        Ok(h)
    }
}

/// Turns protected segment lengths back into plaintext payload lengths.
fn payload_lengths(segs: &mut [usize], h: Header, plain_len: usize) -> Result<(), Error> {
    let hlen = h.len();
    let total: usize = segs.iter().sum();
    let tag = total
        .checked_sub(hlen + plain_len)
        .ok_or(Error::CiphertextTruncated)?;
    if let Some(first) = segs.first_mut() {
        *first = first.checked_sub(hlen).ok_or(Error::CiphertextTruncated)?;
    }
    if let Some(last) = segs.last_mut() {
        *last = last.checked_sub(tag).ok_or(Error::CiphertextTruncated)?;
    }
    Ok(())
}

fn write_av1_plain(
    frame: &[u8],
    obus: &[codec::Obu],
    lens: &[usize],
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let (mut pos, mut k) = (0, 0);
    for o in obus {
        out.extend_from_slice(slice(frame, o.start, o.header_end)?);
        if o.protected {
            let len = *lens.get(k).ok_or(Error::MalformedAv1)?;
            if o.has_size {
                codec::write_leb128(len as u64, out);
            }
            out.extend_from_slice(slice(plain, pos, pos + len)?);
            pos += len;
            k += 1;
        } else {
            out.extend_from_slice(slice(frame, o.header_end, o.end)?);
        }
    }
    Ok(())
}
