//! Batched UDP I/O: `recvmmsg`/`sendmmsg` on Linux, one datagram per call
//! elsewhere. All of the crate's `unsafe` lives here, behind a safe API.
#![allow(unsafe_code)]
// Indices below are bounded by BATCH, the length of every array indexed.
#![allow(clippy::indexing_slicing)]

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Largest datagram we accept; anything longer is truncated by the kernel
/// and then rejected by the parsers.
pub const MAX_DATAGRAM: usize = 2048;

/// Datagrams read or written per system call.
pub const BATCH: usize = 32;

/// Receive buffers for one batch.
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    lens: [usize; BATCH],
    sources: [Option<SocketAddr>; BATCH],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self {
            bufs: Box::new([[0; MAX_DATAGRAM]; BATCH]),
            lens: [0; BATCH],
            sources: [None; BATCH],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// The datagrams of the last receive, with their sources.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        (0..self.count).filter_map(|i| {
            let src = self.sources.get(i).copied().flatten()?;
            let len = *self.lens.get(i)?;
            Some((src, self.bufs.get(i)?.get(..len)?))
        })
    }
}

/// Asks the kernel for `bytes` of receive and send buffer, so a burst that
/// arrives while the driver thread is descheduled is not dropped. The kernel
/// may grant less (Linux caps it at `net.core.rmem_max`/`wmem_max`); failure
/// is not fatal, the defaults stay.
pub fn set_buffer_sizes(socket: &UdpSocket, bytes: usize) {
    sys::set_buffer_sizes(socket, bytes);
}

/// Reads up to [`BATCH`] datagrams without blocking; returns how many
/// (0 when the socket would block).
pub fn recv_batch(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.count = 0;
    let n = sys::recv(socket, batch)?;
    batch.count = n;
    Ok(n)
}

/// Writes datagrams without blocking; returns how many were sent (fewer
/// than given when the socket buffer is full).
pub fn send_batch(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    sys::send(socket, datagrams)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem::{MaybeUninit, size_of, zeroed};
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
    use std::os::fd::AsRawFd;

    use super::{BATCH, RecvBatch};

    fn would_block(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::WouldBlock
    }

    fn to_sockaddr(addr: &SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
                let sin = unsafe { &mut *(storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(storage as *mut _ as *mut libc::sockaddr_in6) };
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

    fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in (family checked).
                let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    u32::from_be(sin.sin_addr.s_addr).into(),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the kernel wrote a sockaddr_in6 (family checked).
                let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    sin6.sin6_addr.s6_addr.into(),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    pub fn set_buffer_sizes(socket: &UdpSocket, bytes: usize) {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let set = |option: libc::c_int| {
            // SAFETY: passes a pointer to a live c_int and its exact size.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&value as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                ) == 0
            }
        };
        // The FORCE variants pass the sysctl cap but need CAP_NET_ADMIN.
        for (forced, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if !set(forced) {
                set(plain);
            }
        }
    }

    pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [MaybeUninit::uninit(); BATCH];
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            let buf = &mut batch.bufs[i];
            iovs[i].write(libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            });
            msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = iovs[i].as_mut_ptr();
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every mmsghdr points at a live buffer, iovec and address
        // storage owned by this frame or `batch`, sized as declared.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if would_block(&e) { Ok(0) } else { Err(e) };
        }
        let n = n as usize;
        for i in 0..n {
            batch.lens[i] = msgs[i].msg_len as usize;
            batch.sources[i] = from_sockaddr(&addrs[i]);
        }
        Ok(n)
    }

    pub fn send(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
        let mut sent = 0;
        for chunk in datagrams.chunks(BATCH) {
            // SAFETY: all-zero is a valid value for these plain C structs.
            let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
            let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [MaybeUninit::uninit(); BATCH];
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
            for (i, (dst, data)) in chunk.iter().enumerate() {
                iovs[i].write(libc::iovec {
                    iov_base: data.as_ptr() as *mut libc::c_void,
                    iov_len: data.len(),
                });
                msgs[i].msg_hdr.msg_namelen = to_sockaddr(dst, &mut addrs[i]);
                msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
                msgs[i].msg_hdr.msg_iov = iovs[i].as_mut_ptr();
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: the first chunk.len() headers point at live data and
            // addresses; the kernel only reads them.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    chunk.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return if would_block(&e) { Ok(sent) } else { Err(e) };
            }
            sent += n as usize;
            if (n as usize) < chunk.len() {
                break;
            }
        }
        Ok(sent)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    use super::{BATCH, RecvBatch};

    pub fn set_buffer_sizes(_socket: &UdpSocket, _bytes: usize) {}

    pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
        let mut n = 0;
        while n < BATCH {
            match socket.recv_from(&mut batch.bufs[n]) {
                Ok((len, src)) => {
                    batch.lens[n] = len;
                    batch.sources[n] = Some(src);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    pub fn send(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
        let mut sent = 0;
        for (dst, data) in datagrams {
            match socket.send_to(data, dst) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_over_loopback() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let datagrams: Vec<(SocketAddr, &[u8])> =
            payloads.iter().map(|p| (to, p.as_slice())).collect();
        assert_eq!(send_batch(&a, &datagrams).unwrap(), 40);
        let mut batch = RecvBatch::default();
        let mut got = Vec::new();
        for _ in 0..100 {
            if recv_batch(&b, &mut batch).unwrap() == 0 && got.len() == 40 {
                break;
            }
            got.extend(batch.iter().map(|(src, d)| (src, d.to_vec())));
        }
        assert_eq!(got.len(), 40);
        assert!(got.iter().all(|(src, _)| *src == a.local_addr().unwrap()));
        assert_eq!(got[39].1, payloads[39]);
        assert_eq!(
            recv_batch(&b, &mut batch).unwrap(),
            0,
            "would block is not an error"
        );
    }
}
