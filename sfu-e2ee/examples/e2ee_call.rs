//! Three clients in an end-to-end encrypted call through an `sfu-core`
//! router: MLS keys from the designated-committer protocol (the application
//! server only relays), VP8-like frames encrypted with SFrame before RTP
//! packetization, and a router that forwards them — it sees only the clear
//! VP8 header bytes it needs for keyframe detection, never media. Then one
//! client leaves; the other two move to a new epoch with a new safety number
//! and keep talking, and the one that left cannot decrypt them.
//!
//! Run: `cargo run --release -p sfu-e2ee --example e2ee_call`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{
    Codec as RtpCodec, CodecConfig, LayerConfig, Output, PullConfig, Router, RouterConfig,
    SessionConfig, SessionId, TrackConfig,
};
use sfu_e2ee::codec::Codec;
use sfu_e2ee::committer::{CallEvent, CallMember};
use sfu_e2ee::frame::{DEFAULT_GRACE, FrameDecryptor, FrameEncryptor};
use sfu_e2ee::mls::{KidLayout, MlsKeying};
use sfu_e2ee::relay::CallRelay;
use sfu_e2ee::sframe::CipherSuite;
use sfu_e2ee::wire::ClientId;
use sfu_testkit::rtp::{Rtp, VP8_INTERFRAME_TAG, VP8_KEYFRAME_HEADER, vp8_descriptor};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
const VP8_PT: u8 = 96;

struct Client {
    member: CallMember<MlsKeying>,
    enc: FrameEncryptor,
    dec: FrameDecryptor,
    session: SessionId,
    ssrc: u32,
    seq: u16,
    frames_sent: u32,
    frames_decrypted: u32,
    connected: bool,
}

type Error = Box<dyn std::error::Error>;

/// A VP8-like frame: a real 10-byte keyframe header (flag in bit 0 of byte 0)
/// or a 3-byte interframe tag, then a recognisable secret payload.
fn vp8_frame(from: u64, n: u32, keyframe: bool) -> Vec<u8> {
    let mut f = if keyframe {
        VP8_KEYFRAME_HEADER.to_vec()
    } else {
        VP8_INTERFRAME_TAG.to_vec()
    };
    for _ in 0..20 {
        f.extend_from_slice(format!("secret frame {n} of client {from}; ").as_bytes());
    }
    f
}

fn rtp(c: &mut Client, payload: &[u8], timestamp: u32) -> Bytes {
    // VP8 payload descriptor (RFC 7741): S=1, partition 0; one packet per frame.
    let mut body = vec![vp8_descriptor(true)];
    body.extend_from_slice(payload);
    let packet = Rtp::new(c.ssrc, VP8_PT, c.seq, timestamp)
        .marker(true)
        .payload(&body)
        .bytes();
    c.seq = c.seq.wrapping_add(1);
    packet
}

/// Relays protocol messages until nobody has anything to say; installs keys
/// on every epoch change.
fn pump(
    relay: &mut CallRelay,
    clients: &mut BTreeMap<u64, Client>,
    now: Instant,
) -> Result<(), Error> {
    loop {
        let mut moved = false;
        for (id, c) in clients.iter_mut().filter(|(_, c)| c.connected) {
            while let Some(msg) = c.member.poll_transmit() {
                relay.handle_client_message(ClientId(*id), msg)?;
                moved = true;
            }
        }
        while let Some(msg) = relay.poll_broadcast() {
            moved = true;
            let bytes = msg.to_bytes();
            for c in clients.values_mut().filter(|c| c.connected) {
                c.member.handle_broadcast(&bytes);
                while let Some(ev) = c.member.poll_event() {
                    match ev {
                        CallEvent::EpochChanged { epoch, .. } => {
                            let keys = c.member.keying().epoch_keys(SUITE, KidLayout::default())?;
                            c.enc.set_key(keys.own);
                            c.dec.keys().install_epoch(now, epoch, keys.others);
                        }
                        other => println!("  event: {other:?}"),
                    }
                }
            }
        }
        if !moved {
            return Ok(());
        }
    }
}

