//! [`Description`] to SDP text, through `rtc-sdp`'s printer.
//!
//! Attribute order follows Chromium's, so our descriptions read like the
//! ones browsers exchange and diff cleanly against them in tests.

use rtc_sdp::MediaDescription;
use rtc_sdp::SessionDescription;
use rtc_sdp::description::common::{Address, Attribute, ConnectionInformation};
use rtc_sdp::description::media::{MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, TimeDescription, Timing};

use super::model::*;

fn flag(key: &str) -> Attribute {
    Attribute::new(key.to_owned(), None)
}

fn attr(key: &str, value: String) -> Attribute {
    Attribute::new(key.to_owned(), Some(value))
}

fn connection(ip: std::net::IpAddr) -> ConnectionInformation {
    ConnectionInformation {
        network_type: "IN".to_owned(),
        address_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
        address: Some(Address {
            address: ip.to_string(),
            ttl: None,
            range: None,
        }),
    }
}

impl Description {
    /// Prints the description as SDP (CRLF line ends, as RFC 8866 requires).
    pub fn to_sdp(&self) -> String {
        let mut attributes = Vec::new();
        if self.ice_lite {
            attributes.push(flag("ice-lite"));
        }
        if !self.bundle.is_empty() {
            attributes.push(attr("group", format!("BUNDLE {}", self.bundle.join(" "))));
        }
        if self.extmap_allow_mixed {
            attributes.push(flag("extmap-allow-mixed"));
        }
        attributes.push(attr("msid-semantic", " WMS".to_owned()));
        // Transport attributes go in the media sections, as browsers write
        // them; when no section would be read for them (none live, or none
        // in the BUNDLE group) they go at session level instead.
        let tagged = Description::tagged_index(&self.sections, &self.bundle).is_some();
        if !tagged {
            attributes.extend(self.transport_attributes());
        }

        let raw = SessionDescription {
            version: 0,
            origin: Origin {
                username: "-".to_owned(),
                session_id: self.session_id,
                session_version: self.session_version,
                network_type: "IN".to_owned(),
                address_type: "IP4".to_owned(),
                unicast_address: "127.0.0.1".to_owned(),
            },
            session_name: "-".to_owned(),
            time_descriptions: vec![TimeDescription {
                timing: Timing {
                    start_time: 0,
                    stop_time: 0,
                },
                repeat_times: Vec::new(),
            }],
            attributes,
            media_descriptions: self.sections.iter().map(|s| self.media(s)).collect(),
            ..SessionDescription::default()
        };
        raw.marshal()
    }

    fn transport_attributes(&self) -> Vec<Attribute> {
        let mut a = Vec::new();
        if let Some(ice) = &self.ice {
            a.push(attr("ice-ufrag", ice.ufrag.clone()));
            a.push(attr("ice-pwd", ice.pwd.clone()));
        }
        if let Some(fp) = &self.fingerprint {
            a.push(attr("fingerprint", fp.to_string()));
        }
        if let Some(setup) = self.setup {
            a.push(attr("setup", setup.as_str().to_owned()));
        }
        a
    }

    fn media(&self, s: &MediaSection) -> MediaDescription {
        let mut formats: Vec<String> = s.codecs.iter().map(|c| c.pt.to_string()).collect();
        if formats.is_empty() {
            // The grammar needs one format even on a rejected section.
            formats.push(match s.kind {
                MediaKind::Application => "webrtc-datachannel".to_owned(),
                _ => "0".to_owned(),
            });
        }
        let ip = s
            .candidates
            .first()
            .map(|c| c.address.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut a = Vec::new();
        if !s.is_rejected() && Description::tagged_index(&self.sections, &self.bundle).is_some() {
            a.extend(self.transport_attributes());
        }
        a.push(attr("mid", s.mid.clone()));
        for ext in &s.extensions {
            a.push(attr("extmap", format!("{} {}", ext.id, ext.uri.as_str())));
        }
        a.push(flag(s.direction.as_str()));
        if let Some(msid) = &s.msid {
            a.push(attr("msid", format!("{} {}", msid.stream, msid.track)));
        }
        if s.rtcp_mux {
            a.push(flag("rtcp-mux"));
        }
        if s.rtcp_rsize {
            a.push(flag("rtcp-rsize"));
        }
        for c in &s.codecs {
            let rtpmap = match c.channels {
                Some(ch) => format!("{} {}/{}/{ch}", c.pt, c.name.as_str(), c.clock_rate),
                None => format!("{} {}/{}", c.pt, c.name.as_str(), c.clock_rate),
            };
            a.push(attr("rtpmap", rtpmap));
            for fb in &c.rtcp_fb {
                a.push(attr("rtcp-fb", format!("{} {}", c.pt, fb.as_str())));
            }
            if let Some(fmtp) = &c.fmtp {
                a.push(attr("fmtp", format!("{} {fmtp}", c.pt)));
            }
        }
        for pair in &s.rtx_pairs {
            a.push(attr(
                "ssrc-group",
                format!("FID {} {}", pair.primary, pair.rtx),
            ));
        }
        for ssrc in &s.ssrcs {
            if let Some(cname) = &ssrc.cname {
                a.push(attr("ssrc", format!("{} cname:{cname}", ssrc.ssrc)));
            }
            if let Some(msid) = &ssrc.msid {
                a.push(attr(
                    "ssrc",
                    format!("{} msid:{} {}", ssrc.ssrc, msid.stream, msid.track),
                ));
            }
            if ssrc.cname.is_none() && ssrc.msid.is_none() {
                a.push(attr("ssrc", ssrc.ssrc.to_string()));
            }
        }
        for rid in &s.rids {
            let mut line = format!("{} {}", rid.id, rid.direction.as_str());
            if let Some(r) = &rid.restrictions {
                line.push(' ');
                line.push_str(r);
            }
            a.push(attr("rid", line));
        }
        if let Some(sim) = &s.simulcast {
            let list: Vec<String> = sim
                .layers
                .iter()
                .map(|l| format!("{}{}", if l.paused { "~" } else { "" }, l.rid))
                .collect();
            a.push(attr(
                "simulcast",
                format!("{} {}", sim.direction.as_str(), list.join(";")),
            ));
        }
        for c in &s.candidates {
            a.push(attr(
                "candidate",
                format!(
                    "{} {} udp {} {} {} typ {}",
                    c.foundation,
                    c.component,
                    c.priority,
                    c.address.ip(),
                    c.address.port(),
                    c.kind.as_str()
                ),
            ));
        }
        if s.end_of_candidates {
            a.push(flag("end-of-candidates"));
        }

        MediaDescription {
            media_name: MediaName {
                media: s.kind.as_str().to_owned(),
                port: RangedPort {
                    value: s.port as isize,
                    range: None,
                },
                protos: s.proto.split('/').map(str::to_owned).collect(),
                formats,
            },
            media_title: None,
            connection_information: Some(connection(ip)),
            bandwidth: Vec::new(),
            encryption_key: None,
            attributes: a,
        }
    }
}
