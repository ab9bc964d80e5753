//! A simulcast track relayed between two nodes crosses the link with all
//! its layers described (RIDs kept), viewers on the edge node pick layers
//! by RID as from a local publisher, and the link carries exactly the
//! layers the edge's viewers want: a layer nobody there wants sends
//! nothing, a new preference starts its layer, no viewer means no media.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_world;
mod relay_layers;

use std::time::Duration;

use node_world::World;
use relay_layers::{
    LinkTap, RIDS, SimulcastCamera, assert_receives, keyed_link, link, relay, simulcast_publisher,
    viewer,
};

#[test]
fn two_viewers_on_the_edge_get_the_layers_they_prefer_and_the_link_carries_no_other() {
    let mut w = World::new(41, 2);
    let (cam, source) = simulcast_publisher(&mut w, 0, 0);
    // Keyed: the demand goes under SRTCP like all link RTCP.
    let (out, inn) = keyed_link(&mut w, 0, 1);
    let now = w.now;
    let track = w.nodes[0]
        .relay_track(now, out, source, "0", "cam")
        .unwrap();
    let rids: Vec<_> = track.layers.iter().map(|l| l.rid.as_deref()).collect();
    assert_eq!(rids, RIDS.map(Some), "the publisher's layers, lowest first");
    let ssrcs: Vec<u32> = track.layers.iter().map(|l| l.ssrc).collect();
    w.nodes[1].accept_relay_track(now, inn, track).unwrap();
    let (low, _) = viewer(&mut w, 1, 1, inn, "cam", Some("q"));
    let (high, _) = viewer(&mut w, 1, 2, inn, "cam", Some("f"));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam, low, high])));

    let mut camera = SimulcastCamera::new(cam, "0");
    let mut tap = LinkTap::new(0, 1);
    // The demand settles: each viewer starts on its layer at a keyframe.
    w.run_with(Duration::from_secs(3), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    tap.clear();
    let since = w.now;
    w.run_with(Duration::from_secs(2), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    assert_receives(&w, low, 0, since);
    assert_receives(&w, high, 2, since);
    // 2 s at 30 fps: 60 frames of 1 packet on q, of 3 on f, none on h.
    println!(
        "link RTP per layer: {:?}",
        ssrcs.iter().map(|&s| tap.on(s)).collect::<Vec<_>>()
    );
    assert!(tap.on(ssrcs[0]) >= 55, "{}", tap.on(ssrcs[0]));
    assert!(tap.on(ssrcs[2]) >= 165, "{}", tap.on(ssrcs[2]));
    assert_eq!(
        tap.on(ssrcs[1]),
        0,
        "the layer nobody wants crossed the link"
    );
    assert_eq!(w.nodes[0].stats().relay_demand_dropped, 0);
}

#[test]
fn a_new_preference_at_the_edge_starts_its_layer_across_the_link_and_the_viewer_switches() {
    let mut w = World::new(42, 2);
    let (cam, source) = simulcast_publisher(&mut w, 0, 0);
    let (out, inn) = link(&mut w, 0, 1);
    let ssrcs = relay(&mut w, (0, out), (1, inn), source, "0", "cam");
    let (v, session) = viewer(&mut w, 1, 1, inn, "cam", Some("q"));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam, v])));
    let mut camera = SimulcastCamera::new(cam, "0");
    let mut tap = LinkTap::new(0, 1);
    let mut run = |w: &mut World, tap: &mut LinkTap, secs| {
        w.run_with(Duration::from_secs(secs), &mut |w| {
            camera.tick(w);
            tap.take(w);
        })
    };
    run(&mut w, &mut tap, 2);
    let since = w.now;
    tap.clear();
    run(&mut w, &mut tap, 1);
    assert_receives(&w, v, 0, since);
    assert!(tap.on(ssrcs[0]) > 25 && tap.on(ssrcs[1]) + tap.on(ssrcs[2]) == 0);

    // The viewer asks for h: the edge tells the ingest, h crosses and the
    // viewer switches at its first keyframe; q, wanted by nobody now, stops.
    w.nodes[1]
        .set_layer(session, None, Some("h".into()))
        .unwrap();
    run(&mut w, &mut tap, 1);
    tap.clear();
    let since = w.now;
    run(&mut w, &mut tap, 2);
    assert_receives(&w, v, 1, since);
    println!(
        "link RTP per layer after the switch: {:?}",
        ssrcs.iter().map(|&s| tap.on(s)).collect::<Vec<_>>()
    );
    assert!(tap.on(ssrcs[1]) >= 110, "{}", tap.on(ssrcs[1]));
    assert_eq!(tap.on(ssrcs[0]) + tap.on(ssrcs[2]), 0);
}

