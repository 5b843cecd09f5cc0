// What a sealed build's packages say about themselves, for the apt and pip indexes: a .deb's
// control file, a wheel's METADATA. A build runs untrusted code, so every byte read here
// may be truncated, lying or a bomb: reading streams, is bounded in bytes and entries (the
// caps below, not what a header declares), never reaches past what it needs (a .deb's
// data.tar is never read), and every problem with the file ends as a PackageProblem with a
// short reason. Errors of the file system (EIO, ENOENT) are not the package's: they pass.
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecoder } from 'fzstd';
import { extract as tarExtract, type Extract } from 'tar-stream';
import xzDecompress from 'xz-decompress';
import yauzl from 'yauzl';
import { debIdentity, parseControl } from '../domain/deb-control.js';
import { isSystemError } from '../domain/errors.js';
import { yieldToLoop } from '../domain/gate.js';
import { PackageProblem } from '../domain/package-problem.js';
import { normalizeProjectName, parseCoreMetadata, parseSdistName, parseWheelName } from '../domain/python-dist.js';

const MiB = 1024 * 1024;

export const PACKAGE_LIMITS = {
  // A control.tar holds the control file, the maintainer scripts and md5sums, one line per
  // file the package installs (~10 MiB for 100 000 files): most are a few KiB.
  controlMember: 16 * MiB,
  controlTar: 16 * MiB,
  // Ten files or so: control, md5sums, conffiles, the scripts, triggers, shlibs, symbols.
  controlEntries: 1000,
  // A control file or METADATA is some KiB; a long description stays far below 1 MiB.
  controlFile: 1 * MiB,
  metadata: 1 * MiB,
  // Far more files than a wheel holds; each costs a read of its central directory record.
  zipEntries: 100_000,
  // fzstd allocates the window a zstd frame declares, and moves all of it once per block:
  // a window larger than the control.tar cap is never needed, and a few KiB of tiny blocks
  // would otherwise cost minutes. 1024 blocks of 128 KiB are 8 times the cap.
  zstdWindow: 16 * MiB,
  zstdBlocks: 1024,
} as const;

import type { PackageFormat } from '../domain/stores.js';
export type { PackageFormat };

/** Which kind of package a file is, by its name (the last segment of a path): null for none. */
export function packageFormatOf(name: string): PackageFormat | null {
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (base.length > '.deb'.length && base.endsWith('.deb')) return 'deb';
  if (parseWheelName(base) !== null) return 'wheel';
  if (parseSdistName(base) !== null) return 'sdist';
  return null;
}

function mib(bytes: number): string {
  return `${bytes / MiB} MiB`;
}

function quoted(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PackageProblem(`${what} is not UTF-8`);
  }
}

// ---- .deb: an ar archive ----------------------------------------------------------------
// The ar format is read here rather than with a library: npm's ar readers are 0.0.x from
// 2014, and deb(5) needs only the global header, 60-byte member headers (name, size) and
// the padding to an even offset. Members are read by offset, so data.tar is never read.

const AR_MAGIC = '!<arch>\n';
const AR_HEADER = 60;
const CHUNK = 64 * 1024;
// dpkg skips members whose names start with "_" between debian-binary and control.tar.
const MAX_SKIPPED_MEMBERS = 16;
type Compression = 'none' | 'gzip' | 'xz' | 'zstd';
const CONTROL_MEMBERS: ReadonlyMap<string, Compression> = new Map([
  ['control.tar', 'none'],
  ['control.tar.gz', 'gzip'],
  ['control.tar.xz', 'xz'],
  ['control.tar.zst', 'zstd'],
]);

interface ArMember {
  name: string;
  start: number;
  size: number;
}

/** Up to `length` bytes at `position`: fewer only at the end of the file. */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

async function arMember(handle: FileHandle, position: number): Promise<ArMember | null> {
  const header = await readAt(handle, position, AR_HEADER);
  if (header.length === 0) return null;
  if (header.length < AR_HEADER) throw new PackageProblem(`not a Debian package: truncated in the ar header at byte ${position}`);
  const size = header.toString('latin1', 48, 58);
  if (header.toString('latin1', 58, 60) !== '`\n' || !/^[0-9]+ *$/.test(size)) throw new PackageProblem(`not a Debian package: a bad ar header at byte ${position}`);
  // GNU ar ends names with "/"; the name field is padded with spaces.
  const name = header.toString('latin1', 0, 16).replace(/ +$/, '').replace(/\/$/, '');
  return { name, start: position + AR_HEADER, size: Number(size.trim()) };
}

