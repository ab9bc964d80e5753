//! Our association against an independent SCTP and DCEP implementation:
//! aiortc's `RTCSctpTransport` (pure Python), with DTLS replaced by a pipe
//! carrying one SCTP packet per line. aiortc is DTLS client and sends INIT
//! (as it always does); we are DTLS server and accept. aiortc opens an
//! ordered reliable channel and sends 500 numbered text messages, which
//! must arrive in order; we open a `maxRetransmits: 0` unordered channel,
//! aiortc must see exactly that reliability in our DCEP OPEN, and echoes
//! the 200 binary messages we send on it. Real time, 30 s at most.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_net::datachannel::{
    Association, AssociationConfig, Event, MessageKind, Reliability, SctpRole,
};
use sfu_net::srtp::DtlsRole;

/// The aiortc side: a stand-in DTLS transport (lines of hex on stdin and
/// stdout), the SCTP transport on it, and the scenario.
const PEER: &str = r#"
import asyncio, sys
from aiortc.rtcsctptransport import RTCSctpTransport
from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters

class Pipe:
    state = "connected"
    _role = "client"
    def __init__(self):
        self.receiver = None
    def _register_data_receiver(self, receiver):
        self.receiver = receiver
    def _unregister_data_receiver(self, receiver):
        self.receiver = None
    async def _send_data(self, data):
        sys.stdout.write("P " + data.hex() + "\n")
        sys.stdout.flush()

def say(text):
    sys.stdout.write("L " + text + "\n")
    sys.stdout.flush()

async def main():
    pipe = Pipe()
    sctp = RTCSctpTransport(pipe)
    done = asyncio.Event()
    echoed = 0

    @sctp.on("datachannel")
    def on_channel(channel):
        say("open %s ordered=%s maxRetransmits=%s id=%s"
            % (channel.label, channel.ordered, channel.maxRetransmits, channel.id))
        @channel.on("message")
        def on_message(message):
            nonlocal echoed
            channel.send(message)
            echoed += 1
            if echoed == 200:
                say("echoed 200")
                done.set()

    await sctp.start(sctp.getCapabilities(), 5000)
    ours = RTCDataChannel(sctp, RTCDataChannelParameters(label="from-aiortc", ordered=True))

    @ours.on("open")
    def on_open():
        for i in range(500):
            ours.send("m%d" % i)

    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def pump():
        while True:
            line = await reader.readline()
            if not line:
                return
            await sctp._handle_data(bytes.fromhex(line.decode().strip()))

    task = asyncio.ensure_future(pump())
    await asyncio.wait_for(done.wait(), 25)
    await asyncio.sleep(0.5)
    task.cancel()

asyncio.run(main())
"#;

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        // The repository's peers (aiortc among them) install on first use,
        // one test binary at a time.
        let status = Command::new("flock")
            .args(["/tmp/sfu-install-peers.lock", "bash", ".ci/install-peers"])
            .current_dir(&root)
            .status()
            .expect("flock and bash run .ci/install-peers");
        assert!(status.success(), ".ci/install-peers failed: {status}");
    }
    python
}

#[test]
fn aiortc_sctp_and_dcep_interoperate() {
    let mut child = Command::new(python())
        .args(["-c", PEER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python runs");
    let mut to_peer = child.stdin.take().unwrap();
    let from_peer = BufReader::new(child.stdout.take().unwrap());
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in from_peer.lines() {
            let Ok(line) = line else { return };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });

    let start = Instant::now();
    let mut sfu = Association::new(
        AssociationConfig::default(),
        DtlsRole::Server,
        SctpRole::Accept,
        start,
    );
    let mut said = Vec::new();
    let mut from_aiortc = Vec::new();
    let mut echoes = 0;
    let mut ours = None;
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(30) && echoes < 200 {
        let wait = sfu
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(20));
        match lines.recv_timeout(wait) {
            Ok(line) => match line.split_once(' ') {
                Some(("P", hex)) => {
                    let packet: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect();
                    sfu.handle_input(Instant::now(), &packet);
                }
                Some(("L", text)) => said.push(text.to_owned()),
                _ => panic!("unexpected line from aiortc: {line}"),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => sfu.handle_timeout(Instant::now()),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        loop {
            let mut progress = false;
            while let Some(event) = sfu.poll_event() {
                progress = true;
                match event {
                    Event::Connected => {
                        let reliability = Reliability::MaxRetransmits {
                            retransmits: 0,
                            ordered: false,
                        };
                        ours = Some(sfu.open_channel("from-sfu", "", reliability).unwrap());
                    }
                    Event::Message {
                        channel, payload, ..
                    } if Some(channel) == ours => {
                        echoes += 1;
                        assert_eq!(payload.len(), 300);
                    }
                    Event::Message { kind, payload, .. } => {
                        assert_eq!(kind, MessageKind::Text);
                        from_aiortc.push(String::from_utf8(payload.to_vec()).unwrap());
                    }
                    Event::ChannelOpen { channel, .. } if Some(channel) == ours => {
                        // aiortc acknowledged our OPEN: send what it echoes.
                        while sent < 200 {
                            let body = Bytes::from(vec![sent as u8; 300]);
                            sfu.send(channel, MessageKind::Binary, body).unwrap();
                            sent += 1;
                        }
                    }
                    _ => {}
                }
            }
            while let Some(packet) = sfu.poll_transmit() {
                progress = true;
                let mut line = String::with_capacity(packet.len() * 2 + 1);
                for b in packet.iter() {
                    line.push_str(&format!("{b:02x}"));
                }
                line.push('\n');
                to_peer.write_all(line.as_bytes()).unwrap();
            }
            if !progress {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    let expected: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
    assert_eq!(from_aiortc, expected, "aiortc said {said:?}");
    // Our OPEN as aiortc read it: our label, unordered, maxRetransmits 0,
    // an odd id (we are the DTLS server).
    assert!(
        said.iter()
            .any(|l| l == "open from-sfu ordered=False maxRetransmits=0 id=1"),
        "{said:?}"
    );
    // The echoes ride an unreliable channel on a lossless pipe: all back.
    assert_eq!(echoes, 200);
    let stats = sfu.stats();
    assert_eq!(
        stats.malformed_packets + stats.bad_checksums,
        0,
        "{stats:?}"
    );
}
