// What examples/server/pages/e2ee/mls.js uses of ts-mls (pinned in
// package.json, unmodified). build-e2ee-vendor.mjs bundles this into one
// browser ES module, examples/server/pages/e2ee/vendor/ts-mls.js, which the
// pages load from our own server. The subpath imports are ts-mls's internal
// modules (its package "exports" allow them): the key package checks openmls
// makes on a joiner's key package, and the one ratchet step mls.js needs to
// burn the handshake generation a pending Commit used (see mls.js commit()).
export {
  createGroup,
  createCommit,
  joinGroup,
  processPrivateMessage,
  decodeMlsMessage,
  encodeMlsMessage,
  getCiphersuiteImpl,
  getCiphersuiteFromName,
  generateKeyPackageWithKey,
  mlsExporter,
  emptyPskIndex,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultKeyPackageEqualityConfig,
  defaultPaddingConfig,
  defaultAuthenticationService,
} from 'ts-mls';
export { encodeKeyPackage, decodeKeyPackage, verifyKeyPackage, makeKeyPackageRef } from 'ts-mls/keyPackage.js';
export { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
export { extensionsSupportedByCapabilities } from 'ts-mls/extension.js';
export { consumeRatchet } from 'ts-mls/secretTree.js';
export { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
