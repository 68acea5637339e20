/**
 * `veritree check-image IMAGE --objects DIR [--objects DIR…] [--verity on|require]` — checks a
 * composefs image's CAS-backed files against object stores the way overlayfs `verity=` would on
 * a `lowerdir=IMAGE::DIR1::DIR2` mount, reading the image in userspace (no mount, no root).
 * docs/FORMATS.md §3.3–§3.6 (overlay verity), §4.6 (what composefs stores), src/overlay/.
 */
import { openErofs } from '../erofs/index.js';
import { erofsEntries } from '../overlay/lower.js';
import { COMMON_HELP, checkVerb } from './check-lower.js';
import type { Verb } from './io.js';

const HELP = `Usage: veritree check-image IMAGE --objects DIR [--objects DIR...] [options]

Check every file of a composefs image whose data lives in an object store, as overlayfs with
verity=on|require would when mounting IMAGE with the DIRs as data-only layers (in order; the
first DIR holding an object wins): overlay.metacopy / overlay.redirect parsed as the kernel does,
objects resolved without following symlinks, their fs-verity digests compared.

Options:
  --objects=DIR           a data-only layer (object store); repeatable, searched in order
${COMMON_HELP}`;

export const run: Verb = checkVerb({
    verb: 'check-image',
    help: HELP,
    layerOption: 'objects',
    sourceName: 'image',
    // The raw EROFS view (what overlayfs reads), streamed: no composefs tree is built first.
    entries: async (image) => erofsEntries(await openErofs(image, { cacheEntries: false })),
  });
