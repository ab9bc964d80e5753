//! MLS (RFC 9420) keying through openmls: one group per call, key packages,
//! Add/Remove Commits with Welcomes, and per-sender SFrame keys from the MLS
//! exporter for every epoch (RFC 9605 §5.2).
//!
//! Randomness comes from the openmls provider (`OpenMlsRustCrypto`, seeded
//! by the OS), which is the one place this crate draws random bytes: MLS
//! needs fresh HPKE and signature keys that no caller-supplied seed should
//! make predictable.

use openmls::prelude::tls_codec::{DeserializeBytes as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Ciphersuite, CredentialWithKey, GroupId, KeyPackage, KeyPackageIn,
    LeafNodeIndex, MlsGroup, MlsGroupCreateConfig, MlsGroupJoinConfig, MlsMessageBodyIn,
    MlsMessageIn, OpenMlsProvider, ProcessedMessageContent, ProtocolVersion, StagedWelcome,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::Error;
use crate::committer::{CommitOutcome, GroupKeying};
use crate::safety::SafetyNumber;
use crate::sframe::{CipherSuite, SframeKey};
use crate::wire::ClientId;

/// The MLS cipher suite calls use.
pub const MLS_SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
/// Exporter label of RFC 9605 §5.2.
pub const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";

/// How a KID packs epoch and sender (RFC 9605 §5.2):
/// `KID = (context << (S + E)) | (leaf << E) | (epoch mod 2^E)`, context 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KidLayout {
    /// `E`: low epoch bits in the KID.
    pub epoch_bits: u8,
    /// `S`: bits for the sender's leaf index.
    pub index_bits: u8,
}

impl Default for KidLayout {
    /// 4 epoch bits (16 epochs tell apart the current and previous one with
    /// room to spare) and 12 index bits (4096 leaves): KIDs fit two bytes.
    fn default() -> Self {
        Self {
            epoch_bits: 4,
            index_bits: 12,
        }
    }
}

impl KidLayout {
    /// The KID of `leaf` in `epoch`, or `None` if the leaf does not fit.
    pub fn kid(&self, epoch: u64, leaf: u32) -> Option<u64> {
        if self.index_bits < 32 && u64::from(leaf) >= 1u64 << self.index_bits {
            return None;
        }
        let mask = (1u64 << self.epoch_bits) - 1;
        Some((u64::from(leaf) << self.epoch_bits) | (epoch & mask))
    }

    /// The leaf index a KID names.
    pub fn leaf(&self, kid: u64) -> u64 {
        (kid >> self.epoch_bits) & ((1u64 << self.index_bits) - 1)
    }
}

/// SFrame keys of one epoch: ours for sending, everyone else's for receiving.
#[derive(Debug, Clone)]
pub struct EpochKeys {
    /// The epoch.
    pub epoch: u64,
    /// Our send key.
    pub own: SframeKey,
    /// Receive keys of the other members.
    pub others: Vec<SframeKey>,
}

fn mls_err(e: impl std::fmt::Debug) -> Error {
    Error::Mls(format!("{e:?}"))
}

fn client_of(identity: &[u8]) -> Option<ClientId> {
    Some(ClientId(u64::from_be_bytes(identity.try_into().ok()?)))
}

/// One client's MLS state, backed by openmls.
pub struct MlsKeying {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    group: Option<MlsGroup>,
}

impl std::fmt::Debug for MlsKeying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsKeying")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

