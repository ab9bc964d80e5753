//! Linux: `recvmmsg`/`sendmmsg` with `IP_PKTINFO`/`IPV6_PKTINFO` control
//! messages, socket options through `setsockopt`, and `getifaddrs`.
//!
//! The per-call arrays (headers, iovecs, addresses, control buffers) live on
//! the stack, [`BATCH`] of each, and are walked with iterators; the kernel is
//! never told about more entries than they have.

use std::ffi::CStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;

use super::{BATCH, InterfaceAddress, MAX_DATAGRAM, Outgoing, RecvBatch, SendReport};

/// Room for one control message per datagram (an `in6_pktinfo`, the
/// larger of the two), aligned as `cmsghdr` wants.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; CONTROL_LEN]);

const CONTROL_LEN: usize = 64;

/// `cmsg_len` and `CMSG_SPACE` of an `in_pktinfo` / `in6_pktinfo` message.
struct Sizes {
    len: libc::c_uint,
    space: libc::c_uint,
}

const fn sizes<T>() -> Sizes {
    let data = size_of::<T>() as libc::c_uint;
    // SAFETY: CMSG_LEN / CMSG_SPACE are arithmetic on their argument,
    // nothing is dereferenced.
    unsafe {
        Sizes {
            len: libc::CMSG_LEN(data),
            space: libc::CMSG_SPACE(data),
        }
    }
}

const PKTINFO: Sizes = sizes::<libc::in_pktinfo>();
const PKTINFO6: Sizes = sizes::<libc::in6_pktinfo>();

const _: () = assert!(PKTINFO.space as usize <= CONTROL_LEN);
const _: () = assert!(PKTINFO6.space as usize <= CONTROL_LEN);
const _: () = assert!(std::mem::align_of::<libc::cmsghdr>() <= std::mem::align_of::<Control>());

/// Retries of one system call interrupted by a signal before giving up.
const EINTR_RETRIES: usize = 3;

fn zeroed_controls() -> [Control; BATCH] {
    [Control([0; CONTROL_LEN]); BATCH]
}

fn zeroed_names() -> [libc::sockaddr_storage; BATCH] {
    // SAFETY: sockaddr_storage is a plain C struct; all-zero is valid.
    unsafe { zeroed() }
}

fn zeroed_msgs() -> [libc::mmsghdr; BATCH] {
    // SAFETY: mmsghdr is a plain C struct (null pointers, zero lengths);
    // all-zero is valid.
    unsafe { zeroed() }
}

fn empty_iovecs() -> [libc::iovec; BATCH] {
    [libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 0,
    }; BATCH]
}