function afterMember(member: ArMember): number {
  return member.start + member.size + (member.size % 2);
}

/** The control.tar member of a .deb, after checking what comes before it (deb(5)). */
async function controlMember(handle: FileHandle): Promise<ArMember & { compression: Compression }> {
  if ((await readAt(handle, 0, AR_MAGIC.length)).toString('latin1') !== AR_MAGIC) throw new PackageProblem('not a Debian package (not an ar archive)');
  const first = await arMember(handle, AR_MAGIC.length);
  if (first === null || first.name !== 'debian-binary') throw new PackageProblem(`not a Debian package: the first member is ${first ? quoted(first.name) : 'missing'}, not debian-binary`);
  if (first.size > 64) throw new PackageProblem('debian-binary larger than 64 bytes');
  const format = (await readAt(handle, first.start, first.size)).toString('latin1');
  if (format.length < first.size) throw new PackageProblem('debian-binary: truncated');
  // "2.0\n"; a later minor version may add lines, which a reader ignores.
  if (!/^2\.[0-9]+\n/.test(format)) throw new PackageProblem(`debian-binary says ${quoted(format)}, not 2.x (the format this reads)`);
  let member = first;
  for (let skipped = 0; ; skipped++) {
    const next = await arMember(handle, afterMember(member));
    if (next === null) throw new PackageProblem('not a Debian package: no control.tar member');
    member = next;
    if (!member.name.startsWith('_')) break;
    if (skipped === MAX_SKIPPED_MEMBERS) throw new PackageProblem(`not a Debian package: more than ${MAX_SKIPPED_MEMBERS} members before control.tar`);
  }
  const compression = CONTROL_MEMBERS.get(member.name);
  if (compression === undefined) throw new PackageProblem(`not a Debian package: ${quoted(member.name)} follows debian-binary, not control.tar{,.gz,.xz,.zst}`);
  if (member.size > PACKAGE_LIMITS.controlMember) throw new PackageProblem(`${member.name} larger than ${mib(PACKAGE_LIMITS.controlMember)}`);
  return { ...member, compression };
}

/** A member's bytes, a chunk at a time; a file that ends before the member does is truncated. */
async function* memberBytes(handle: FileHandle, member: ArMember): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < member.size; ) {
    const chunk = await readAt(handle, member.start + offset, Math.min(CHUNK, member.size - offset));
    if (chunk.length === 0) throw new PackageProblem(`${member.name}: truncated`);
    offset += chunk.length;
    yield chunk;
  }
}

// ---- Decompression ------------------------------------------------------------------------
// Each decompressor takes the compressed chunks and gives the decompressed ones, a chunk at
// a time; the caller counts them against the cap and stops pulling (return()) past it,
// which stops the decompressor and frees what it holds.

type Decompressor = (input: AsyncIterable<Uint8Array>, member: string, cap: number) => AsyncGenerator<Uint8Array>;

async function* gunzip(input: AsyncIterable<Uint8Array>, member: string): AsyncGenerator<Uint8Array> {
  const inflate = createGunzip();
  // An error on either side destroys both: the loop below sees it (the callback need not).
  pipeline(Readable.from(input), inflate, () => {});
  try {
    for await (const chunk of inflate) yield chunk as Buffer;
  } catch (err) {
    if (err instanceof PackageProblem || isSystemError(err)) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'Z_BUF_ERROR') throw new PackageProblem(`${member}: truncated`);
    throw new PackageProblem(`${member}: not valid gzip data (${(err as Error).message})`);
  }
}

// xz-embedded's return codes (xz.h), as xz-decompress reports them.
const XZ_ERRORS: ReadonlyMap<string, string> = new Map([
  ['2', 'an integrity check this reader does not support'],
  ['3', 'more memory than this reader gives (a dictionary over 64 MiB)'],
  ['4', 'more memory than this reader gives (a dictionary over 64 MiB)'],
  ['5', 'not xz data'],
  ['6', 'xz options this reader does not support'],
  ['7', 'corrupt xz data'],
  ['8', 'truncated'],
]);