impl MlsKeying {
    /// A client whose credential names `client`, with a fresh signature key.
    pub fn new(client: ClientId) -> Result<Self, Error> {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(MLS_SUITE.signature_algorithm()).map_err(mls_err)?;
        signer.store(provider.storage()).map_err(mls_err)?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(client.0.to_be_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Ok(Self {
            provider,
            signer,
            credential,
            group: None,
        })
    }

    /// The SFrame keys of the current epoch for `suite`: the exporter secret
    /// `MLS-Exporter("SFrame 1.0 Base Key", "", KDF.Nh)` expanded per sender
    /// with its leaf index (RFC 9605 §5.2). The exporter length is the hash
    /// length so the secret is a valid HKDF pseudorandom key.
    pub fn epoch_keys(&self, suite: CipherSuite, layout: KidLayout) -> Result<EpochKeys, Error> {
        let group = self
            .group
            .as_ref()
            .ok_or(Error::Mls("not in a group".into()))?;
        let epoch = group.epoch().as_u64();
        let secret = group
            .export_secret(
                self.provider.crypto(),
                SFRAME_EXPORTER_LABEL,
                &[],
                suite.hash_len(),
            )
            .map_err(mls_err)?;
        let own_leaf = group.own_leaf_index().u32();
        let mut own = None;
        let mut others = Vec::new();
        for m in group.members() {
            let leaf = m.index.u32();
            let kid = layout
                .kid(epoch, leaf)
                .ok_or(Error::Mls("leaf index exceeds KID layout".into()))?;
            let mut base = vec![0u8; suite.hash_len()];
            suite.hkdf_expand(&secret, &leaf.to_be_bytes(), &mut base)?;
            let key = SframeKey::derive(suite, kid, &base)?;
            if leaf == own_leaf {
                own = Some(key);
            } else {
                others.push(key);
            }
        }
        let own = own.ok_or(Error::Mls("own leaf missing".into()))?;
        Ok(EpochKeys { epoch, own, others })
    }

    /// The group, or an error when we hold none.
    fn group(&self) -> Result<&MlsGroup, Error> {
        self.group
            .as_ref()
            .ok_or(Error::Mls("not in a group".into()))
    }

    fn parse_key_package(&self, client: ClientId, bytes: &[u8]) -> Result<KeyPackage, Error> {
        let kp = KeyPackageIn::tls_deserialize_exact_bytes(bytes)
            .map_err(|_| Error::KeyPackageRejected("not a key package"))?
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|_| Error::KeyPackageRejected("signature or lifetime invalid"))?;
        if kp.ciphersuite() != MLS_SUITE {
            return Err(Error::KeyPackageRejected("wrong cipher suite"));
        }
        let cred = BasicCredential::try_from(kp.leaf_node().credential().clone())
            .map_err(|_| Error::KeyPackageRejected("not a basic credential"))?;
        if client_of(cred.identity()) != Some(client) {
            return Err(Error::KeyPackageRejected("credential names another client"));
        }
        Ok(kp)
    }
}

impl GroupKeying for MlsKeying {
    fn key_package(&mut self) -> Result<Vec<u8>, Error> {
        let bundle = KeyPackage::builder()
            .build(
                MLS_SUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .map_err(mls_err)?;
        bundle
            .key_package()
            .tls_serialize_detached()
            .map_err(mls_err)
    }

    fn check_key_package(&self, client: ClientId, key_package: &[u8]) -> Result<(), Error> {
        self.parse_key_package(client, key_package).map(|_| ())
    }

    fn found(&mut self) -> Result<(), Error> {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(MLS_SUITE)
            .use_ratchet_tree_extension(true)
            .build();
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            GroupId::from_slice(b"sfu-e2ee call"),
            self.credential.clone(),
        )
        .map_err(mls_err)?;
        self.group = Some(group);
        Ok(())
    }

    fn in_group(&self) -> bool {
        self.group.as_ref().is_some_and(MlsGroup::is_active)
    }