fn to_sockaddr(addr: &SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any
            // sockaddr, and `storage` is exclusively borrowed.
            let sin = unsafe { &mut *ptr::from_mut(storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *ptr::from_mut(storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Reads the socket address at `sa`, if it is IPv4 or IPv6.
///
/// # Safety
/// `sa` must point at a readable sockaddr whose family field is set and
/// which is as long as that family's struct.
unsafe fn read_sockaddr(sa: *const libc::sockaddr) -> Option<SocketAddr> {
    // SAFETY: the caller guarantees `sa` is readable; every sockaddr starts
    // with its family.
    let family = i32::from(unsafe { (*sa).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in, which the caller
            // guarantees is fully there; read_unaligned needs no alignment.
            let sin = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn from_sockaddr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let needed = match i32::from(storage.ss_family) {
        libc::AF_INET => size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
        _ => return None,
    };
    if (len as usize) < needed {
        return None;
    }
    // SAFETY: the storage is a live sockaddr_storage (large enough for any
    // sockaddr) and the kernel wrote at least `needed` bytes of it.
    unsafe { read_sockaddr(ptr::from_ref(storage).cast()) }
}

fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its exact size; the
    // kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(super) fn set_buffer_sizes(socket: &UdpSocket, bytes: usize) {
    let fd = socket.as_raw_fd();
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // The FORCE variants pass the sysctl cap but need CAP_NET_ADMIN.
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if set_int_option(fd, libc::SOL_SOCKET, forced, value).is_err() {
            // Not fatal: the kernel default stays.
            let _ = set_int_option(fd, libc::SOL_SOCKET, plain, value);
        }
    }
}

pub(super) fn report_destination(socket: &UdpSocket, ipv6: bool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    if ipv6 {
        set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    } else {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

/// `msg_controllen`: a `size_t` on glibc, a `socklen_t` on musl.
#[allow(clippy::unnecessary_cast)]
fn control_len(hdr: &libc::msghdr) -> usize {
    hdr.msg_controllen as usize
}

/// The destination address in the `IP_PKTINFO` / `IPV6_PKTINFO` control
/// message the kernel attached to a received datagram, if any.
fn destination(hdr: &libc::msghdr) -> Option<IpAddr> {
    // A control buffer holds a handful of messages at most; the bound only
    // guards against a malformed chain.
    const MAX_MESSAGES: usize = 8;
    // SAFETY: `hdr` describes a control buffer of `msg_controllen` bytes
    // (set by the kernel to what it wrote) that is still alive; FIRSTHDR
    // only returns a header that fits in it.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    for _ in 0..MAX_MESSAGES {
        if cmsg.is_null() {
            return None;
        }
        // SAFETY: a non-null header from FIRSTHDR/NXTHDR lies within the
        // control buffer; read_unaligned needs no alignment.
        let header = unsafe { ptr::read_unaligned(cmsg) };
        let offset = (cmsg as usize).wrapping_sub(hdr.msg_control as usize);
        let fits = offset
            .checked_add(header.cmsg_len as usize)
            .is_some_and(|end| end <= control_len(hdr));
        if (header.cmsg_len as usize) < size_of::<libc::cmsghdr>() || !fits {
            return None;
        }
        match (header.cmsg_level, header.cmsg_type) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO)
                if header.cmsg_len as usize >= PKTINFO.len as usize =>
            {
                // SAFETY: level, type and length say an in_pktinfo follows
                // the header, and `fits` checked it ends inside the buffer.
                let info = unsafe {
                    ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>())
                };
                return Some(IpAddr::V4(Ipv4Addr::from(
                    info.ipi_addr.s_addr.to_ne_bytes(),
                )));
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                if header.cmsg_len as usize >= PKTINFO6.len as usize =>
            {
                // SAFETY: as above, for in6_pktinfo.
                let info = unsafe {
                    ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::in6_pktinfo>())
                };
                return Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
        // SAFETY: `cmsg` is a valid header of `hdr`'s buffer; NXTHDR checks
        // that the next one fits before returning it.
        cmsg = unsafe { libc::CMSG_NXTHDR(hdr, cmsg) };
    }
    None
}

pub(super) fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    let mut names = zeroed_names();
    let mut controls = zeroed_controls();
    let mut iovs = empty_iovecs();
    let mut msgs = zeroed_msgs();
    let slots = msgs
        .iter_mut()
        .zip(iovs.iter_mut())
        .zip(names.iter_mut().zip(controls.iter_mut()))
        .zip(batch.bufs.iter_mut());
    for (((msg, iov), (name, control)), buf) in slots {
        *iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        msg.msg_hdr.msg_name = ptr::from_mut(name).cast();
        msg.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_hdr.msg_iov = ptr::from_mut(iov);
        msg.msg_hdr.msg_iovlen = 1;
        msg.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_hdr.msg_controllen = CONTROL_LEN as _;
    }
    let mut interrupted = 0;
    let n = loop {
        // SAFETY: each of the BATCH headers points at a live buffer, iovec,
        // address storage and control buffer, owned by this frame or
        // `batch`, with the lengths declared; none is moved or read until
        // the call returns.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                ptr::null_mut(),
            )
        };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => return Ok(0),
            io::ErrorKind::Interrupted if interrupted < EINTR_RETRIES => interrupted += 1,
            _ => return Err(e),
        }
    };
    let n = n.min(BATCH);
    for ((slot, msg), name) in batch
        .slots
        .iter_mut()
        .zip(msgs.iter())
        .zip(names.iter())
        .take(n)
    {
        let hdr = &msg.msg_hdr;
        let truncated = hdr.msg_flags & libc::MSG_TRUNC != 0;
        slot.len = (msg.msg_len as usize).min(MAX_DATAGRAM);
        slot.from = if truncated {
            None
        } else {
            from_sockaddr(name, hdr.msg_namelen)
        };
        slot.to = if hdr.msg_flags & libc::MSG_CTRUNC != 0 {
            None
        } else {
            destination(hdr)
        };
    }
    Ok(n)
}