async function* unxz(input: AsyncIterable<Uint8Array>, member: string): AsyncGenerator<Uint8Array> {
  const source = input[Symbol.asyncIterator]();
  let ended = false;
  const compressed = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await source.next();
        if (next.done) {
          ended = true;
          controller.close();
        } else controller.enqueue(next.value);
      },
      async cancel() {
        await source.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  // One decoder at a time in the process: xz-decompress holds a lock on its WebAssembly
  // instance (at most a 64 MiB dictionary) until the stream ends, fails or is cancelled.
  const reader = new xzDecompress.XzReadableStream(compressed).getReader();
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        if (err instanceof PackageProblem || isSystemError(err)) throw err;
        const code = /error code ([0-9]+)/.exec((err as Error).message)?.[1];
        // Its input ended mid-stream: xz-decompress then fails on reading past the end.
        const reason = code !== undefined ? XZ_ERRORS.get(code) : ended ? 'truncated' : undefined;
        throw new PackageProblem(`${member}: ${reason ?? 'not valid xz data'}`);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Frees the decoder and its lock when the caller stops early; a no-op once it ended.
    await reader.cancel().catch(() => {});
  }
}

// RFC 8878's frame and block headers, walked (not decoded) ahead of fzstd: fzstd allocates
// the window a frame header declares (up to 2 GiB) and moves all of it for every block, so
// a frame with a larger window, or more blocks, than the limits is refused before fzstd sees
// it. The walk also hands fzstd one block at a time, so that what it gives at once is at
// most a block (128 KiB), and tells a stream that stops mid-frame.
class ZstdFrames {
  // What the next bytes are: a frame's magic number, its descriptor byte, the rest of its
  // header, a block header, a block's content, a skippable frame's size or content, a checksum.
  private state: 'magic' | 'descriptor' | 'header' | 'block' | 'content' | 'skippable' | 'skip' | 'checksum' = 'magic';
  private header: number[] = [];
  private need = 4;
  private checksum = false;
  private lastBlock = false;
  private blocks = 0;

  constructor(
    private readonly member: string,
    private readonly maxWindow: number,
    private readonly maxBlocks: number,
  ) {}

  /** The chunk, cut after each block's end. */
  cut(chunk: Uint8Array): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    let from = 0;
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'content' || this.state === 'skip' || this.state === 'checksum') {
        const n = Math.min(this.need, chunk.length - at);
        at += n;
        this.need -= n;
        if (this.need > 0) continue;
        if (this.state !== 'content') this.expect('magic', 4);
        else {
          pieces.push(chunk.subarray(from, at));
          from = at;
          this.endBlock();
        }
        continue;
      }
      this.header.push(chunk[at++] as number);
      if (this.header.length === this.need) this.onHeader();
    }
    if (from < chunk.length) pieces.push(chunk.subarray(from));
    return pieces;
  }

  /** Whether the stream ended between frames, after one at least. */
  get complete(): boolean {
    return this.state === 'magic' && this.header.length === 0 && this.blocks > 0;
  }

  private problem(reason: string): PackageProblem {
    return new PackageProblem(`${this.member}: ${reason}`);
  }

  private expect(state: ZstdFrames['state'], need: number): void {
    this.state = state;
    this.need = need;
    this.header = [];
  }

  private endBlock(): void {
    if (!this.lastBlock) this.expect('block', 3);
    else if (this.checksum) this.expect('checksum', 4);
    else this.expect('magic', 4);
  }

  /** A little-endian number of the header being read. */
  private number(from: number, bytes: number): number {
    return this.header.slice(from, from + bytes).reduce((sum, byte, i) => sum + byte * 2 ** (8 * i), 0);
  }

  private onHeader(): void {
    // The layout of a frame header, for the descriptor and header states.
    const descriptor = this.header[0] as number;
    const single = (descriptor >> 5) & 1;
    const contentSizeBytes = descriptor >> 6 === 0 ? single : 2 ** (descriptor >> 6);
    const dictionaryBytes = [0, 1, 2, 4][descriptor & 3] as number;
    switch (this.state) {
      case 'magic': {
        const magic = this.number(0, 4);
        if (magic === 0xfd2fb528) return this.expect('descriptor', 1);
        if (magic >>> 4 === 0x184d2a5) return this.expect('skippable', 4);
        throw this.problem('not zstd data');
      }
      case 'skippable': {
        const size = this.number(0, 4);
        return size === 0 ? this.expect('magic', 4) : this.expect('skip', size);
      }
      case 'descriptor':
        if (descriptor & 0x08) throw this.problem('not zstd data (a reserved bit is set)');
        this.checksum = ((descriptor >> 2) & 1) === 1;
        // The descriptor, then the window descriptor, dictionary id and content size.
        this.state = 'header';
        this.need = 1 + (single ? 0 : 1) + dictionaryBytes + contentSizeBytes;
        return;
      case 'header': {
        let window = 0;
        if (!single) {
          const w = this.header[1] as number;
          const base = 2 ** (10 + (w >> 3));
          window = base + (base / 8) * (w & 7);
        }
        const at = 1 + (single ? 0 : 1);
        if (dictionaryBytes > 0 && this.number(at, dictionaryBytes) !== 0) throw this.problem('needs a zstd dictionary');
        // A single-segment frame's window is its content size.
        if (single) window = this.number(at + dictionaryBytes, contentSizeBytes) + (descriptor >> 6 === 1 ? 256 : 0);
        if (window > this.maxWindow) throw this.problem(`a zstd window of ${Math.ceil(window / MiB)} MiB, over ${mib(this.maxWindow)}`);
        return this.expect('block', 3);
      }
      case 'block': {
        const header = this.number(0, 3);
        const type = (header >> 1) & 3;
        const size = header >>> 3;
        this.lastBlock = (header & 1) === 1;
        if (type === 3) throw this.problem('not zstd data (a reserved block type)');
        // Block_Maximum_Size: a block never holds, or gives, more than 128 KiB.
        if (size > 128 * 1024) throw this.problem('not zstd data (a block over 128 KiB)');
        if (++this.blocks > this.maxBlocks) throw this.problem(`more than ${this.maxBlocks} zstd blocks`);
        // An RLE block is one byte, repeated `size` times.
        const content = type === 1 ? 1 : size;
        if (content > 0) return this.expect('content', content);
        return this.endBlock();
      }
      default:
        return;
    }
  }
}

