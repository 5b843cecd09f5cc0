// The mirror's bookkeeping (server/services/mirror.ts) with an in-memory entry store and a
// fetch the test controls: what is served while entries share URLs and bodies, and what
// a removal racing the end of a download leaves.
import { expect } from 'chai';
import { Mirror, parseDeclaration, type Declaration, type FetchHooks, type FetchResult } from '../../server/services/mirror.js';
import { withUse, type MirrorEntry, type MirrorEntryStore, type MirrorUse } from '../../server/domain/stores.js';
import type { RepoEvent } from '../../server/domain/events.js';

class MemoryEntries implements MirrorEntryStore {
  readonly rows = new Map<string, MirrorEntry>();
  /** When set, each save waits for it. */
  gate: Promise<void> | null = null;
  async all(): Promise<MirrorEntry[]> {
    return [...this.rows.values()];
  }
  async save(entry: MirrorEntry): Promise<void> {
    if (this.gate) await this.gate;
    this.rows.set(entry.id, entry);
  }
  async remove(id: string): Promise<void> {
    this.rows.delete(id);
  }
  async recordUse(id: string, use: MirrorUse): Promise<void> {
    const entry = this.rows.get(id);
    if (entry) this.rows.set(id, { ...entry, usedBy: withUse(entry.usedBy, use) });
  }
  async generation(): Promise<number> {
    return 0;
  }
}

const hex = (c: string): string => c.repeat(64);
const declaration = (body: unknown): Declaration => {
  const d = parseDeclaration(body);
  if ('error' in d) throw new Error(d.error);
  return d;
};
const until = async (probe: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !probe(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(probe()).to.equal(true);
};

describe('server/services/mirror (bookkeeping)', () => {
  const events: RepoEvent[] = [];
  const emit = (e: RepoEvent): void => void events.push(e);

  it('two images sharing a layer: removing one leaves the shared layer served by the other', async () => {
    const store = new MemoryEntries();
    const mirror = await Mirror.open(store, emit, Date.now);
    const layer = `https://r.example/v2/lib/x/blobs/sha256:${hex('c')}`;
    mirror.start(async (entry: MirrorEntry): Promise<FetchResult> => {
      const digest = (entry.image as string).split('@')[1] as string;
      const manifest = { url: `https://r.example/v2/lib/x/manifests/${digest}`, sha256: digest.slice(7), size: 10, contentType: 'application/vnd.oci.image.manifest.v1+json', digest };
      return { sha256: digest.slice(7), size: 20, parts: [manifest, { url: layer, sha256: hex('c'), size: 10, contentType: 'application/octet-stream', digest: `sha256:${hex('c')}` }] };
    });
    const a = await mirror.declare(declaration({ image: `r.example/lib/x@sha256:${hex('a')}` }), 'master:ci');
    await new Promise((r) => setTimeout(r, 2));
    const b = await mirror.declare(declaration({ image: `r.example/lib/x@sha256:${hex('b')}` }), 'master:ci');
    await until(() => mirror.get(a.entry.id)?.state === 'ok' && mirror.get(b.entry.id)?.state === 'ok');
    expect(await mirror.remove(b.entry.id, 'master:ci')).to.equal(true);
    expect(mirror.answer(layer)?.sha256).to.equal(hex('c'));
    expect(mirror.answer(`https://r.example/v2/lib/x/manifests/sha256:${hex('b')}`)).to.equal(null);
    expect(mirror.isRegistryRoot('https://r.example/v2/')).to.equal(true);
    await mirror.remove(a.entry.id, 'master:ci');
    expect(mirror.answer(layer)).to.equal(null);
    expect(mirror.isRegistryRoot('https://r.example/v2/')).to.equal(false);
    expect(mirror.servesOrigin('https://r.example')).to.equal(false);
    await mirror.stop();
  });

  it('two URLs with one body: the first declared names the download, the other takes over when it goes', async () => {
    const store = new MemoryEntries();
    const mirror = await Mirror.open(store, emit, Date.now);
    mirror.start(async (entry: MirrorEntry): Promise<FetchResult> => ({ sha256: hex('d'), size: 3, parts: [{ url: entry.url as string, sha256: hex('d'), size: 3, contentType: 'text/plain', digest: null }] }));
    const first = await mirror.declare(declaration({ url: 'https://a.example/first.txt' }), 'master:ci');
    await new Promise((r) => setTimeout(r, 2));
    await mirror.declare(declaration({ url: 'https://b.example/second.txt' }), 'master:ci');
    await until(() => mirror.list().every((e) => e.state === 'ok'));
    expect(mirror.file(hex('d'))?.fileName).to.equal('first.txt');
    await mirror.remove(first.entry.id, 'master:ci');
    expect(mirror.file(hex('d'))?.fileName).to.equal('second.txt');
    expect(mirror.keeps().has(hex('d'))).to.equal(true);
    await mirror.stop();
  });

  it('removed while its finished download is being saved: gone, not served, its body not kept', async () => {
    const store = new MemoryEntries();
    const mirror = await Mirror.open(store, emit, Date.now);
    let fetched!: () => void;
    const fetchDone = new Promise<void>((resolve) => (fetched = resolve));
    mirror.start(async (entry: MirrorEntry, hooks: FetchHooks): Promise<FetchResult> => {
      hooks.stored(hex('e'));
      fetched();
      return { sha256: hex('e'), size: 1, parts: [{ url: entry.url as string, sha256: hex('e'), size: 1, contentType: 'text/plain', digest: null }] };
    });
    let open!: () => void;
    const { entry } = await mirror.declare(declaration({ url: 'https://a.example/race.bin' }), 'master:ci');
    store.gate = new Promise<void>((resolve) => (open = resolve));
    await fetchDone;
    await new Promise((r) => setTimeout(r, 5)); // the download's save now waits at the gate
    const removing = mirror.remove(entry.id, 'master:ci');
    open();
    expect(await removing).to.equal(true);
    await mirror.stop();
    expect(mirror.list()).to.deep.equal([]);
    expect(mirror.answer('https://a.example/race.bin')).to.equal(null);
    expect(mirror.file(hex('e'))).to.equal(null);
    expect(mirror.keeps().has(hex('e'))).to.equal(false);
    expect(store.rows.size).to.equal(0);
  });

  it('shows no query of a declared URL, and audits none', async () => {
    const store = new MemoryEntries();
    const mirror = await Mirror.open(store, emit, Date.now);
    const { entry } = await mirror.declare(declaration({ url: 'https://a.example/f.tar.gz?X-Amz-Signature=secret-sig' }), 'master:ci');
    expect(entry.url).to.equal('https://a.example/f.tar.gz?…');
    expect(JSON.stringify(events)).to.not.include('secret-sig');
    expect([...store.rows.values()][0]?.url).to.equal('https://a.example/f.tar.gz?X-Amz-Signature=secret-sig');
  });
});
