//! The CPU-time readings and the raw `sendmmsg` baseline the SFU's cost is
//! compared with.
// sysconf and sendmmsg are syscalls without a safe wrapper in std; each
// block says why it is sound.
#![allow(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::LoadOptions;

/// Thread ids in this process whose name is `name`.
pub fn threads_named(name: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .map(|t| t.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Which `/proc` file [`thread_cpu`] reads here.
pub fn cpu_clock() -> &'static str {
    match std::fs::metadata("/proc/thread-self/schedstat") {
        Ok(_) => "schedstat (ns)",
        Err(_) => "stat utime+stime (ticks)",
    }
}

/// The CPU time a thread has used: the nanosecond run time of its
/// `schedstat` when the kernel has one, else utime + stime of its `stat`
/// (clock ticks). `task` is a `/proc` task directory.
pub fn thread_cpu(task: &str) -> Duration {
    if let Some(ns) = std::fs::read_to_string(format!("{task}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
    {
        return Duration::from_nanos(ns);
    }
    let stat = std::fs::read_to_string(format!("{task}/stat")).expect("thread stat");
    // The name in parentheses may hold spaces: fields count from the last ')'.
    let after_name = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // proc(5): utime and stime are fields 14 and 15; field 3 is the first here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

pub struct RawSend {
    pub sent: u64,
    pub refused: u64,
    pub cpu: Duration,
}

/// The baseline: `packets` datagrams of `size` bytes over loopback with
/// `sendmmsg`, one batch of one datagram per sink (as the SFU fans one
/// publisher packet out to every viewer), from a non-blocking socket like
/// the driver's. Back to back, or (`paced`) one batch per publisher packet
/// interval, which adds the sleep and wake-up the driver also pays. Sinks
/// are drained by their own threads, as viewers are.
pub fn raw_send(packets: u64, size: usize, options: LoadOptions, paced: bool) -> RawSend {
    let sinks: Vec<UdpSocket> = (0..options.viewers)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("sink socket"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let drains: Vec<JoinHandle<()>> = sinks
        .iter()
        .map(|s| {
            let sink = s.try_clone().unwrap();
            sink.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let _ = sink.recv_from(&mut buf);
                }
            })
        })
        .collect();
    let addrs: Vec<SocketAddr> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();
    let result = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("baseline socket");
        socket.set_nonblocking(true).unwrap();
        let payload = vec![0xa5u8; size];
        let mut batch = mmsg::Batch::new(&addrs, &payload);
        let interval = Duration::from_secs(1) / options.pps;
        let (mut sent, mut refused) = (0u64, 0u64);
        let cpu_start = thread_cpu("/proc/thread-self");
        let start = Instant::now();
        let mut i = 0u32;
        while sent + refused < packets {
            let due = start + interval * i;
            let now = Instant::now();
            if paced && due > now {
                std::thread::sleep(due - now);
            }
            let n = (packets - sent - refused).min(addrs.len() as u64) as usize;
            let ok = batch.send(&socket, n) as u64;
            sent += ok;
            refused += n as u64 - ok;
            i += 1;
        }
        let cpu = thread_cpu("/proc/thread-self").saturating_sub(cpu_start);
        RawSend { sent, refused, cpu }
    })
    .join()
    .expect("baseline thread");
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for d in drains {
        let _ = d.join();
    }
    result
}

/// `sendmmsg(2)` of one payload to several IPv4 addresses.
mod mmsg {
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    pub struct Batch {
        addrs: Vec<libc::sockaddr_in>,
        iov: libc::iovec,
        headers: Vec<libc::mmsghdr>,
    }

    impl Batch {
        pub fn new(addrs: &[SocketAddr], payload: &[u8]) -> Box<Self> {
            let addrs = addrs
                .iter()
                .map(|a| {
                    let SocketAddr::V4(a) = a else {
                        panic!("IPv4 loopback only")
                    };
                    libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: a.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.ip().octets()),
                        },
                        sin_zero: [0; 8],
                    }
                })
                .collect::<Vec<_>>();
            let mut batch = Box::new(Batch {
                headers: Vec::with_capacity(addrs.len()),
                addrs,
                iov: libc::iovec {
                    iov_base: payload.as_ptr() as *mut _,
                    iov_len: payload.len(),
                },
            });
            // The headers point into the boxed batch (addresses, iovec),
            // which does not move while the Box lives; the payload outlives
            // the batch at its only call site.
            let iov = &mut batch.iov as *mut libc::iovec;
            for i in 0..batch.addrs.len() {
                // SAFETY: an all-zero msghdr is a valid empty header.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = &mut batch.addrs[i] as *mut libc::sockaddr_in as *mut _;
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                batch.headers.push(h);
            }
            batch
        }

        /// Sends to the first `n` addresses; returns how many went out.
        pub fn send(&mut self, socket: &UdpSocket, n: usize) -> usize {
            let n = n.min(self.headers.len());
            let mut done = 0;
            while done < n {
                // SAFETY: headers[done..n] are initialised and point at live
                // addresses and the iovec (see `new`); the kernel only reads
                // them and writes msg_len.
                let r = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        self.headers.as_mut_ptr().add(done),
                        (n - done) as libc::c_uint,
                        0,
                    )
                };
                if r <= 0 {
                    // Non-blocking and full: the rest is refused, as the driver's would be.
                    break;
                }
                done += r as usize;
            }
            done
        }
    }
}
