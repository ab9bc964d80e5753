//! SDP text to [`Description`]: bounds first, then the `rtc-sdp` grammar,
//! then our own strict reading of the attributes WebRTC uses.

use std::io::Cursor;

use rtc_sdp::description::common::Attribute;
use rtc_sdp::{MediaDescription, SessionDescription};

use super::attributes::*;
use super::error::{SdpError, malformed, quote};
use super::limits::*;
use super::model::*;

impl Description {
    /// Parses a session description (offer or answer) from untrusted text.
    ///
    /// Checks the structure every WebRTC description needs (each m-section
    /// has a unique mid, payload types are numbers, attributes follow their
    /// grammar) and every size bound in [`limits`](super::limits); it does not
    /// apply offer/answer rules, which [`super::PublishOffer`] and the other
    /// negotiation types add.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        check_bounds(text)?;
        let raw = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
            .map_err(|e| SdpError::Syntax(quote(&e.to_string())))?;
        if raw.media_descriptions.len() > MAX_MEDIA_SECTIONS {
            return Err(SdpError::TooMany {
                what: "m-sections",
                limit: MAX_MEDIA_SECTIONS,
            });
        }

        let session = read_transport(&raw.attributes)?;
        let mut bundle = Vec::new();
        let mut bundle_groups = 0;
        for attr in raw.attributes.iter().filter(|a| a.key == "group") {
            let mut tokens = value(attr).split_whitespace();
            if tokens.next() != Some("BUNDLE") {
                continue;
            }
            bundle_groups += 1;
            if bundle_groups > 1 {
                return Err(SdpError::TooMany {
                    what: "BUNDLE groups",
                    limit: 1,
                });
            }
            for mid in tokens {
                if bundle.len() >= MAX_MEDIA_SECTIONS {
                    return Err(SdpError::TooMany {
                        what: "mids in the BUNDLE group",
                        limit: MAX_MEDIA_SECTIONS,
                    });
                }
                bundle.push(token("group", mid)?.to_owned());
            }
        }

        let mut sections = Vec::with_capacity(raw.media_descriptions.len());
        let mut transports = Vec::with_capacity(raw.media_descriptions.len());
        for (index, media) in raw.media_descriptions.iter().enumerate() {
            let (section, transport) = read_section(index, media)?;
            if sections.iter().any(|s: &MediaSection| s.mid == section.mid) {
                return Err(SdpError::DuplicateMid { mid: section.mid });
            }
            sections.push(section);
            transports.push(transport);
        }

        // Under BUNDLE the transport is described by the first bundled
        // section (RFC 8843 "offerer/answerer tagged"); without BUNDLE, by
        // the first section that is not rejected.
        let tagged = Description::tagged_index(&sections, &bundle);
        let media = tagged
            .and_then(|i| transports.into_iter().nth(i))
            .unwrap_or_default();
        let transport = Transport {
            ice_ufrag: media.ice_ufrag.or(session.ice_ufrag),
            ice_pwd: media.ice_pwd.or(session.ice_pwd),
            fingerprint: media.fingerprint.or(session.fingerprint),
            setup: media.setup.or(session.setup),
        };
        let ice = match (transport.ice_ufrag, transport.ice_pwd) {
            (Some(ufrag), Some(pwd)) => Some(IceParameters { ufrag, pwd }),
            _ => None,
        };

        Ok(Description {
            session_id: raw.origin.session_id,
            session_version: raw.origin.session_version,
            ice_lite: raw.attributes.iter().any(|a| a.key == "ice-lite"),
            extmap_allow_mixed: raw.attributes.iter().any(|a| a.key == "extmap-allow-mixed"),
            bundle,
            ice,
            fingerprint: transport.fingerprint,
            setup: transport.setup,
            sections,
        })
    }
}

fn check_bounds(text: &str) -> Result<(), SdpError> {
    if text.len() > MAX_SDP_BYTES {
        return Err(SdpError::TooLarge {
            size: text.len(),
            limit: MAX_SDP_BYTES,
        });
    }
    for (n, line) in text.split('\n').enumerate() {
        if line.len() > MAX_LINE_BYTES {
            return Err(SdpError::LineTooLong {
                line: n + 1,
                limit: MAX_LINE_BYTES,
            });
        }
        // RFC 8866 text is printable characters and CRLF (or LF): a stray
        // CR or other control character inside a line could otherwise ride
        // along in a value we print back.
        let body = line.strip_suffix('\r').unwrap_or(line);
        if body.chars().any(char::is_control) {
            return Err(SdpError::Syntax(format!(
                "control character on line {}",
                n + 1
            )));
        }
    }
    Ok(())
}

fn value(attr: &Attribute) -> &str {
    attr.value.as_deref().unwrap_or_default()
}

#[derive(Default)]
struct Transport {
    ice_ufrag: Option<String>,
    ice_pwd: Option<String>,
    fingerprint: Option<Fingerprint>,
    setup: Option<Setup>,
}

