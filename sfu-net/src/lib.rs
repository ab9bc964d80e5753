//! `sfu-net` will put the router on the wire: one UDP port for every peer,
//! datagrams demultiplexed by their first byte (RFC 7983) and routed by ICE
//! ufrag and then 5-tuple, ICE-lite, DTLS-SRTP, SDP offer/answer, and a mio
//! driver thread that batches `recvmmsg`/`sendmmsg`. Its endpoint is sans-IO
//! like the rest of the project; only the driver module touches sockets.