/// Whether a datagram to `to` may carry `from` as its source: same family.
fn source_fits(to: &SocketAddr, from: IpAddr) -> bool {
    to.is_ipv4() == from.is_ipv4()
}

/// Writes the control message that makes a datagram to `to` leave from
/// `from`, which [`source_fits`] `to`.
fn attach_source(hdr: &mut libc::msghdr, control: &mut Control, to: &SocketAddr, from: IpAddr) {
    let (level, kind, sizes) = match from {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, PKTINFO),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, PKTINFO6),
    };
    // The first control message starts the buffer (what CMSG_FIRSTHDR
    // returns), aligned for cmsghdr by `Control`'s alignment.
    let cmsg = control.0.as_mut_ptr().cast::<libc::cmsghdr>();
    hdr.msg_control = cmsg.cast();
    hdr.msg_controllen = sizes.space as _;
    // SAFETY: `cmsg` is the aligned start of the exclusively borrowed
    // control buffer, which has room for `sizes.space` bytes (asserted at
    // compile time): the header, then the pktinfo at CMSG_DATA.
    unsafe {
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = sizes.len as _;
        let data = libc::CMSG_DATA(cmsg);
        match (from, to) {
            (IpAddr::V4(ip), _) => ptr::write_unaligned(
                data.cast::<libc::in_pktinfo>(),
                libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(ip.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                },
            ),
            (IpAddr::V6(ip), to) => ptr::write_unaligned(
                data.cast::<libc::in6_pktinfo>(),
                libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    // A link-local destination's interface, 0 otherwise.
                    ipi6_ifindex: match to {
                        SocketAddr::V6(a) => a.scope_id(),
                        SocketAddr::V4(_) => 0,
                    },
                },
            ),
        }
    }
}