fn read_transport(attrs: &[Attribute]) -> Result<Transport, SdpError> {
    let mut t = Transport::default();
    let mut other_hash = None;
    for attr in attrs {
        let v = value(attr);
        match attr.key.as_str() {
            "ice-ufrag" => t.ice_ufrag = Some(token("ice-ufrag", v)?.to_owned()),
            "ice-pwd" => t.ice_pwd = Some(token("ice-pwd", v)?.to_owned()),
            // A description may list several hashes; we use the sha-256 one.
            "fingerprint" => match parse_fingerprint(v)? {
                Some(fp) => t.fingerprint = Some(fp),
                None => other_hash = v.split_whitespace().next(),
            },
            "setup" => {
                t.setup = Some(match v {
                    "active" => Setup::Active,
                    "passive" => Setup::Passive,
                    "actpass" => Setup::ActPass,
                    _ => return Err(malformed("setup", v)),
                })
            }
            _ => {}
        }
    }
    if let (None, Some(hash)) = (t.fingerprint, other_hash) {
        return Err(SdpError::UnsupportedFingerprintHash { hash: quote(hash) });
    }
    Ok(t)
}

fn read_section(
    index: usize,
    media: &MediaDescription,
) -> Result<(MediaSection, Transport), SdpError> {
    let kind = match media.media_name.media.as_str() {
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "application" => MediaKind::Application,
        other => {
            return Err(SdpError::UnsupportedMediaKind { kind: quote(other) });
        }
    };
    let mid = media
        .attributes
        .iter()
        .find(|a| a.key == "mid")
        .map(|a| token("mid", value(a)))
        .transpose()?
        .ok_or(SdpError::MissingMid { index })?
        .to_owned();
    let port = u16::try_from(media.media_name.port.value)
        .map_err(|_| malformed("m", &media.media_name.port.to_string()))?;
    let proto = media.media_name.protos.join("/");
    if proto.len() > MAX_TOKEN_BYTES {
        return Err(malformed("m", &proto));
    }

    let mut codecs: Vec<PayloadFormat> = Vec::new();
    if kind != MediaKind::Application {
        if media.media_name.formats.len() > MAX_CODECS {
            return Err(SdpError::TooMany {
                what: "payload types in one m-section",
                limit: MAX_CODECS,
            });
        }
        for format in &media.media_name.formats {
            let pt: u8 = format.parse().map_err(|_| malformed("m", format))?;
            if pt > 127 {
                return Err(malformed("m", format));
            }
            if codecs.iter().any(|c| c.pt == pt) {
                continue;
            }
            codecs.push(PayloadFormat {
                pt,
                name: CodecName::Other(String::new()),
                clock_rate: 0,
                channels: None,
                fmtp: None,
                rtcp_fb: Vec::new(),
            });
        }
    }

    let mut section = MediaSection {
        mid,
        kind,
        port,
        proto,
        direction: Direction::SendRecv,
        codecs: Vec::new(),
        extensions: Vec::new(),
        msid: None,
        ssrcs: Vec::new(),
        rtx_pairs: Vec::new(),
        rids: Vec::new(),
        simulcast: None,
        rtcp_mux: false,
        rtcp_rsize: false,
        candidates: Vec::new(),
        end_of_candidates: false,
    };
    let mut has_rtpmap = vec![false; codecs.len()];
    let mut wildcard_fb = Vec::new();

    for attr in &media.attributes {
        let v = value(attr);
        if let Some(direction) = Direction::from_attribute(&attr.key) {
            section.direction = direction;
            continue;
        }
        match attr.key.as_str() {
            "rtcp-mux" => section.rtcp_mux = true,
            "rtcp-rsize" => section.rtcp_rsize = true,
            "end-of-candidates" => section.end_of_candidates = true,
            "rtpmap" => {
                let (pt, rest) = split_pt("rtpmap", v)?;
                let mut parts = rest.split('/');
                let name = token("rtpmap", parts.next().unwrap_or_default())?;
                let clock_rate = parts
                    .next()
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| malformed("rtpmap", v))?;
                let channels = parts
                    .next()
                    .map(|c| c.parse().map_err(|_| malformed("rtpmap", v)))
                    .transpose()?;
                if let Some(i) = codecs.iter().position(|c| c.pt == pt)
                    && let (Some(codec), Some(seen)) = (codecs.get_mut(i), has_rtpmap.get_mut(i))
                {
                    codec.name = CodecName::parse(name);
                    codec.clock_rate = clock_rate;
                    codec.channels = channels;
                    *seen = true;
                }
            }
            "fmtp" => {
                let (pt, rest) = split_pt("fmtp", v)?;
                if rest.len() > MAX_TOKEN_BYTES {
                    return Err(malformed("fmtp", v));
                }
                if let Some(codec) = codecs.iter_mut().find(|c| c.pt == pt) {
                    codec.fmtp = Some(rest.trim().to_owned());
                }
            }
            "rtcp-fb" => {
                let (pt_text, fb) = v.split_once(' ').ok_or_else(|| malformed("rtcp-fb", v))?;
                let fb = RtcpFeedback::parse(fb.trim());
                if pt_text == "*" {
                    if wildcard_fb.len() >= MAX_RTCP_FB {
                        return Err(too_many_fb());
                    }
                    wildcard_fb.push(fb);
                } else {
                    let pt: u8 = pt_text.parse().map_err(|_| malformed("rtcp-fb", v))?;
                    if let Some(codec) = codecs.iter_mut().find(|c| c.pt == pt) {
                        push_fb(codec, fb)?;
                    }
                }
            }
            "extmap" => {
                if section.extensions.len() >= MAX_EXTENSIONS {
                    return Err(SdpError::TooMany {
                        what: "header extensions in one m-section",
                        limit: MAX_EXTENSIONS,
                    });
                }
                let ext = parse_extmap(v)?;
                if section.extensions.iter().any(|e| e.id == ext.id) {
                    return Err(malformed("extmap", v));
                }
                section.extensions.push(ext);
            }
            "msid" => section.msid = Some(parse_msid("msid", v)?),
            "ssrc" => read_ssrc(&mut section, v)?,
            "ssrc-group" => {
                let mut parts = v.split_whitespace();
                if parts.next() == Some("FID") {
                    let mut ssrc = || -> Result<u32, SdpError> {
                        parts
                            .next()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| malformed("ssrc-group", v))
                    };
                    let pair = RtxPair {
                        primary: ssrc()?,
                        rtx: ssrc()?,
                    };
                    if section.rtx_pairs.len() >= MAX_RTX_PAIRS {
                        return Err(SdpError::TooMany {
                            what: "ssrc-group:FID pairs",
                            limit: MAX_RTX_PAIRS,
                        });
                    }
                    section.rtx_pairs.push(pair);
                }
            }
            "rid" => {
                if section.rids.len() >= MAX_RIDS {
                    return Err(SdpError::TooMany {
                        what: "rids in one m-section",
                        limit: MAX_RIDS,
                    });
                }
                let rid = parse_rid(v)?;
                if section.rids.iter().any(|r| r.id == rid.id) {
                    return Err(malformed("rid", v));
                }
                section.rids.push(rid);
            }
            "simulcast" => section.simulcast = Some(parse_simulcast(v)?),
            "candidate" => {
                if let Some(candidate) = parse_candidate(v)
                    && section.candidates.len() < MAX_CANDIDATES
                {
                    section.candidates.push(candidate);
                }
            }
            _ => {}
        }
    }

    // Payload types with no rtpmap (static ones browsers no longer use) are
    // dropped rather than guessed.
    section.codecs = codecs
        .into_iter()
        .zip(has_rtpmap)
        .filter_map(|(codec, seen)| seen.then_some(codec))
        .collect();
    for fb in wildcard_fb {
        for codec in &mut section.codecs {
            push_fb(codec, fb.clone())?;
        }
    }
    if let Some(simulcast) = &section.simulcast {
        for layer in &simulcast.layers {
            if !section.rids.iter().any(|r| r.id == layer.rid) {
                return Err(SdpError::UnknownRid {
                    mid: section.mid.clone(),
                    rid: layer.rid.clone(),
                });
            }
        }
    }
    let transport = read_transport(&media.attributes)?;
    Ok((section, transport))
}