async function* unzstd(input: AsyncIterable<Uint8Array>, member: string, cap: number): AsyncGenerator<Uint8Array> {
  const frames = new ZstdFrames(member, PACKAGE_LIMITS.zstdWindow, PACKAGE_LIMITS.zstdBlocks);
  const out: Uint8Array[] = [];
  let total = 0;
  const decoder = new ZstdDecoder((chunk) => {
    total += chunk.length;
    // Counted here too: the caller counts only after a push returns.
    if (total > cap) throw new PackageProblem(`${member}: larger than ${mib(cap)} uncompressed`);
    out.push(chunk);
  });
  try {
    for await (const chunk of input) {
      for (const piece of frames.cut(chunk)) {
        decoder.push(piece);
        yield* out.splice(0);
      }
    }
    if (!frames.complete) throw new PackageProblem(`${member}: truncated`);
    decoder.push(new Uint8Array(0), true);
    yield* out.splice(0);
  } catch (err) {
    if (err instanceof PackageProblem || isSystemError(err)) throw err;
    throw new PackageProblem(`${member}: not valid zstd data (${(err as Error).message})`);
  }
}

async function* unchanged(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* input;
}

const DECOMPRESSORS: Record<Compression, Decompressor> = { none: unchanged, gzip: gunzip, xz: unxz, zstd: unzstd };

// xz, zstd and tar-stream pass chunks on in microtasks: left alone, a read would hold the
// event loop for all of its 16 MiB.
const YIELD_EVERY = 1 * MiB;

/**
 * What one seal may read over all its packages, shared by the readers it calls: each file
 * has its caps, and a build of thousands of files that each fail at their cap stops here.
 */
export interface ReadBudget {
  bytes: number;
}

/** Takes `bytes` from the budget, or refuses once it is spent. */
function spend(budget: ReadBudget | undefined, bytes: number): void {
  if (!budget) return;
  budget.bytes -= bytes;
  if (budget.bytes < 0) throw new PackageProblem('not read: the seal has read as much package data as it may (its other packages were large or malformed)');
}

// A zip's central directory record: what walking one entry reads, about.
const ZIP_ENTRY_COST = 256;