/// Every connected client sends one frame; the router forwards; receivers decrypt.
fn media_round(
    router: &mut Router,
    clients: &mut BTreeMap<u64, Client>,
    now: Instant,
    round: u32,
) -> Result<(), Error> {
    let ids: Vec<u64> = clients
        .iter()
        .filter(|(_, c)| c.connected)
        .map(|(id, _)| *id)
        .collect();
    let by_session: BTreeMap<SessionId, u64> =
        clients.iter().map(|(id, c)| (c.session, *id)).collect();
    for from in ids {
        let c = clients.get_mut(&from).ok_or("client")?;
        let frame = vp8_frame(from, c.frames_sent, round == 0);
        let mut protected = Vec::new();
        c.enc.encrypt(Codec::Vp8, &frame, &mut protected)?;
        c.frames_sent += 1;
        let packet = rtp(c, &protected, round * 3000);
        router.handle_rtp(now, c.session, packet)?;
        while let Some(out) = router.poll_output() {
            let Output::Rtp {
                session, packet, ..
            } = out
            else {
                continue;
            };
            // What the SFU forwards: clear VP8 header bytes, then ciphertext.
            let visible = String::from_utf8_lossy(&packet.payload);
            assert!(
                !visible.contains("secret frame"),
                "the router saw plaintext"
            );
            let to = by_session.get(&session).ok_or("unknown session")?;
            let r = clients.get_mut(to).ok_or("client")?;
            let vp8 = packet.payload.get(1..).ok_or("short packet")?;
            let mut plain = Vec::new();
            r.dec.decrypt(now, Codec::Vp8, vp8, &mut plain)?;
            assert_eq!(plain, frame);
            r.frames_decrypted += 1;
        }
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut now = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let mut relay = CallRelay::new();
    let mut clients = BTreeMap::new();
    for id in 1..=3u64 {
        let session = router.create_session(now, SessionConfig::default())?;
        let ssrc = 0x1000 * id as u32;
        let cam = TrackConfig::video(
            "cam",
            CodecConfig::new(VP8_PT, RtpCodec::Vp8),
            vec![LayerConfig::ssrc(ssrc)],
        );
        router.publish_track(now, session, cam)?;
        let member = CallMember::join(ClientId(id), MlsKeying::new(ClientId(id))?)?;
        clients.insert(
            id,
            Client {
                member,
                enc: FrameEncryptor::new(),
                dec: FrameDecryptor::new(DEFAULT_GRACE),
                session,
                ssrc,
                seq: 1,
                frames_sent: 0,
                frames_decrypted: 0,
                connected: true,
            },
        );
        pump(&mut relay, &mut clients, now)?;
    }
    let sessions: Vec<(u64, SessionId)> = clients.iter().map(|(id, c)| (*id, c.session)).collect();
    for (sub_id, sub) in &sessions {
        for (pub_id, publisher) in &sessions {
            if sub_id != pub_id {
                let ssrc = 0x10_0000 * *sub_id as u32 + *pub_id as u32;
                let codecs = vec![CodecConfig::new(VP8_PT, RtpCodec::Vp8)];
                router.pull_track(now, *sub, *publisher, "cam", PullConfig::new(ssrc, codecs))?;
            }
        }
    }
    for (id, c) in &clients {
        let k = c.member.keying();
        println!(
            "client {id}: epoch {} safety number {}",
            k_epoch(k),
            k_safety(k)
        );
    }
    for round in 0..10 {
        media_round(&mut router, &mut clients, now, round)?;
        now += Duration::from_millis(33);
    }
    for (id, c) in &clients {
        println!(
            "client {id}: sent {} frames, decrypted {}",
            c.frames_sent, c.frames_decrypted
        );
        assert_eq!(c.frames_decrypted, 20);
    }

    println!("client 3 leaves");
    let gone = clients.get_mut(&3).ok_or("client 3")?;
    gone.connected = false;
    let gone_session = gone.session;
    router.close_session(now, gone_session)?;
    relay.handle_disconnect(ClientId(3));
    pump(&mut relay, &mut clients, now)?;
    for id in [1, 2] {
        let k = clients[&id].member.keying();
        println!(
            "client {id}: epoch {} safety number {}",
            k_epoch(k),
            k_safety(k)
        );
    }
    for round in 0..10 {
        media_round(&mut router, &mut clients, now, round)?;
        now += Duration::from_millis(33);
    }
    for id in [1, 2] {
        let c = &clients[&id];
        println!(
            "client {id}: sent {} frames, decrypted {}",
            c.frames_sent, c.frames_decrypted
        );
        assert_eq!(c.frames_decrypted, 30);
    }

    // Client 3 kept its old keys; a frame of the new epoch is opaque to it.
    let c1 = clients.get_mut(&1).ok_or("client 1")?;
    let mut protected = Vec::new();
    c1.enc
        .encrypt(Codec::Vp8, &vp8_frame(1, 99, true), &mut protected)?;
    let mut plain = Vec::new();
    let c3 = clients.get_mut(&3).ok_or("client 3")?;
    let refused = c3.dec.decrypt(now, Codec::Vp8, &protected, &mut plain);
    println!("client 3 decrypting a new-epoch frame: {refused:?}");
    assert!(refused.is_err());
    Ok(())
}

fn k_epoch(k: &MlsKeying) -> u64 {
    use sfu_e2ee::committer::GroupKeying;
    k.epoch()
}

fn k_safety(k: &MlsKeying) -> String {
    use sfu_e2ee::committer::GroupKeying;
    k.safety_number().map(|s| s.to_string()).unwrap_or_default()
}
