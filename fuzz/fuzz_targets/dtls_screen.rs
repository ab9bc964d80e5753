//! Arbitrary datagrams through the DTLS record screen that stands before
//! dimpl on a session's own path: it never panics, keeps at most what came
//! in, and rebuilds a datagram exactly when it dropped a record. The first
//! byte picks whether the session's handshake is complete.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use sfu_net::dtls::screen::Screen;

thread_local! {
    // One screen for the run, as one session sees datagram after datagram.
    static SCREEN: RefCell<Screen> = RefCell::new(Screen::default());
}

fuzz_target!(|data: &[u8]| {
    let Some((&flag, datagram)) = data.split_first() else {
        return;
    };
    SCREEN.with(|s| {
        let mut s = s.borrow_mut();
        let r = s.screen(datagram, flag & 1 == 1);
        assert_eq!(r.rebuilt, r.dropped > 0);
        if r.rebuilt {
            assert!(s.kept.len() <= datagram.len());
        }
        assert!(r.kept <= 8, "at most 8 records per datagram");
    });
});