/** The chunks, refused once they add up to more than `cap` bytes; the event loop let go every MiB. */
async function* capped(input: AsyncIterable<Uint8Array>, cap: number, problem: string, budget?: ReadBudget): AsyncGenerator<Uint8Array> {
  let total = 0;
  let sinceYield = 0;
  for await (const chunk of input) {
    total += chunk.length;
    spend(budget, chunk.length);
    if (total > cap) throw new PackageProblem(problem);
    yield chunk;
    sinceYield += chunk.length;
    if (sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
}

// ---- control.tar --------------------------------------------------------------------------

/** Resolves on the event, or when the stream closes (after an error, or destroyed). */
function settled(stream: Extract, event: 'drain' | 'close'): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) return resolve();
    const done = (): void => {
      stream.off(event, done);
      stream.off('close', done);
      resolve();
    };
    stream.on(event, done);
    stream.on('close', done);
  });
}

/** The control file of a control.tar (./control or control), read whole but within the caps. */
async function controlFile(tarBytes: AsyncIterable<Uint8Array>, member: string): Promise<Buffer> {
  const extract = tarExtract();
  let failure: Error | null = null;
  let control: Buffer | null = null;
  let entries = 0;
  const fail = (problem: PackageProblem): void => {
    failure ??= problem;
    extract.destroy(problem);
  };
  extract.on('error', (err) => {
    if (err instanceof PackageProblem) failure ??= err;
    else if (err.message === 'Unexpected end of data') failure ??= new PackageProblem(`${member}: truncated`);
    else failure ??= new PackageProblem(`${member}: not a valid tar archive (${err.message})`);
  });
  extract.on('entry', (header, stream, next) => {
    stream.on('error', () => {}); // the archive's error, reported once above
    if (++entries > PACKAGE_LIMITS.controlEntries) return fail(new PackageProblem(`${member}: more than ${PACKAGE_LIMITS.controlEntries} entries`));
    if (header.name !== './control' && header.name !== 'control') {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    if (header.type !== 'file') return fail(new PackageProblem(`${member}: control is a ${header.type}, not a file`));
    if (control !== null) return fail(new PackageProblem(`${member}: two control files`));
    const tooLarge = new PackageProblem(`control larger than ${mib(PACKAGE_LIMITS.controlFile)}`);
    if (header.size > PACKAGE_LIMITS.controlFile) return fail(tooLarge);
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (data) => {
      const chunk = data as Buffer;
      size += chunk.length;
      if (size > PACKAGE_LIMITS.controlFile) fail(tooLarge);
      else chunks.push(chunk);
    });
    stream.on('end', () => {
      control = Buffer.concat(chunks);
      next();
    });
  });
  try {
    for await (const chunk of tarBytes) {
      if (failure !== null) break;
      if (!extract.write(chunk)) await settled(extract, 'drain');
    }
    if (failure === null) {
      extract.end(null); // streamx's end(data) ends without writing when given null
      await settled(extract, 'close');
    }
  } finally {
    extract.destroy();
  }
  if (failure !== null) throw failure;
  if (control === null) throw new PackageProblem(`no control file in ${member}`);
  return control;
}

export interface DebControl {
  fields: Map<string, string>;
  package: string;
  version: string;
  architecture: string;
}

/** A .deb's control file, read from its control.tar member (never its data.tar), and its identity. */
export async function readDebControl(file: string, budget?: ReadBudget): Promise<DebControl> {
  spend(budget, 0);
  const handle = await open(file, 'r');
  try {
    const member = await controlMember(handle);
    const decompress = DECOMPRESSORS[member.compression];
    const cap = PACKAGE_LIMITS.controlTar;
    const tarBytes = capped(decompress(memberBytes(handle, member), member.name, cap), cap, `${member.name}: larger than ${mib(cap)} uncompressed`, budget);
    const fields = parseControl(utf8(await controlFile(tarBytes, member.name), 'control'));
    return { fields, ...debIdentity(fields) };
  } finally {
    await handle.close();
  }
}

// ---- Wheels: zip ------------------------------------------------------------------------

function zipProblem(err: unknown, what: string): unknown {
  if (err instanceof PackageProblem || isSystemError(err) || !(err instanceof Error)) return err;
  return new PackageProblem(`${what}: ${err.message}`);
}

