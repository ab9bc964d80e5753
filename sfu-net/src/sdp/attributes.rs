//! The grammar of each attribute value WebRTC uses (RFC 8839, 8122,
//! 8285, 8830, 8851, 8853), read strictly and into bounded values.

use std::net::{IpAddr, SocketAddr};

use super::error::{SdpError, malformed};
use super::limits::*;
use super::model::*;

/// A bounded, non-empty, space-free token (mid, rid, ufrag, cname...).
pub(super) fn token<'a>(attribute: &'static str, text: &'a str) -> Result<&'a str, SdpError> {
    if text.is_empty() || text.len() > MAX_TOKEN_BYTES || text.contains(char::is_whitespace) {
        return Err(malformed(attribute, text));
    }
    Ok(text)
}

/// `sha-256 AB:CD:...`: `Ok(None)` for another (well-formed) hash.
pub(super) fn parse_fingerprint(v: &str) -> Result<Option<Fingerprint>, SdpError> {
    let (hash, hex) = v
        .split_once(' ')
        .ok_or_else(|| malformed("fingerprint", v))?;
    if !hash.eq_ignore_ascii_case("sha-256") {
        return Ok(None);
    }
    Fingerprint::from_sdp(hash, hex)
        .map(Some)
        .map_err(|_| malformed("fingerprint", v))
}

pub(super) fn split_pt<'a>(attribute: &'static str, v: &'a str) -> Result<(u8, &'a str), SdpError> {
    let (pt, rest) = v.split_once(' ').ok_or_else(|| malformed(attribute, v))?;
    let pt = pt.parse().map_err(|_| malformed(attribute, v))?;
    Ok((pt, rest))
}

pub(super) fn parse_extmap(v: &str) -> Result<HeaderExtension, SdpError> {
    let mut parts = v.split_whitespace();
    let id_dir = parts.next().unwrap_or_default();
    // The optional `/direction` is accepted and dropped: browsers do not
    // write it and we use every extension in both directions.
    let id_text = id_dir.split('/').next().unwrap_or_default();
    let id: u8 = id_text.parse().map_err(|_| malformed("extmap", v))?;
    if id == 0 {
        return Err(malformed("extmap", v));
    }
    let uri = token("extmap", parts.next().unwrap_or_default())?;
    Ok(HeaderExtension {
        id,
        uri: ExtensionUri::parse(uri),
    })
}

pub(super) fn parse_msid(attribute: &'static str, v: &str) -> Result<Msid, SdpError> {
    let mut parts = v.split_whitespace();
    let stream = token(attribute, parts.next().unwrap_or_default())?.to_owned();
    let track = match parts.next() {
        Some(track) => token(attribute, track)?.to_owned(),
        None => String::new(),
    };
    Ok(Msid { stream, track })
}

pub(super) fn parse_rid(v: &str) -> Result<Rid, SdpError> {
    let mut parts = v.splitn(3, ' ');
    let id = token("rid", parts.next().unwrap_or_default())?;
    // RFC 8851: rid-id is alphanumeric plus `-` and `_`.
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(malformed("rid", v));
    }
    let direction = match parts.next() {
        Some("send") => RidDirection::Send,
        Some("recv") => RidDirection::Recv,
        _ => return Err(malformed("rid", v)),
    };
    let restrictions = match parts.next().map(str::trim) {
        Some(r) if !r.is_empty() => Some(token("rid", r)?.to_owned()),
        _ => None,
    };
    Ok(Rid {
        id: id.to_owned(),
        direction,
        restrictions,
    })
}

pub(super) fn parse_simulcast(v: &str) -> Result<Simulcast, SdpError> {
    // Browsers write one direction: `send a;b;c` or `recv a;b;c`.
    let mut parts = v.split_whitespace();
    let direction = match parts.next() {
        Some("send") => RidDirection::Send,
        Some("recv") => RidDirection::Recv,
        _ => return Err(malformed("simulcast", v)),
    };
    let list = parts.next().ok_or_else(|| malformed("simulcast", v))?;
    if parts.next().is_some() {
        return Err(malformed("simulcast", v));
    }
    let mut layers = Vec::new();
    for stream in list.split(';') {
        if layers.len() >= MAX_RIDS {
            return Err(SdpError::TooMany {
                what: "simulcast streams",
                limit: MAX_RIDS,
            });
        }
        // Alternatives (`a,b`) collapse to the first, which RFC 8853 §5.3
        // lets an answerer do.
        let first = stream.split(',').next().unwrap_or_default();
        let (paused, rid) = match first.strip_prefix('~') {
            Some(rid) => (true, rid),
            None => (false, first),
        };
        let rid = token("simulcast", rid)?.to_owned();
        if layers.iter().any(|l: &SimulcastLayer| l.rid == rid) {
            return Err(malformed("simulcast", v));
        }
        layers.push(SimulcastLayer { rid, paused });
    }
    Ok(Simulcast { direction, layers })
}