#[test]
fn with_no_viewer_on_the_edge_no_media_crosses_the_link() {
    let mut w = World::new(43, 2);
    let (cam, source) = simulcast_publisher(&mut w, 0, 0);
    let (out, inn) = link(&mut w, 0, 1);
    let ssrcs = relay(&mut w, (0, out), (1, inn), source, "0", "cam");
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam])));
    let mut camera = SimulcastCamera::new(cam, "0");
    let mut tap = LinkTap::new(0, 1);
    w.run_with(Duration::from_secs(2), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    assert!(tap.rtp.is_empty(), "{:?}", tap.rtp);
    assert!(w.nodes[0].stats().router.rtp_received > 300);

    // A viewer with no preference wants the highest layer, and only that.
    let (v, session) = viewer(&mut w, 1, 1, inn, "cam", None);
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[v])));
    w.run_with(Duration::from_secs(1), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    tap.clear();
    let since = w.now;
    w.run_with(Duration::from_secs(1), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    assert_receives(&w, v, 2, since);
    assert!(tap.on(ssrcs[2]) >= 80 && tap.on(ssrcs[0]) + tap.on(ssrcs[1]) == 0);

    // It leaves: the link goes quiet again.
    let now = w.now;
    w.nodes[1].close_session(now, session).unwrap();
    let mut demand = LinkTap::new(1, 0);
    w.run_with(Duration::from_millis(200), &mut |w| {
        camera.tick(w);
        tap.take(w);
        demand.take(w);
    });
    tap.clear();
    demand.clear();
    w.run_with(Duration::from_secs(2), &mut |w| {
        camera.tick(w);
        tap.take(w);
        demand.take(w);
    });
    assert!(tap.rtp.is_empty(), "{:?}", tap.rtp);
    // The demand (wanting nothing) is still refreshed, once a second.
    assert!((2..=3).contains(&demand.apps), "{}", demand.apps);
}

#[test]
fn a_viewer_whose_layer_the_publisher_does_not_send_falls_back_across_the_link() {
    let mut w = World::new(44, 2);
    let (cam, source) = simulcast_publisher(&mut w, 0, 0);
    let (out, inn) = link(&mut w, 0, 1);
    let ssrcs = relay(&mut w, (0, out), (1, inn), source, "0", "cam");
    // It wants the highest layer, f, which the camera does not send.
    let (v, _) = viewer(&mut w, 1, 1, inn, "cam", None);
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam, v])));
    let mut camera = SimulcastCamera::new(cam, "0");
    camera.layers = 2;
    let mut tap = LinkTap::new(0, 1);
    // Receiving nothing for 2 s, the viewer wants every layer; it falls
    // back to h, and then wants h (what it receives) and f (preferred).
    w.run_with(Duration::from_secs(4), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    tap.clear();
    let since = w.now;
    w.run_with(Duration::from_secs(2), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    assert_receives(&w, v, 1, since);
    assert!(tap.on(ssrcs[1]) >= 110, "{}", tap.on(ssrcs[1]));
    assert_eq!(tap.on(ssrcs[0]), 0, "q, wanted by nobody, crossed");

    // The camera stops sending h too: the viewer, receiving nothing,
    // wants every layer again and falls back to q.
    camera.layers = 1;
    w.run_with(Duration::from_secs(5), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    let since = w.now;
    w.run_with(Duration::from_secs(2), &mut |w| {
        camera.tick(w);
        tap.take(w);
    });
    assert_receives(&w, v, 0, since);
}
