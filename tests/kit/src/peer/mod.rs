//! The stand-in WebRTC peer (being written).
