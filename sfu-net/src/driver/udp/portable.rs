//! Other platforms: one datagram per `recv_from`/`send_to`, no local
//! address reported (`to` is `None`), `from` ignored, no interface list.

use std::io;
use std::net::UdpSocket;

use super::{InterfaceAddress, Outgoing, RecvBatch, SendReport};

pub(super) fn set_buffer_sizes(socket: &UdpSocket, bytes: usize) {
    let socket = socket2::SockRef::from(socket);
    // Not fatal: the kernel default stays.
    let _ = socket.set_recv_buffer_size(bytes);
    let _ = socket.set_send_buffer_size(bytes);
}

pub(super) fn report_destination(_socket: &UdpSocket, _ipv6: bool) -> io::Result<()> {
    Ok(())
}

pub(super) fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    let mut n = 0;
    let mut interrupted = 0;
    while let (Some(slot), Some(buf)) = (batch.slots.get_mut(n), batch.bufs.get_mut(n)) {
        match socket.recv_from(buf) {
            Ok((len, from)) => {
                // Without MSG_TRUNC a datagram that filled the buffer may
                // have been cut: skip it like the Linux path does.
                slot.from = (len < buf.len()).then_some(from);
                slot.len = len.min(buf.len());
                slot.to = None;
                n += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted && interrupted < 3 => {
                interrupted += 1;
            }
            // Hand on what was read; the error comes back on the next call.
            Err(_) if n > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) fn send(socket: &UdpSocket, datagrams: &[Outgoing<'_>]) -> SendReport {
    let mut report = SendReport::default();
    for (i, datagram) in datagrams.iter().enumerate() {
        match socket.send_to(datagram.data, datagram.to) {
            Ok(_) => report.sent += 1,
            Err(e) if is_full(&e) => {
                report.dropped = datagrams.len() - i;
                break;
            }
            Err(_) => report.refused += 1,
        }
    }
    report
}

fn is_full(e: &io::Error) -> bool {
    // ENOBUFS has no ErrorKind of its own.
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

pub(super) fn interface_addresses() -> io::Result<Vec<InterfaceAddress>> {
    Ok(Vec::new())
}
