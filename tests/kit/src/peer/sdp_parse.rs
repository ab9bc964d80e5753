//! The SFU's descriptions (answers and offers) read through the `rtc-sdp`
//! grammar into what the peer needs: transport, and per section its mid,
//! direction, codecs, extension ids and SSRCs.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc_sdp::SessionDescription;
use rtc_sdp::description::common::Attribute;

use super::PeerError;
use super::sdp::{Codec, Direction, MediaKind};

/// The transport and sections of a description from the SFU.
#[derive(Debug, Clone)]
pub(crate) struct RemoteDescription {
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint: [u8; 32],
    pub setup: String,
    pub bundle: Vec<String>,
    pub sections: Vec<RemoteSection>,
}

/// One m-section from the SFU.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSection {
    pub mid: String,
    /// `None` for `m=application` and anything else the peer has no media for.
    pub kind: Option<MediaKind>,
    pub port: u16,
    pub direction: Direction,
    pub codecs: Vec<Codec>,
    pub extensions: Vec<(u8, String)>,
    /// `a=ssrc` SSRCs in first-seen order.
    pub ssrcs: Vec<u32>,
    /// `a=ssrc-group:FID` (media, rtx) pairs.
    pub fid: Vec<(u32, u32)>,
    pub candidates: Vec<SocketAddr>,
}

impl RemoteSection {
    /// The first media codec.
    pub fn media_codec(&self) -> Option<&Codec> {
        self.codecs.iter().find(|c| c.is_media())
    }

    /// The RTX format repairing `pt`.
    pub fn rtx_for(&self, pt: u8) -> Option<&Codec> {
        self.codecs
            .iter()
            .find(|c| c.is_rtx() && c.apt() == Some(pt))
    }

    /// The SFU's media SSRCs with their RTX SSRCs: FID pairs first, then
    /// SSRCs named in no pair.
    pub fn streams(&self) -> Vec<(u32, Option<u32>)> {
        let mut out: Vec<(u32, Option<u32>)> =
            self.fid.iter().map(|(p, r)| (*p, Some(*r))).collect();
        for s in &self.ssrcs {
            if !self.fid.iter().any(|(p, r)| p == s || r == s) {
                out.push((*s, None));
            }
        }
        out
    }
}

/// At most this many m-sections are read from one description.
const MAX_SECTIONS: usize = 64;

fn invalid(what: &str) -> PeerError {
    PeerError::InvalidSdp(what.to_owned())
}

fn value<'a>(attributes: &'a [Attribute], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_deref())
}

