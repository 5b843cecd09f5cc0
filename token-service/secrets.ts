// Credential material: generation and hashing. Nothing here is ever logged.
import * as argon2 from 'argon2';
import { customAlphabet, nanoid } from 'nanoid';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Public token identifier (also the Basic username): 20 alphanumerics. */
export const newTokenId: () => string = customAlphabet(ALNUM, 20);

const firstCharacter = customAlphabet(ALNUM, 1);

/**
 * 32 characters of nanoid's A-Za-z0-9_- alphabet (192 bits, less 0.05), the first one
 * alphanumeric: a password that starts with "-" is taken for an option by the command-line
 * clients it is given to (litmus, cadaver, curl -u).
 */
export function newTokenPassword(): string {
  return firstCharacter() + nanoid(31);
}

/** Generated master passwords: alphanumeric so they paste anywhere. */
export const newMasterPassword: () => string = customAlphabet(ALNUM, 32);

// argon2's own name for its options changed between releases (Options, HashOptions).
type HashOptions = NonNullable<Parameters<typeof argon2.hash>[1]> & { raw?: false };

// Token passwords carry 192 random bits, so the memory-hard cost only has to make a
// stolen store useless, not stop guessing: OWASP's minimum argon2id profile (~30 ms here).
const TOKEN_HASH: HashOptions = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };
// Master passwords may be chosen by people: the stronger profile (~150 ms here).
const MASTER_HASH: HashOptions = { type: argon2.argon2id, memoryCost: 65536, timeCost: 3, parallelism: 1 };

export function hashTokenPassword(password: string): Promise<string> {
  return argon2.hash(password, TOKEN_HASH);
}

export function hashMasterPassword(password: string): Promise<string> {
  return argon2.hash(password, MASTER_HASH);
}

/** argon2's verify compares in constant time. A malformed hash counts as a mismatch. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}
