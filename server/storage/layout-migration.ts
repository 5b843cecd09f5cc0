// Converts the artifacts volume's metadata to the current layout, once, at start.
//
// Layout 1 kept one record per resource in .meta (checksum, dead properties and, for a
// build, its sealed state, pin and tombstone together) and one file of lines per checksum
// in .index. Layout 2 keeps checksum records (.m) and properties (.p) apart, build states
// in .builds, and one index entry per path (see resource-records.ts, build-records.ts,
// checksum-index.ts). `.meta/LAYOUT` says which one a volume has.
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { META_DIR } from './artifact-store.js';
import { BuildRecordFiles } from './build-records.js';
import { type BuildRecord } from '../domain/stores.js';
import { ChecksumIndexFiles, INDEX_DIR } from './checksum-index.js';
import { ResourceRecordFiles } from './resource-records.js';
import { type FileRecord, type StoredProperty, type TempFiles } from '../domain/stores.js';

export const LAYOUT_VERSION = '2';

interface OldRecord {
  props?: StoredProperty[];
  file?: FileRecord;
  build?: { sealedAt: string; files: number; bytes: number };
  pin?: { by: string; at: string };
  retired?: { at: string; by: string };
}

export interface MigrationReport {
  from: string;
  records: number;
  properties: number;
  builds: number;
  indexEntries: number;
}

export async function migrateLayout(artifactsDir: string, temps: TempFiles): Promise<MigrationReport | null> {
  const base = path.join(artifactsDir, META_DIR);
  const marker = path.join(base, 'LAYOUT');
  const current = (await readFile(marker, 'utf8').catch(() => '')).trim();
  if (current === LAYOUT_VERSION) return null;
  const report: MigrationReport = { from: current || '1', records: 0, properties: 0, builds: 0, indexEntries: 0 };
  const meta = new ResourceRecordFiles(artifactsDir, temps);
  const builds = new BuildRecordFiles(artifactsDir, temps);
  const walk = async (folder: string, relative: string[]): Promise<void> => {
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      const full = path.join(folder, name);
      if (name.endsWith('.d')) {
        await walk(full, [...relative, name.slice(0, -2)]);
        continue;
      }
      if (!name.endsWith('.m')) continue;
      const segments = relative.length === 0 && name === 'root.m' ? [] : [...relative, name.slice(0, -2)];
      let old: OldRecord;
      try {
        old = JSON.parse(await readFile(full, 'utf8')) as OldRecord;
      } catch {
        continue;
      }
      if (!('props' in old) && !('file' in old) && !('build' in old) && !('pin' in old) && !('retired' in old)) continue;
      if (Array.isArray(old.props) && old.props.length > 0) {
        await meta.setProperties(segments, old.props);
        report.properties++;
      }
      if (old.file) {
        await meta.setFileRecord(segments, { sha256: old.file.sha256, size: old.file.size, mtimeMs: old.file.mtimeMs });
        report.records++;
      } else await rm(full, { force: true });
      if (segments.length === 3 && (old.build || old.pin || old.retired)) {
        const record: BuildRecord = { sealed: old.build, pin: old.pin, retired: old.retired };
        await builds.put(segments, record);
        report.builds++;
      }
    }
  };
  await walk(base, []);
  // The index: a file of lines per checksum becomes a folder of one entry per path.
  const index = new ChecksumIndexFiles(artifactsDir, temps);
  const indexRoot = path.join(artifactsDir, INDEX_DIR, 'sha256');
  for (const prefix of await readdir(indexRoot).catch(() => [] as string[])) {
    for (const sha256 of await readdir(path.join(indexRoot, prefix)).catch(() => [] as string[])) {
      const file = path.join(indexRoot, prefix, sha256);
      if (!(await stat(file)).isFile()) continue;
      const hrefs = [...new Set((await readFile(file, 'utf8')).split('\n').filter(Boolean))];
      await rm(file);
      for (const href of hrefs) {
        await index.add(sha256, href);
        report.indexEntries++;
      }
    }
  }
  await writeFile(marker, `${LAYOUT_VERSION}\n`);
  return report.records + report.properties + report.builds + report.indexEntries > 0 ? report : null;
}
