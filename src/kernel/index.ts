/**
 * veritree's kernel interface: fs-verity ioctls, statx and xattrs (docs/FORMATS.md §2), sync for
 * worker threads and async off the event loop, with failures as typed VeritreeErrors.
 */
export * from './constants.js';
export { packEnableArg, packDigestBuffer, unpackDigest, packReadMetadataArg, parseStoredDescriptor, ENABLE_ARG, READ_METADATA_ARG } from './structs.js';
export type { StoredDescriptor, MeasuredDigest, EnableArgInput } from './structs.js';
export { meaningOf, errnoName, kernelErrnoError, NOT_SUPPORTED_HINT, type KernelOp } from '../report/errno.js';
export {
  METADATA_TYPES,
  enableVeritySync,
  measureVeritySync,
  readVerityMetadataSync,
  getFlagsSync,
  statxVeritySync,
  enableProgram,
  measureProgram,
  readMetadataProgram,
  type EnableOptions,
  type Measurement,
  type MetadataType,
  type ReadRange,
  type VerityStat,
} from './verity.js';
export { getXattrSync, listXattrSync, setXattrSync, removeXattrSync, getAllXattrsSync, type SetMode } from './xattr.js';
export {
  runAsync,
  setMaxInFlight,
  enableVerity,
  measureVerity,
  readVerityMetadata,
  getFlags,
  statxVerity,
  getXattr,
  listXattr,
  setXattr,
  removeXattr,
  getAllXattrs,
} from './async.js';
export { runSync, type Syscall, type SysProgram, type SysResult, type FileKind } from './sys.js';
export { enableOne, describeMismatch, type EnableOutcome, type EnableStatus, type BulkEnableOptions } from './bulk.js';
export { enableViaCopy } from './copy.js';
export { walkTree, type WalkEntry } from './tree.js';
