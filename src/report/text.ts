/**
 * One finding, one line: names are bytes and may hold newlines, so every path or message that
 * goes into line-oriented text output passes through `escapeText` (`\` → `\\`, newline → `\n`,
 * carriage return → `\r`, as GNU coreutils' checksum lines do). Machine output (JSON) needs none.
 */

/** `text` with backslash, newline and carriage return escaped; unchanged when it has none. */
export function escapeText(text: string): string {
  return /[\\\n\r]/.test(text) ? text.replace(/[\\\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\')) : text;
}
