//! Messages of the designated-committer protocol on the application
//! server's broadcast channel, and their byte encoding.
//!
//! Encoding: a type byte, then fixed fields big-endian; byte strings carry a
//! `u32` length, lists a `u16` count. Every length is checked against the
//! input and against [`MAX_MESSAGE_LEN`] before anything is allocated.

use crate::Error;

/// Largest message accepted from the broadcast channel (a Welcome for a big
/// group is the largest message; 1 MiB leaves room for hundreds of members).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Most client ids listed in one Commit or Welcome.
pub const MAX_LISTED_CLIENTS: usize = 4096;

/// A participant's identity as the application server knows it (its
/// connection id); MLS credentials carry it as 8 big-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// Names a Commit so a joiner can match its Welcome: the first 16 bytes of
/// SHA-256 over the Commit's MLS bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitRef(pub [u8; 16]);

impl CommitRef {
    /// The reference of `commit` (MLS bytes).
    pub fn of(commit: &[u8]) -> Self {
        use sha2::Digest;
        let d = sha2::Sha256::digest(commit);
        let mut r = [0u8; 16];
        for (o, i) in r.iter_mut().zip(d.iter()) {
            *o = *i;
        }
        Self(r)
    }
}

/// One message on the broadcast channel. The server stamps `client` on
/// messages it originates or relays, from the connection it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupMessage {
    /// A client asks to join, with its MLS key package.
    JoinRequest {
        /// Who asks.
        client: ClientId,
        /// TLS-serialized MLS KeyPackage.
        key_package: Vec<u8>,
    },
    /// The server saw the client leave or its connection die.
    Left {
        /// Who left.
        client: ClientId,
    },
    /// The server found no live member and designates this pending joiner to
    /// found the group (first client of a call, or all members gone).
    Found {
        /// The founder.
        client: ClientId,
    },
    /// A Welcome for the joiners added by the Commit named by `commit`.
    Welcome {
        /// The Commit this Welcome belongs to; joiners apply it only once that
        /// Commit is sequenced.
        commit: CommitRef,
        /// Clients the Welcome is for.
        joiners: Vec<ClientId>,
        /// TLS-serialized MLS Welcome message.
        welcome: Vec<u8>,
    },
    /// A Commit by the designated committer.
    Commit {
        /// Epoch the Commit applies to (members in another epoch ignore it).
        epoch: u64,
        /// Clients it adds.
        added: Vec<ClientId>,
        /// Clients it removes.
        removed: Vec<ClientId>,
        /// TLS-serialized MLS Commit message.
        commit: Vec<u8>,
    },
}

const T_JOIN: u8 = 1;
const T_LEFT: u8 = 2;
const T_FOUND: u8 = 3;
const T_WELCOME: u8 = 4;
const T_COMMIT: u8 = 5;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_ids(out: &mut Vec<u8>, ids: &[ClientId]) {
    out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
    for c in ids {
        out.extend_from_slice(&c.0.to_be_bytes());
    }
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.data.len() {
            return Err(Error::MalformedGroupMessage);
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(*self.take(1)?.first().ok_or(Error::MalformedGroupMessage)?)
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| Error::MalformedGroupMessage)?;
        Ok(u64::from_be_bytes(b))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| Error::MalformedGroupMessage)?;
        Ok(self.take(u32::from_be_bytes(b) as usize)?.to_vec())
    }
    fn ids(&mut self) -> Result<Vec<ClientId>, Error> {
        let b: [u8; 2] = self
            .take(2)?
            .try_into()
            .map_err(|_| Error::MalformedGroupMessage)?;
        let n = usize::from(u16::from_be_bytes(b));
        if n > MAX_LISTED_CLIENTS || n * 8 > self.data.len() {
            return Err(Error::MalformedGroupMessage);
        }
        (0..n).map(|_| self.u64().map(ClientId)).collect()
    }
}

impl GroupMessage {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::JoinRequest {
                client,
                key_package,
            } => {
                out.push(T_JOIN);
                out.extend_from_slice(&client.0.to_be_bytes());
                put_bytes(out, key_package);
            }
            Self::Left { client } => {
                out.push(T_LEFT);
                out.extend_from_slice(&client.0.to_be_bytes());
            }
            Self::Found { client } => {
                out.push(T_FOUND);
                out.extend_from_slice(&client.0.to_be_bytes());
            }
            Self::Welcome {
                commit,
                joiners,
                welcome,
            } => {
                out.push(T_WELCOME);
                out.extend_from_slice(&commit.0);
                put_ids(out, joiners);
                put_bytes(out, welcome);
            }
            Self::Commit {
                epoch,
                added,
                removed,
                commit,
            } => {
                out.push(T_COMMIT);
                out.extend_from_slice(&epoch.to_be_bytes());
                put_ids(out, added);
                put_ids(out, removed);
                put_bytes(out, commit);
            }
        }
    }

    /// The encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Parses one message; trailing bytes are an error.
    pub fn decode(data: &[u8]) -> Result<Self, Error> {
        if data.len() > MAX_MESSAGE_LEN {
            return Err(Error::MalformedGroupMessage);
        }
        let mut r = Reader { data };
        let msg = match r.u8()? {
            T_JOIN => Self::JoinRequest {
                client: ClientId(r.u64()?),
                key_package: r.bytes()?,
            },
            T_LEFT => Self::Left {
                client: ClientId(r.u64()?),
            },
            T_FOUND => Self::Found {
                client: ClientId(r.u64()?),
            },
            T_WELCOME => {
                let c: [u8; 16] = r
                    .take(16)?
                    .try_into()
                    .map_err(|_| Error::MalformedGroupMessage)?;
                Self::Welcome {
                    commit: CommitRef(c),
                    joiners: r.ids()?,
                    welcome: r.bytes()?,
                }
            }
            T_COMMIT => Self::Commit {
                epoch: r.u64()?,
                added: r.ids()?,
                removed: r.ids()?,
                commit: r.bytes()?,
            },
            _ => return Err(Error::MalformedGroupMessage),
        };
        if !r.data.is_empty() {
            return Err(Error::MalformedGroupMessage);
        }
        Ok(msg)
    }
}
