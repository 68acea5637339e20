/**
 * `veritree check-overlay LOWERDIR --data DIR [--data DIR…] [--verity on|require]` — the same check
 * as check-image on a plain directory (or a mounted image) used as the metadata layer, reading its
 * real xattrs with llistxattr/lgetxattr and never following symlinks. docs/FORMATS.md §3, src/overlay/.
 */
import { directoryEntries } from '../overlay/lower.js';
import { COMMON_HELP, checkVerb } from './check-lower.js';
import type { Verb } from './io.js';

const HELP = `Usage: veritree check-overlay LOWERDIR --data DIR [--data DIR...] [options]

Check every metacopy file below LOWERDIR as overlayfs with verity=on|require would on a
lowerdir=LOWERDIR::DIR1::DIR2 mount: overlay xattrs read from the files themselves
(trusted.overlay.* needs root), redirects resolved in the data dirs in order without following
symlinks, fs-verity digests compared.

Options:
  --data=DIR              a data-only layer; repeatable, searched in order
${COMMON_HELP}`;

export const run: Verb = checkVerb({
    verb: 'check-overlay',
    help: HELP,
    layerOption: 'data',
    sourceName: 'lowerdir',
    entries: async (lower) => directoryEntries(lower),
  });