pub(super) fn send(socket: &UdpSocket, datagrams: &[Outgoing<'_>]) -> SendReport {
    let mut report = SendReport::default();
    let mut chunks = datagrams.chunks(BATCH);
    while let Some(chunk) = chunks.next() {
        if let Err(unsent) = send_chunk(socket.as_raw_fd(), chunk, &mut report) {
            report.dropped += unsent + chunks.map(<[_]>::len).sum::<usize>();
            break;
        }
    }
    report
}

/// Sends up to [`BATCH`] datagrams, adding to `report`. `Err(unsent)` when
/// the socket buffer filled up with `unsent` datagrams of the chunk left.
fn send_chunk(fd: RawFd, chunk: &[Outgoing<'_>], report: &mut SendReport) -> Result<(), usize> {
    let mut names = zeroed_names();
    let mut controls = zeroed_controls();
    let mut iovs = empty_iovecs();
    let mut msgs = zeroed_msgs();
    // Datagrams refused before the call are left out, so the first
    // `prepared` headers are the ones to send.
    let sendable = chunk.iter().filter(|datagram| {
        let fits = match datagram.from {
            Some(from) if !from.is_unspecified() => source_fits(&datagram.to, from),
            _ => true,
        };
        if !fits {
            report.refused += 1;
        }
        fits
    });
    let slots = msgs
        .iter_mut()
        .zip(iovs.iter_mut())
        .zip(names.iter_mut().zip(controls.iter_mut()));
    let mut prepared = 0;
    for (datagram, ((msg, iov), (name, control))) in sendable.zip(slots) {
        let hdr = &mut msg.msg_hdr;
        if let Some(from) = datagram.from.filter(|ip| !ip.is_unspecified()) {
            attach_source(hdr, control, &datagram.to, from);
        }
        *iov = libc::iovec {
            // The kernel only reads through it.
            iov_base: datagram.data.as_ptr().cast_mut().cast(),
            iov_len: datagram.data.len(),
        };
        hdr.msg_namelen = to_sockaddr(&datagram.to, name);
        hdr.msg_name = ptr::from_mut(name).cast();
        hdr.msg_iov = ptr::from_mut(iov);
        hdr.msg_iovlen = 1;
        prepared += 1;
    }
    let mut start = 0;
    let mut interrupted = 0;
    while start < prepared {
        let Some(rest) = msgs.get_mut(start..prepared) else {
            break;
        };
        let len = rest.len();
        // SAFETY: the headers of `rest` point at live data, addresses and
        // control buffers, owned by this frame or borrowed from `chunk`,
        // with the lengths declared; the kernel only reads them (and writes
        // msg_len).
        let n = unsafe {
            libc::sendmmsg(
                fd,
                rest.as_mut_ptr(),
                len as libc::c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if n > 0 {
            let n = (n as usize).min(len);
            report.sent += n;
            start += n;
            continue;
        }
        if n == 0 {
            // No progress and no error: do not spin.
            return Err(len);
        }
        match after_send_error(io::Error::last_os_error().raw_os_error(), interrupted) {
            AfterSendError::Stop => return Err(len),
            AfterSendError::Retry => interrupted += 1,
            // The first datagram of `rest` is the one refused.
            AfterSendError::Skip => {
                report.refused += 1;
                start += 1;
            }
        }
    }
    Ok(())
}

/// What to do when `sendmmsg` fails on the first datagram it was given.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AfterSendError {
    /// The socket buffer is full: drop the rest of the batch.
    Stop,
    /// Interrupted by a signal: try the same datagram again.
    Retry,
    /// The kernel refused this datagram: skip it, send the rest.
    Skip,
}

/// `errno` after a failed `sendmmsg`, with `interrupted` retries so far.
pub(super) fn after_send_error(errno: Option<i32>, interrupted: usize) -> AfterSendError {
    match errno {
        Some(libc::EAGAIN | libc::ENOBUFS) => AfterSendError::Stop,
        Some(libc::EINTR) if interrupted < EINTR_RETRIES => AfterSendError::Retry,
        // EINVAL, EACCES, EPERM, ENETUNREACH, EHOSTUNREACH, EMSGSIZE,
        // EAFNOSUPPORT, EADDRNOTAVAIL, ECONNREFUSED, or anything else: one
        // datagram at a time, so even a broken socket ends the batch after
        // one call per datagram.
        _ => AfterSendError::Skip,
    }
}

pub(super) fn interface_addresses() -> io::Result<Vec<InterfaceAddress>> {
    let mut head: *mut libc::ifaddrs = ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`, freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: a non-null node of the list getifaddrs returned, alive
        // until freeifaddrs.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        let flags = ifa.ifa_flags;
        if flags & libc::IFF_UP as libc::c_uint == 0
            || ifa.ifa_addr.is_null()
            || ifa.ifa_name.is_null()
        {
            continue;
        }
        // SAFETY: getifaddrs fills ifa_addr with a sockaddr as long as its
        // family's struct.
        let Some(addr) = (unsafe { read_sockaddr(ifa.ifa_addr) }) else {
            continue;
        };
        // SAFETY: ifa_name is a NUL-terminated string alive until
        // freeifaddrs; it is copied out here.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let ip = addr.ip();
        found.push(InterfaceAddress {
            ip,
            name,
            loopback: flags & libc::IFF_LOOPBACK as libc::c_uint != 0,
            link_local: is_ipv6_link_local(&ip),
        });
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once;
    // nothing borrowed from the list outlives this call.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// `fe80::/10`.
pub(super) fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80),
        IpAddr::V4(_) => false,
    }
}