    fn epoch(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.epoch().as_u64())
    }

    fn roster(&self) -> Vec<(u32, ClientId)> {
        let Some(g) = self.group.as_ref() else {
            return Vec::new();
        };
        g.members()
            .filter_map(|m| Some((m.index.u32(), client_of(m.credential.serialized_content())?)))
            .collect()
    }

    fn own_leaf(&self) -> Option<u32> {
        self.group.as_ref().map(|g| g.own_leaf_index().u32())
    }

    fn commit(
        &mut self,
        adds: &[(ClientId, &[u8])],
        removes: &[u32],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
        let kps = adds
            .iter()
            .map(|(c, kp)| self.parse_key_package(*c, kp))
            .collect::<Result<Vec<_>, _>>()?;
        let provider = &self.provider;
        let signer = &self.signer;
        let group = self
            .group
            .as_mut()
            .ok_or(Error::Mls("not in a group".into()))?;
        let bundle = group
            .commit_builder()
            .propose_adds(kps)
            .propose_removals(removes.iter().map(|l| LeafNodeIndex::new(*l)))
            .load_psks(provider.storage())
            .map_err(mls_err)?
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .map_err(mls_err)?
            .stage_commit(provider)
            .map_err(mls_err)?;
        let (commit, welcome, _) = bundle.into_messages();
        let commit = commit.tls_serialize_detached().map_err(mls_err)?;
        let welcome = welcome
            .map(|w| w.tls_serialize_detached())
            .transpose()
            .map_err(mls_err)?;
        Ok((commit, welcome))
    }

    fn merge_own_commit(&mut self) -> Result<(), Error> {
        let provider = &self.provider;
        let group = self
            .group
            .as_mut()
            .ok_or(Error::Mls("not in a group".into()))?;
        group.merge_pending_commit(provider).map_err(mls_err)
    }

    fn discard_own_commit(&mut self) {
        let provider = &self.provider;
        if let Some(g) = self.group.as_mut() {
            // Only fails on storage errors of the in-memory store.
            let _ = g.clear_pending_commit(provider.storage());
        }
    }

    fn apply_commit(&mut self, commit: &[u8]) -> Result<CommitOutcome, Error> {
        let reject = |e: &dyn std::fmt::Debug| Error::CommitRejected(format!("{e:?}"));
        let msg = MlsMessageIn::tls_deserialize_exact_bytes(commit).map_err(|e| reject(&e))?;
        let protocol = msg.try_into_protocol_message().map_err(|e| reject(&e))?;
        let provider = &self.provider;
        let group = self
            .group
            .as_mut()
            .ok_or(Error::Mls("not in a group".into()))?;
        let processed = group
            .process_message(provider, protocol)
            .map_err(|e| reject(&e))?;
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(Error::CommitRejected("not a commit".into()));
        };
        let removed = staged.self_removed();
        group
            .merge_staged_commit(provider, *staged)
            .map_err(mls_err)?;
        if removed {
            self.group = None;
            return Ok(CommitOutcome::Removed);
        }
        Ok(CommitOutcome::Applied)
    }

    fn join(&mut self, welcome: &[u8]) -> Result<(), Error> {
        let reject = |e: &dyn std::fmt::Debug| Error::WelcomeRejected(format!("{e:?}"));
        let msg = MlsMessageIn::tls_deserialize_exact_bytes(welcome).map_err(|e| reject(&e))?;
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            return Err(Error::WelcomeRejected("not a welcome".into()));
        };
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .build();
        let group = StagedWelcome::new_from_welcome(&self.provider, &config, w, None)
            .map_err(|e| reject(&e))?
            .into_group(&self.provider)
            .map_err(|e| reject(&e))?;
        self.group = Some(group);
        Ok(())
    }

    fn safety_number(&self) -> Option<SafetyNumber> {
        let g = self.group.as_ref()?;
        Some(SafetyNumber::from_epoch_authenticator(
            g.epoch_authenticator().as_slice(),
        ))
    }
}

impl MlsKeying {
    /// Raw MLS exporter output of the current epoch for `label` (empty
    /// context), for application secrets beyond SFrame.
    pub fn export(&self, label: &str, len: usize) -> Result<Vec<u8>, Error> {
        let g = self.group()?;
        g.export_secret(self.provider.crypto(), label, &[], len)
            .map_err(mls_err)
    }
}
