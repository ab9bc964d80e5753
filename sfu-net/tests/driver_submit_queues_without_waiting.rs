//! `DriverHandle::submit` hands a command to the driver thread and returns
//! before it runs (the caller learns its result through its own channel,
//! as an async server does with a oneshot); a full queue is refused at
//! once with `DriverBusy`, and a stopped driver with `DriverStopped`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sfu_net::Error;
use sfu_net::driver::{Driver, DriverConfig};

fn driver() -> Driver {
    Driver::spawn(DriverConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap()
}

#[test]
fn submit_returns_before_the_command_runs() {
    let driver = driver();
    let handle = driver.handle();
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(1);
    let (result_tx, result_rx) = crossbeam_channel::bounded(1);
    // The command cannot finish before the test opens the gate, which it
    // does only once submit has returned: a submit that waited would see
    // the gate time out.
    handle
        .submit(move |node, now| {
            let opened = gate_rx.recv_timeout(Duration::from_secs(5)).is_ok();
            let _ = result_tx.send((opened, node.create_session(now).is_ok()));
        })
        .unwrap();
    gate_tx.send(()).unwrap();
    let (opened, created) = result_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(opened, "submit waited for its command");
    assert!(created);
    assert_eq!(handle.stats().unwrap().node.sessions, 1);
}

#[test]
fn a_full_queue_is_busy_and_a_stopped_driver_is_stopped() {
    let driver = driver();
    let handle = driver.handle();
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(1);
    let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
    handle
        .submit(move |_, _| {
            let _ = started_tx.send(());
            let _ = gate_rx.recv_timeout(Duration::from_secs(10));
        })
        .unwrap();
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();

    // The thread is held: commands queue until the queue is full.
    let ran = Arc::new(AtomicUsize::new(0));
    let mut queued = 0;
    let busy = loop {
        let ran = Arc::clone(&ran);
        match handle.submit(move |_, _| {
            ran.fetch_add(1, Ordering::Relaxed);
        }) {
            Ok(()) => queued += 1,
            Err(e) => break e,
        }
        assert!(queued <= 100_000, "the queue is not bounded");
    };
    assert!(matches!(busy, Error::DriverBusy), "{busy:?}");
    assert!(queued > 0);

    // Released, the thread runs every queued command, in order, and
    // takes new ones again.
    gate_tx.send(()).unwrap();
    // The queue may still be full for a moment after the release.
    loop {
        match handle.call(|_, _| ()) {
            Ok(()) => break,
            Err(Error::DriverBusy) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ran.load(Ordering::Relaxed), queued);

    driver.shutdown();
    assert!(matches!(
        handle.submit(|_, _| ()),
        Err(Error::DriverStopped)
    ));
}
