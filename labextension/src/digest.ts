/**
 * FNV-1a 32-bit over the UTF-8 bytes of a cell source, as 8 lowercase hex digits.
 *
 * The kernel stores this digest in each generated cell's metadata; the same function on
 * both sides tells an untouched generated cell (safe to replace) from one the user edited.
 */
export function digest(source: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(source)) {
    // Math.imul keeps the multiply in 32 bits; >>> 0 keeps the value unsigned.
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
