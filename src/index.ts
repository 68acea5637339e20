/**
 * veritree — the fs-verity engine for Node.js. Public API.
 *
 * Single files:   digestFile / digestFileSync / digestBytes / digestStream  (src/merkle/file.ts)
 * Many files:     digestFiles(paths) / digestTree(dir) on the worker pool  (src/pool/)
 * Object stores:  verifyCas (verify-cas), ObjectStore / importTree (builder backend)
 * Namespaces:     kernel (ioctls, xattrs), erofs (composefs images), overlay (verity validation)
 * Building blocks: MerkleTreeBuilder, buildDescriptor, the Hasher backends, parameter parsing.
 */

export { digestFile, digestFileSync, digestBytes, digestStream, planDigest } from './merkle/file.js';
export type { DigestOptions, DigestResult, DigestPlan } from './merkle/file.js';
export { MerkleTreeBuilder, rootFromLeafDigests } from './merkle/tree.js';
export type { TreeResult } from './merkle/tree.js';
export { buildDescriptor, formattedDigest, DESCRIPTOR_SIZE } from './merkle/descriptor.js';
export { resolveParams, hashAlgInfo, parseSaltHex, HASH_ALGS, DEFAULT_BLOCK_SIZE, MAX_SALT_SIZE } from './params.js';
export type { HashAlg, HashAlgInfo, VerityParams, VerityParamsInput } from './params.js';
export { availableBackends, calibrate, resolveBackend, acquireHasher, releaseHasher, FACTORIES, BACKEND_NAMES } from './backends/index.js';
export type { BackendName, BackendChoice, Hasher, HasherFactory, Calibration } from './backends/index.js';
export { digestFiles, digestFileBatches } from './pool/scheduler.js';
export { digestTree, digestTreeBatches } from './pool/tree.js';
export type { TreeDigest } from './pool/tree.js';
export type { BulkDigestOptions, FileDigest, FileSource } from './pool/scheduler.js';
export { HashPool, sharedPool, closeSharedPool, defaultThreads } from './pool/pool.js';
export { walk, walkSync } from './fs/walk.js';
export type { WalkEntry } from './fs/walk.js';
export { VeritreeError } from './report/errors.js';
export { ProgressLine } from './report/progress.js';
export { verifyCas } from './cas/check.js';
export type { VerifyCasOptions, CasSummary } from './cas/check.js';
export { ObjectStore } from './composefs/store.js';
export { importTree } from './composefs/import.js';
export { buildImage, writeImage } from './composefs/writer.js';
export { openImage, readImage, ComposefsImage } from './composefs/image.js';
export type { ComposefsNode } from './composefs/image.js';
export type { ImageOptions, ImageSource, ImageResult } from './composefs/writer.js';
/** fs-verity ioctls, statx and xattrs (koffi; docs/FORMATS.md §2). */
export * as kernel from './kernel/index.js';
/** EROFS / composefs image reader (docs/FORMATS.md §5). */
export * as erofs from './erofs/index.js';
/** overlay.metacopy / redirect parsing and lower-layer validation (docs/FORMATS.md §3). */
export * as overlay from './overlay/index.js';

