//! `sfu-nack` will be the NACK shield: a bounded retransmission cache per
//! outgoing stream, a loss detector that emits RFC 4585 generic NACKs per
//! incoming stream, a responder that answers NACKs from the local cache and
//! asks upstream once for misses, and RTX (RFC 4588) both ways. It is sans-IO
//! and knows nothing of sessions, sockets or crypto.
