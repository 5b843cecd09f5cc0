// SHA-256 as clients declare it and as we announce it. Pure.
//   X-Checksum-Sha256: <64 hex>                 (Artifactory)
//   Content-Digest / Repr-Digest: sha-256=:<base64>:   (RFC 9530)

export const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

export type DeclaredChecksum = { ok: true; sha256: string | null } | { ok: false; error: string };

function fromStructuredDigest(header: string): string | null | 'malformed' {
  for (const member of header.split(',')) {
    const m = /^\s*([A-Za-z0-9-]+)\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/.exec(member);
    if (!m) return 'malformed';
    if ((m[1] as string).toLowerCase() !== 'sha-256') continue;
    const bytes = Buffer.from(m[2] as string, 'base64');
    if (bytes.length !== 32) return 'malformed';
    return bytes.toString('hex');
  }
  return null;
}

/** The SHA-256 a PUT declares for its body, if any; both headers must agree. */
export function declaredChecksum(xChecksum: string | undefined, contentDigest: string | undefined): DeclaredChecksum {
  let fromX: string | null = null;
  if (xChecksum !== undefined) {
    fromX = xChecksum.trim().toLowerCase();
    if (!SHA256_HEX_RE.test(fromX)) return { ok: false, error: 'X-Checksum-Sha256 must be 64 hexadecimal digits' };
  }
  let fromDigest: string | null = null;
  if (contentDigest !== undefined) {
    const parsed = fromStructuredDigest(contentDigest);
    if (parsed === 'malformed') return { ok: false, error: 'Content-Digest must look like sha-256=:<base64 of 32 bytes>:' };
    fromDigest = parsed;
  }
  if (fromX && fromDigest && fromX !== fromDigest) return { ok: false, error: 'X-Checksum-Sha256 and Content-Digest disagree' };
  return { ok: true, sha256: fromX ?? fromDigest };
}

/** RFC 9530 Repr-Digest value for a hex SHA-256. */
export function reprDigest(sha256Hex: string): string {
  return `sha-256=:${Buffer.from(sha256Hex, 'hex').toString('base64')}:`;
}

/** One line of a SHA256SUMS file, as `sha256sum -c` reads it. */
export function sha256sumLine(sha256Hex: string, relativePath: string): string {
  // sha256sum escapes names with a backslash or newline by prefixing the line with "\".
  if (/[\\\n]/.test(relativePath)) return `\\${sha256Hex}  ${relativePath.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
  return `${sha256Hex}  ${relativePath}\n`;
}