/// `foundation component transport priority address port typ kind ...`;
/// `None` for anything but UDP with an IP literal.
pub(super) fn parse_candidate(v: &str) -> Option<Candidate> {
    let mut parts = v.split_whitespace();
    let foundation = parts.next().filter(|f| f.len() <= 32)?.to_owned();
    let component = parts.next()?.parse().ok()?;
    if !parts.next()?.eq_ignore_ascii_case("udp") {
        return None;
    }
    let priority = parts.next()?.parse().ok()?;
    let ip: IpAddr = parts.next()?.parse().ok()?;
    let port: u16 = parts.next()?.parse().ok()?;
    if parts.next()? != "typ" {
        return None;
    }
    let kind = match parts.next()? {
        "host" => CandidateKind::Host,
        "srflx" => CandidateKind::ServerReflexive,
        "prflx" => CandidateKind::PeerReflexive,
        "relay" => CandidateKind::Relay,
        _ => return None,
    };
    Some(Candidate {
        foundation,
        component,
        priority,
        address: SocketAddr::new(ip, port),
        kind,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn simulcast_keeps_paused_marks_and_first_alternative() {
        let sim = parse_simulcast("recv ~a;b,c;d").unwrap();
        assert_eq!(sim.direction, RidDirection::Recv);
        let got: Vec<(&str, bool)> = sim
            .layers
            .iter()
            .map(|l| (l.rid.as_str(), l.paused))
            .collect();
        assert_eq!(got, [("a", true), ("b", false), ("d", false)]);
        assert!(parse_simulcast("send a;a").is_err());
        assert!(parse_simulcast("send a;").is_err());
        assert!(parse_simulcast("send").is_err());
        assert!(parse_simulcast("send a b").is_err());
    }

    #[test]
    fn rid_ids_follow_rfc_8851_charset() {
        let rid = parse_rid("hi-res_1 send max-width=1280;max-height=720").unwrap();
        assert_eq!(rid.id, "hi-res_1");
        assert_eq!(
            rid.restrictions.as_deref(),
            Some("max-width=1280;max-height=720")
        );
        assert!(parse_rid("a.b send").is_err());
        assert!(parse_rid("q").is_err());
    }

    #[test]
    fn only_udp_candidates_with_ip_literals_are_kept() {
        let c = parse_candidate("842163049 1 udp 1677729535 198.51.100.4 61427 typ srflx raddr 0.0.0.0 rport 0 generation 0").unwrap();
        assert_eq!(c.kind, CandidateKind::ServerReflexive);
        assert_eq!(c.address, "198.51.100.4:61427".parse().unwrap());
        let v6 = parse_candidate("1 1 UDP 2122262783 2001:db8::1 5000 typ host").unwrap();
        assert!(v6.address.is_ipv6());
        assert!(parse_candidate("1 1 udp 2122260223 4f2a1b9c-0d3e.local 50123 typ host").is_none());
        assert!(
            parse_candidate("1 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active").is_none()
        );
        assert!(parse_candidate("1 1 udp 5 127.0.0.1 99999 typ host").is_none());
        assert!(parse_candidate("").is_none());
    }

    #[test]
    fn fingerprint_with_other_hash_is_not_an_error_by_itself() {
        assert_eq!(parse_fingerprint("sha-1 AA:BB").unwrap(), None);
        assert!(parse_fingerprint("sha-256 AA:BB").is_err());
        assert!(parse_fingerprint("sha-256").is_err());
    }

    #[test]
    fn extmap_direction_is_accepted_and_id_zero_is_not() {
        let e = parse_extmap("3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid").unwrap();
        assert_eq!((e.id, e.uri), (3, ExtensionUri::Mid));
        assert!(parse_extmap("0 urn:x").is_err());
        assert!(parse_extmap("256 urn:x").is_err());
        assert!(parse_extmap("4").is_err());
    }
}
