//! The driver's UDP sockets: batched receive and send (`recvmmsg`/`sendmmsg`
//! on Linux, one datagram per call elsewhere), the local address each
//! datagram arrived on and leaves from, and the host's interface addresses
//! for ICE host candidates.
//!
//! All of the crate's `unsafe` lives in `udp/linux.rs`, behind the safe API below.
//!
//! Why the local address matters: an ICE candidate pair is a 5-tuple, so a
//! socket bound to a wildcard address (`0.0.0.0:P`, `[::]:P`) must know which
//! of the host's addresses each datagram was sent to ([`Received::to`]), and
//! the reply must leave from that same address ([`Outgoing::from`]), or the
//! peer sees it arrive from an address it never paired with.
//!
//! On other platforms (`udp/portable.rs`) the local address is not reported
//! (`to` is always `None`), `from` is ignored (the kernel picks the source
//! by routing), and [`interface_addresses`] returns an empty list; bind to a
//! specific address there.

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux;
#[cfg(target_os = "linux")]
use linux as sys;

#[cfg(not(target_os = "linux"))]
mod portable;
#[cfg(not(target_os = "linux"))]
use portable as sys;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Largest datagram we accept; a longer one is truncated by the kernel and
/// skipped by `RecvBatch::iter`.
pub const MAX_DATAGRAM: usize = 2048;

/// Datagrams read or written per system call.
pub const BATCH: usize = 32;

/// Creates a nonblocking UDP socket bound to `addr`, ready for the driver:
///
/// - an IPv6 socket is IPv6-only (`IPV6_V6ONLY`), so `[::]:P` and
///   `0.0.0.0:P` can be bound side by side, one socket per address family;
/// - it asks for `buffer` bytes of receive and send buffer (see
///   `SO_RCVBUF`/`SO_SNDBUF`); not granting them is not an error);
/// - bound to a wildcard address, on Linux it reports each datagram's
///   local destination address (`IP_PKTINFO` / `IPV6_RECVPKTINFO`), which
///   [`recv_batch`] hands on as [`Received::to`] (a socket bound to one
///   address needs no control message per datagram: `to` is `None`).
pub fn bind(addr: SocketAddr, buffer: usize) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from(socket);
    sys::set_buffer_sizes(&socket, buffer);
    if addr.ip().is_unspecified() {
        sys::report_destination(&socket, addr.is_ipv6())?;
    }
    socket2::SockRef::from(&socket).bind(&addr.into())?;
    Ok(socket)
}

/// Receive buffers for [`BATCH`] datagrams, allocated once and reused by
/// every [`recv_batch`].
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]]>,
    slots: [Slot; BATCH],
    count: usize,
}

/// What the kernel told us about one received datagram.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    len: usize,
    /// `None` when the datagram is to be skipped (truncated, unknown family).
    from: Option<SocketAddr>,
    to: Option<IpAddr>,
}

/// One datagram of the last [`recv_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// The remote address it came from.
    pub from: SocketAddr,
    /// The local address it was sent to (the socket's port), when the
    /// platform reports it; `None` on sockets not made by [`bind`] and off
    /// Linux. Pass it back as [`Outgoing::from`] when replying.
    pub to: Option<IpAddr>,
    /// The payload, at most [`MAX_DATAGRAM`] bytes.
    pub data: &'a [u8],
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// Allocates the buffers (`BATCH * MAX_DATAGRAM` bytes).
    pub fn new() -> Self {
        Self {
            bufs: vec![[0; MAX_DATAGRAM]; BATCH].into_boxed_slice(),
            slots: [Slot::default(); BATCH],
            count: 0,
        }
    }

    /// The datagrams of the last [`recv_batch`], in arrival order. Truncated
    /// datagrams (longer than [`MAX_DATAGRAM`]) are skipped.
    pub fn iter(&self) -> impl Iterator<Item = Received<'_>> {
        self.slots
            .iter()
            .zip(self.bufs.iter())
            .take(self.count)
            .filter_map(|(slot, buf)| {
                Some(Received {
                    from: slot.from?,
                    to: slot.to,
                    data: buf.get(..slot.len)?,
                })
            })
    }
}

/// Reads up to [`BATCH`] datagrams without blocking and returns how many
/// were taken off the socket (0 when it would block). The count includes
/// truncated datagrams, which [`RecvBatch::iter`] skips, so keep reading
/// until it returns 0, not until `iter` comes back empty.
///
/// An error is a socket error, not a bad datagram; the batch is then empty.
pub fn recv_batch(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.count = 0;
    let n = sys::recv(socket, batch)?;
    batch.count = n.min(BATCH);
    Ok(batch.count)
}

/// One datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// The remote address.
    pub to: SocketAddr,
    /// The local address it must leave from (the [`Received::to`] of the
    /// path it answers), or `None` (or an unspecified address) to let the
    /// kernel choose by routing. Must be of the same family as `to`, else
    /// the datagram is refused. Ignored off Linux.
    pub from: Option<IpAddr>,
    /// The payload.
    pub data: &'a [u8],
}

/// What became of the datagrams given to [`send_batch`]; the three counts
/// add up to how many were given.
#[must_use]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Handed to the kernel.
    pub sent: usize,
    /// Refused by the kernel one by one (destination port 0, a destination
    /// of the other address family, no route, too large, a `from` that is
    /// not a local address...) and skipped; the rest were still tried.
    pub refused: usize,
    /// Not tried because the socket buffer was full (`EAGAIN`, `ENOBUFS`):
    /// everything after the datagram that hit the full buffer.
    pub dropped: usize,
}

/// Sends `datagrams` in order without blocking, [`BATCH`] per system call.
///
/// A datagram the kernel refuses is skipped and counted, and the batch goes
/// on; only a full socket buffer stops it (the rest are counted as
/// dropped). Never blocks, never loops: at most one system call per
/// datagram, plus a few retries after `EINTR`.
pub fn send_batch(socket: &UdpSocket, datagrams: &[Outgoing<'_>]) -> SendReport {
    sys::send(socket, datagrams)
}

/// One address of a network interface that is up.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub ip: IpAddr,
    /// The interface's name (`eth0`, `lo`, `wlp2s0`...).
    pub name: String,
    /// The interface is a loopback (`IFF_LOOPBACK`).
    pub loopback: bool,
    /// An IPv6 link-local address (`fe80::/10`); always `false` for IPv4.
    pub link_local: bool,
}

impl InterfaceAddress {
    /// Whether to announce it as an ICE host candidate, as browsers do:
    /// not loopback, not IPv6 link-local.
    pub fn is_host_candidate(&self) -> bool {
        !self.loopback && !self.link_local
    }
}

/// Every address, IPv4 and IPv6, of every interface that is up
/// (`getifaddrs` on Linux; an empty list elsewhere).
pub fn interface_addresses() -> io::Result<Vec<InterfaceAddress>> {
    sys::interface_addresses()
}
