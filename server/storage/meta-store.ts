// What the service keeps about each resource (WebDAV dead properties), one small JSON file
// per resource in a mirror of the tree under ARTIFACTS_DIR/.meta. Writing one resource's
// metadata never rewrites anything shared, and moving a collection moves its members'
// metadata with one rename.
//
// Layout: resource /a/b/c -> .meta/a.d/b.d/c.m ; the members of /a/b live under .meta/a.d/b.d/.
// The suffixes differ, so a resource's file never collides with a collection's folder.
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { META_DIR } from './artifact-store.js';

export interface StoredProperty {
  ns: string;
  local: string;
  valueXml: string;
  lang?: string;
}

export interface ResourceMeta {
  props: StoredProperty[];
}

export class MetaStore {
  private readonly base: string;

  constructor(
    artifactsDir: string,
    private readonly temps: { tempPath(label: string): string; settle(temp: string): void; discard(temp: string): Promise<void> },
  ) {
    this.base = path.join(artifactsDir, META_DIR);
  }

  private folderOf(segments: readonly string[]): string {
    return path.join(this.base, ...segments.map((s) => `${s}.d`));
  }

  private fileOf(segments: readonly string[]): string {
    if (segments.length === 0) return path.join(this.base, 'root.m');
    return path.join(this.folderOf(segments.slice(0, -1)), `${segments[segments.length - 1]}.m`);
  }

  async read(segments: readonly string[]): Promise<ResourceMeta> {
    try {
      const parsed = JSON.parse(await readFile(this.fileOf(segments), 'utf8')) as ResourceMeta;
      return { props: Array.isArray(parsed.props) ? parsed.props : [] };
    } catch {
      return { props: [] };
    }
  }

  /** Replaces a resource's metadata atomically (temporary file, then rename). */
  async write(segments: readonly string[], meta: ResourceMeta): Promise<void> {
    const file = this.fileOf(segments);
    if (meta.props.length === 0) {
      await rm(file, { force: true });
      return;
    }
    await mkdir(path.dirname(file), { recursive: true });
    const temp = this.temps.tempPath('meta');
    try {
      await writeFile(temp, JSON.stringify(meta));
      await rename(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
  }

  /** Forgets a resource and, for a collection, all of its members. */
  async remove(segments: readonly string[]): Promise<void> {
    await rm(this.fileOf(segments), { force: true });
    if (segments.length > 0) await rm(this.folderOf(segments), { recursive: true, force: true });
  }

  async move(from: readonly string[], to: readonly string[]): Promise<void> {
    await this.remove(to);
    await mkdir(path.dirname(this.fileOf(to)), { recursive: true });
    await renameIfPresent(this.fileOf(from), this.fileOf(to));
    await renameIfPresent(this.folderOf(from), this.folderOf(to));
  }

  async copy(from: readonly string[], to: readonly string[], withMembers: boolean): Promise<void> {
    await this.remove(to);
    await mkdir(path.dirname(this.fileOf(to)), { recursive: true });
    await cp(this.fileOf(from), this.fileOf(to)).catch(ignoreMissing);
    if (withMembers) await cp(this.folderOf(from), this.folderOf(to), { recursive: true }).catch(ignoreMissing);
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  await rename(from, to).catch(ignoreMissing);
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
