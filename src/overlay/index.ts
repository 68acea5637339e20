/**
 * Overlay verity validation (docs/FORMATS.md §3): overlay.metacopy / overlay.redirect / legacy
 * overlay.verity parsed as overlayfs parses them, redirects resolved in data-only layers the way
 * `ovl_lookup_data_layer` does, and a whole lower layer (composefs image or directory) checked
 * against its object stores.
 */
export { parseMetacopy, formatMetacopy, type Metacopy } from './metacopy.js';
export { parseRedirect, type Redirect } from './redirect.js';
export { parseLegacyVerity, type LegacyVerity } from './legacy.js';
export { analyzeEntry, VERITY_MODES, type VerityMode, type DataRequest, type Analysis } from './analyze.js';
export { erofsEntries, directoryEntries, choosePrefix, type LowerEntry, type LowerType } from './lower.js';
export { openDataLayers, resolveInLayer, resolveInLayers, type DataLayer, type Resolution, type LayerMiss } from './resolve.js';
export { checkLowerLayer, type CheckOptions, type CheckResult, type CheckSummary } from './validate.js';
export { writeCheckReport, summaryLine, type CheckReportFormat } from './report.js';
export { finding, formatDigest, type Finding, type Severity } from './finding.js';
export { XATTR_PREFIXES, type XattrPrefixName } from './constants.js';
