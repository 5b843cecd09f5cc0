// What the content store (domain/stores.ts ContentStore) rejects with, whichever keeps the
// bodies (files on the volume, or the bucket): callers tell them apart by class.

/** A body longer than its caller allows: nothing is kept. */
export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
  }
}

/** A body whose SHA-256 is not the one expected: nothing is kept. */
export class MismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`sha256 mismatch: declared ${expected}, got ${actual}`);
  }
}

/** A read of a body the store does not have (swept, or lost): a storage failure to the caller. */
export class MissingBodyError extends Error {
  constructor(readonly sha256: string) {
    super(`the stored body sha256:${sha256} is missing from the content store`);
  }
}
