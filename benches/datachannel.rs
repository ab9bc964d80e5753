//! Data-channel throughput through our SCTP association, against memcpy.
//!
//! - `datachannel/association_10000x1KiB`: two `sfu_net::datachannel`
//!   associations back to back in memory (no loss, no delay, packets moved
//!   in batches of 32 as a recvmmsg batch would), 10 000 ordered reliable
//!   1 KiB messages from one to the other: the peer's sends, SCTP framing,
//!   CRC32c both ways (ours in the screen and the stack's), SACKs,
//!   reassembly, the receiver's events. The association is set up outside
//!   the measurement; every iteration uses a fresh pair.
//! - `datachannel/fanout_1_to_3_10000x1KiB`: the same messages published
//!   once and fanned out by `Fanout` to three subscriber associations (one
//!   shared `Bytes` per message), each delivered: the per-subscriber cost.
//! - `datachannel/memcpy_10000x1KiB`: the floor, measured in the same run:
//!   copying the same 10 000 KiB in 1 KiB pieces.
//!
//! Run: `cargo bench --bench datachannel`. On the 2-core development
//! machine (2026-12, other builds running, so runs varied by a third):
//! association 37-63 ms (150-260 MiB/s, 4-6 µs a message), fan-out to
//! three 103-152 ms (3.4-5 µs per delivered copy), memcpy 1.1-1.8 ms
//! (5-8 GiB/s). Half the association's time is CRC32c and the stack's
//! sorting of its queues. For the choice of SCTP crate the same loop was run
//! on the bare crates outside this repository: `sctp-proto` 0.10.8 44 ms,
//! `rtc-sctp` 0.21.1 16 ms (hardware CRC32c); why `sctp-proto` anyway is in
//! `sfu-net/src/datachannel/mod.rs`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sfu_net::datachannel::{
    Association, AssociationConfig, ChannelId, Event, Fanout, FanoutConfig, MessageKind,
    Reliability, SctpRole, SubscriberAction,
};
use sfu_net::srtp::DtlsRole;

const MESSAGES: usize = 10_000;
const SIZE: usize = 1024;
const BATCH: usize = 32;

/// A sender (DTLS client, SCTP initiator) and a receiver with one open
/// channel, at `now`.
struct Pair {
    tx: Association,
    rx: Association,
    channel: Option<ChannelId>,
    now: Instant,
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let config = AssociationConfig::default();
        let tx = Association::new(config.clone(), DtlsRole::Client, SctpRole::Initiate, now);
        let rx = Association::new(config, DtlsRole::Server, SctpRole::Accept, now);
        let mut pair = Pair {
            tx,
            rx,
            channel: None,
            now,
        };
        while !pair.tx.is_connected() {
            pair.turn(&mut |_| {});
        }
        let reliable = Reliability::Reliable { ordered: true };
        pair.channel = Some(pair.tx.open_channel("bench", "", reliable).unwrap());
        for _ in 0..10 {
            pair.turn(&mut |_| {});
        }
        pair
    }

    fn channel(&self) -> ChannelId {
        self.channel.unwrap()
    }

    /// Moves packets both ways, drains events, fires timers; `on_event`
    /// sees the receiver's events.
    fn turn(&mut self, on_event: &mut dyn FnMut(Event)) {
        let mut batch = 0;
        while let Some(p) = self.tx.poll_transmit() {
            self.rx.handle_input(self.now, &p);
            batch += 1;
            if batch % BATCH == 0 {
                while let Some(e) = self.rx.poll_event() {
                    on_event(e);
                }
            }
        }
        while let Some(e) = self.rx.poll_event() {
            on_event(e);
        }
        while let Some(e) = self.tx.poll_event() {
            black_box(e);
        }
        while let Some(p) = self.rx.poll_transmit() {
            self.tx.handle_input(self.now, &p);
        }
        self.now += Duration::from_micros(100);
        for a in [&mut self.tx, &mut self.rx] {
            if a.poll_timeout().is_some_and(|t| t <= self.now) {
                a.handle_timeout(self.now);
            }
        }
    }
}

fn message() -> Bytes {
    Bytes::from(vec![0x5a; SIZE])
}

/// Sends every message through `pair`, returns how many arrived.
fn deliver(pair: &mut Pair) -> usize {
    let payload = message();
    let mut sent = 0;
    let mut got = 0;
    while got < MESSAGES {
        while sent < MESSAGES
            && pair
                .tx
                .send(pair.channel(), MessageKind::Binary, payload.clone())
                .is_ok()
        {
            sent += 1;
        }
        pair.turn(&mut |e| {
            if let Event::Message { payload, .. } = e {
                got += 1;
                black_box(payload);
            }
        });
    }
    got
}

/// Publishes every message once through a fan-out to three pairs.
fn fan_out(subs: &mut [Pair; 3]) -> usize {
    let mut fanout = Fanout::new(FanoutConfig::default());
    for (key, pair) in subs.iter().enumerate() {
        fanout.subscribe(key, pair.channel(), Reliability::Reliable { ordered: true });
    }
    let payload = message();
    let mut actions = Vec::new();
    let mut sent = 0;
    let mut got = 0;
    while got < 3 * MESSAGES {
        // Publish while every subscriber has room (a live SFU would read
        // the publisher only as fast as this).
        while sent < MESSAGES
            && subs.iter_mut().all(|p| {
                p.tx.buffered_amount(p.channel()).unwrap_or(usize::MAX) + SIZE <= 128 * 1024
            })
        {
            fanout.publish(
                MessageKind::Binary,
                &payload,
                |k, c| subs[*k].tx.buffered_amount(c),
                &mut actions,
            );
            for action in actions.drain(..) {
                if let SubscriberAction::Send {
                    subscriber,
                    channel,
                    kind,
                    payload,
                } = action
                {
                    subs[subscriber].tx.send(channel, kind, payload).unwrap();
                }
            }
            sent += 1;
        }
        for pair in subs.iter_mut() {
            pair.turn(&mut |e| {
                if let Event::Message { payload, .. } = e {
                    got += 1;
                    black_box(payload);
                }
            });
        }
    }
    got
}

fn datachannel(c: &mut Criterion) {
    let mut group = c.benchmark_group("datachannel");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((MESSAGES * SIZE) as u64));
    group.bench_function("association_10000x1KiB", |b| {
        b.iter_batched(
            Pair::new,
            |mut pair| assert_eq!(deliver(&mut pair), MESSAGES),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("fanout_1_to_3_10000x1KiB", |b| {
        b.iter_batched(
            || [Pair::new(), Pair::new(), Pair::new()],
            |mut subs| assert_eq!(fan_out(&mut subs), 3 * MESSAGES),
            BatchSize::PerIteration,
        )
    });
    let source = vec![0x5au8; MESSAGES * SIZE];
    let mut target = vec![0u8; MESSAGES * SIZE];
    group.bench_function("memcpy_10000x1KiB", |b| {
        b.iter(|| {
            for (from, to) in source.chunks(SIZE).zip(target.chunks_mut(SIZE)) {
                to.copy_from_slice(black_box(from));
            }
            black_box(&target);
        })
    });
    group.finish();
}

criterion_group!(benches, datachannel);
criterion_main!(benches);