export interface WheelMetadata {
  /** The project's name, normalised (PEP 503). */
  name: string;
  version: string;
  requiresPython: string | null;
  /** METADATA's bytes, as pip fetches them beside the wheel (PEP 658). */
  metadata: Buffer;
}

/**
 * A wheel's METADATA, found as pip finds it (the one .dist-info directory, named for the
 * wheel), read within the cap, and agreeing with the file name's project and version.
 */
export async function readWheelMetadata(file: string, expected: { distribution: string; version: string }, budget?: ReadBudget): Promise<WheelMetadata> {
  spend(budget, 0);
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true });
  } catch (err) {
    throw zipProblem(err, 'not a valid zip file');
  }
  zip.on('error', () => {}); // each error reaches the reads below as well
  try {
    if (zip.entryCount > PACKAGE_LIMITS.zipEntries) throw new PackageProblem(`the wheel holds ${zip.entryCount} entries, more than ${PACKAGE_LIMITS.zipEntries}`);
    const infoDirs = new Set<string>();
    const metadataEntries = new Map<string, yauzl.Entry>();
    try {
      for await (const entry of zip.eachEntry()) {
        spend(budget, ZIP_ENTRY_COST);
        const top = entry.fileName.split('/', 1)[0] ?? '';
        if (!top.endsWith('.dist-info')) continue;
        infoDirs.add(top);
        // pip installs a wheel with exactly one .dist-info directory: a second is refused
        // at once (and what is kept of the entries stays one directory's).
        if (infoDirs.size > 1) throw new PackageProblem(`more than one .dist-info directory in the wheel (${[...infoDirs].map(quoted).join(', ')})`);
        if (entry.fileName !== `${top}/METADATA`) continue;
        // zipfile (pip) would take the last of two; which one is meant is not for us to guess.
        if (metadataEntries.has(top)) throw new PackageProblem(`two entries named ${entry.fileName}`);
        metadataEntries.set(top, entry);
      }
    } catch (err) {
      throw zipProblem(err, 'not a valid zip file');
    }
    // The one .dist-info directory, named for the project and version (as pip checks it).
    const wanted = `${expected.distribution}-${expected.version}.dist-info`;
    const [infoDir] = infoDirs;
    if (infoDir === undefined) throw new PackageProblem('no .dist-info directory in the wheel');
    const dash = infoDir.indexOf('-');
    const dirName = infoDir.slice(0, Math.max(dash, 0));
    const dirVersion = infoDir.slice(dash + 1, -'.dist-info'.length);
    if (dash < 0 || normalizeProjectName(dirName) !== normalizeProjectName(expected.distribution) || dirVersion.toLowerCase() !== expected.version.toLowerCase()) {
      throw new PackageProblem(`the wheel's .dist-info directory is ${quoted(infoDir)}, not ${wanted}`);
    }
    const entry = metadataEntries.get(infoDir);
    if (entry === undefined) throw new PackageProblem(`no ${infoDir}/METADATA in the wheel`);
    const tooLarge = new PackageProblem(`METADATA larger than ${mib(PACKAGE_LIMITS.metadata)}`);
    if (entry.uncompressedSize > PACKAGE_LIMITS.metadata) throw tooLarge;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      // Declared sizes can lie: yauzl checks the count against them, and the cap is counted too.
      const stream = await zip.openReadStreamPromise(entry);
      stream.on('error', () => {});
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          size += chunk.length;
          spend(budget, chunk.length);
          if (size > PACKAGE_LIMITS.metadata) throw tooLarge;
          chunks.push(chunk);
        }
      } finally {
        stream.destroy();
      }
    } catch (err) {
      throw zipProblem(err, 'METADATA');
    }
    const metadata = Buffer.concat(chunks);
    const meta = parseCoreMetadata(utf8(metadata, 'METADATA'));
    // The file name escapes a version's "-" as "_" (the binary distribution format).
    if (normalizeProjectName(meta.name) !== normalizeProjectName(expected.distribution) || meta.version.replace(/-/g, '_').toLowerCase() !== expected.version.toLowerCase()) {
      throw new PackageProblem(`METADATA says ${meta.name} ${meta.version}, the file name says ${expected.distribution} ${expected.version}`);
    }
    return { name: normalizeProjectName(meta.name), version: meta.version, requiresPython: meta.requiresPython, metadata };
  } finally {
    zip.close();
  }
}
