// Bodies stream through in fresh buffers (64 KiB each from the socket) that V8 frees only at
// its next garbage collection, and it schedules one only after about 64 MiB of such memory.
// During a multi-GiB upload that is 64 MiB of RSS for nothing; a minor GC (a scavenge, well
// under a millisecond) every few MiB keeps it to a few. Needs `node --expose-gc` (npm start
// and the container pass it); without it this does nothing. They also set
// MALLOC_MMAP_THRESHOLD_=65536, so that glibc returns those freed buffers to the system
// at once instead of keeping them in its heap.
type Collector = (options: { type: 'minor' | 'major' }) => void;

const collect = (globalThis as { gc?: Collector }).gc;
const EVERY_BYTES = 4 * 1024 * 1024;
let sinceLast = 0;

export function noteStreamedBytes(bytes: number): void {
  if (!collect) return;
  sinceLast += bytes;
  if (sinceLast >= EVERY_BYTES) {
    sinceLast = 0;
    collect({ type: 'minor' });
  }
}