/// `AA:BB:..` (32 bytes) after `sha-256 `.
fn parse_fingerprint(text: &str) -> Result<[u8; 32], PeerError> {
    let (hash, hex) = text
        .split_once(' ')
        .ok_or_else(|| invalid("a=fingerprint without a hash function"))?;
    if !hash.eq_ignore_ascii_case("sha-256") {
        return Err(PeerError::InvalidSdp(format!(
            "fingerprint hash {hash}, only sha-256 is supported"
        )));
    }
    let bytes: Vec<u8> = hex
        .trim()
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| invalid("a=fingerprint is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| invalid("a=fingerprint is not 32 bytes"))
}

/// A UDP candidate with an IP literal (`foundation comp udp prio ip port typ ...`).
fn parse_candidate(text: &str) -> Option<SocketAddr> {
    let t: Vec<&str> = text.split_whitespace().collect();
    if !t.get(2)?.eq_ignore_ascii_case("udp") {
        return None;
    }
    let ip: IpAddr = t.get(4)?.parse().ok()?;
    let port: u16 = t.get(5)?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

fn parse_codecs(formats: &[String], attributes: &[Attribute]) -> Vec<Codec> {
    let mut codecs = Vec::new();
    for f in formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let prefix = format!("{pt} ");
        let rtpmap = attributes
            .iter()
            .filter(|a| a.key == "rtpmap")
            .find_map(|a| a.value.as_deref()?.strip_prefix(&prefix));
        let Some(rtpmap) = rtpmap else { continue };
        let mut parts = rtpmap.trim().split('/');
        let name = parts.next().unwrap_or_default().to_owned();
        let clock_rate = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let channels = parts.next().and_then(|c| c.parse().ok());
        let fmtp = attributes
            .iter()
            .filter(|a| a.key == "fmtp")
            .find_map(|a| a.value.as_deref()?.strip_prefix(&prefix))
            .map(|v| v.trim().to_owned());
        let feedback = attributes
            .iter()
            .filter(|a| a.key == "rtcp-fb")
            .filter_map(|a| a.value.as_deref()?.strip_prefix(&prefix))
            .map(|v| v.trim().to_owned())
            .collect();
        codecs.push(Codec {
            pt,
            name,
            clock_rate,
            channels,
            fmtp,
            feedback,
        });
    }
    codecs
}

impl RemoteDescription {
    /// Parses SDP text from the SFU.
    pub(crate) fn parse(text: &str) -> Result<Self, PeerError> {
        let raw = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
            .map_err(|e| PeerError::InvalidSdp(e.to_string()))?;
        if raw.media_descriptions.len() > MAX_SECTIONS {
            return Err(PeerError::InvalidSdp(format!(
                "{} m-sections, at most {MAX_SECTIONS} are read",
                raw.media_descriptions.len()
            )));
        }
        let session = &raw.attributes;
        let bundle: Vec<String> = value(session, "group")
            .and_then(|g| g.strip_prefix("BUNDLE"))
            .map(|g| g.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut transport: (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = (
            value(session, "ice-ufrag").map(str::to_owned),
            value(session, "ice-pwd").map(str::to_owned),
            value(session, "fingerprint").map(str::to_owned),
            value(session, "setup").map(str::to_owned),
        );
        let mut sections = Vec::new();
        for md in &raw.media_descriptions {
            let a = &md.attributes;
            let mid = value(a, "mid")
                .ok_or_else(|| invalid("an m-section has no a=mid"))?
                .to_owned();
            let port = u16::try_from(md.media_name.port.value).unwrap_or(0);
            // Transport attributes come from the first live bundled section.
            if port != 0 && (bundle.is_empty() || bundle.first() == Some(&mid)) {
                let pick = |key: &str, slot: &mut Option<String>| {
                    if let Some(v) = value(a, key) {
                        slot.get_or_insert_with(|| v.to_owned());
                    }
                };
                pick("ice-ufrag", &mut transport.0);
                pick("ice-pwd", &mut transport.1);
                pick("fingerprint", &mut transport.2);
                pick("setup", &mut transport.3);
            }
            let kind = match md.media_name.media.as_str() {
                "audio" => Some(MediaKind::Audio),
                "video" => Some(MediaKind::Video),
                _ => None,
            };
            let direction = a
                .iter()
                .find_map(|x| Direction::parse(&x.key))
                .unwrap_or(Direction::SendRecv);
            let extensions = a
                .iter()
                .filter(|x| x.key == "extmap")
                .filter_map(|x| {
                    let (id, rest) = x.value.as_deref()?.split_once(' ')?;
                    let id: u8 = id.split('/').next()?.parse().ok()?;
                    Some((id, rest.split_whitespace().next()?.to_owned()))
                })
                .collect();
            let mut ssrcs = Vec::new();
            for x in a.iter().filter(|x| x.key == "ssrc") {
                let ssrc = x
                    .value
                    .as_deref()
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(|| invalid("a=ssrc without an SSRC"))?;
                if !ssrcs.contains(&ssrc) {
                    ssrcs.push(ssrc);
                }
            }
            let fid = a
                .iter()
                .filter(|x| x.key == "ssrc-group")
                .filter_map(|x| {
                    let mut t = x.value.as_deref()?.split_whitespace();
                    (t.next()? == "FID").then_some(())?;
                    Some((t.next()?.parse().ok()?, t.next()?.parse().ok()?))
                })
                .collect();
            let candidates = a
                .iter()
                .filter(|x| x.key == "candidate")
                .filter_map(|x| parse_candidate(x.value.as_deref()?))
                .collect();
            sections.push(RemoteSection {
                mid,
                kind,
                port,
                direction,
                codecs: parse_codecs(&md.media_name.formats, a),
                extensions,
                ssrcs,
                fid,
                candidates,
            });
        }
        let (ufrag, pwd, fingerprint, setup) = transport;
        Ok(RemoteDescription {
            ufrag: ufrag.ok_or_else(|| invalid("no a=ice-ufrag"))?,
            pwd: pwd.ok_or_else(|| invalid("no a=ice-pwd"))?,
            fingerprint: parse_fingerprint(
                &fingerprint.ok_or_else(|| invalid("no a=fingerprint"))?,
            )?,
            setup: setup.ok_or_else(|| invalid("no a=setup"))?,
            bundle,
            sections,
        })
    }

    /// The first candidate (in section order) of `family`'s address family.
    pub(crate) fn candidate_for(&self, family: &SocketAddr) -> Option<SocketAddr> {
        self.sections
            .iter()
            .flat_map(|s| s.candidates.iter())
            .find(|c| c.is_ipv4() == family.is_ipv4())
            .copied()
    }
}