fn too_many_fb() -> SdpError {
    SdpError::TooMany {
        what: "rtcp-fb entries for one payload type",
        limit: MAX_RTCP_FB,
    }
}

fn push_fb(codec: &mut PayloadFormat, fb: RtcpFeedback) -> Result<(), SdpError> {
    if codec.rtcp_fb.contains(&fb) {
        return Ok(());
    }
    if codec.rtcp_fb.len() >= MAX_RTCP_FB {
        return Err(too_many_fb());
    }
    codec.rtcp_fb.push(fb);
    Ok(())
}

fn read_ssrc(section: &mut MediaSection, v: &str) -> Result<(), SdpError> {
    let (ssrc_text, attr) = v.split_once(' ').unwrap_or((v, ""));
    let ssrc: u32 = ssrc_text.parse().map_err(|_| malformed("ssrc", v))?;
    let index = match section.ssrcs.iter().position(|s| s.ssrc == ssrc) {
        Some(i) => i,
        None => {
            if section.ssrcs.len() >= MAX_SSRCS {
                return Err(SdpError::TooMany {
                    what: "ssrcs in one m-section",
                    limit: MAX_SSRCS,
                });
            }
            section.ssrcs.push(SsrcInfo {
                ssrc,
                cname: None,
                msid: None,
            });
            section.ssrcs.len() - 1
        }
    };
    let Some(info) = section.ssrcs.get_mut(index) else {
        return Ok(());
    };
    if let Some(cname) = attr.strip_prefix("cname:") {
        info.cname = Some(token("ssrc", cname)?.to_owned());
    } else if let Some(msid) = attr.strip_prefix("msid:") {
        info.msid = Some(parse_msid("ssrc", msid)?);
    }
    Ok(())
}
