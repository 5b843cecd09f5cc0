// Real packages for the tests: .deb files built by dpkg-deb (Debian's own builder, part
// of every Debian system; the server never runs it), wheels and sdists written by Python's
// zipfile and tarfile as setuptools would, and an apt and a pip isolated from this
// machine's own configuration.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { run, type RunResult } from './tools.js';

export interface DebSpec {
  name: string;
  version: string;
  arch?: string;
  depends?: string;
  /** dpkg-deb -Z: gzip, xz, zstd. */
  compression?: 'gzip' | 'xz' | 'zstd';
  /** A file it installs, to tell two builds of one version apart. */
  content?: string;
}

/** Builds NAME_VERSION_ARCH.deb in `dir` with dpkg-deb; returns its path. */
export async function makeDeb(dir: string, spec: DebSpec): Promise<string> {
  const arch = spec.arch ?? 'all';
  const root = path.join(dir, `${spec.name}-${spec.version}-${arch}-${Math.random().toString(36).slice(2)}`);
  await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
  await mkdir(path.join(root, 'usr/share', spec.name), { recursive: true });
  await writeFile(path.join(root, 'usr/share', spec.name, 'content'), spec.content ?? `${spec.name} ${spec.version}\n`);
  const control = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    `Architecture: ${arch}`,
    'Maintainer: Test <test@example.org>',
    ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
    'Section: misc',
    'Priority: optional',
    `Description: ${spec.name}, built by a test`,
    ' A second line of the description,',
    ' .',
    ' and a paragraph.',
  ].join('\n');
  await writeFile(path.join(root, 'DEBIAN/control'), `${control}\n`);
  const out = path.join(dir, `${spec.name}_${spec.version.replace(/^\d+:/, '')}_${arch}.deb`);
  const built = await run('dpkg-deb', ['--root-owner-group', `-Z${spec.compression ?? 'xz'}`, '--build', root, out]);
  if (built.code !== 0) throw new Error(`dpkg-deb: ${built.stderr}`);
  return out;
}

export interface WheelSpec {
  /** The project name as its METADATA says it (normalised in the file name). */
  name: string;
  version: string;
  requiresPython?: string;
  requiresDist?: string[];
  /** The module it installs, with this source. */
  module?: { name: string; source: string };
}

const WHEEL_SCRIPT = `
import base64, hashlib, json, sys, zipfile
spec = json.loads(sys.argv[1]); out = sys.argv[2]
dist = spec['name'].replace('-', '_').replace('.', '_')
info = f"{dist}-{spec['version']}.dist-info"
meta = ["Metadata-Version: 2.1", f"Name: {spec['name']}", f"Version: {spec['version']}"]
if spec.get('requiresPython'): meta.append(f"Requires-Python: {spec['requiresPython']}")
for r in spec.get('requiresDist', []): meta.append(f"Requires-Dist: {r}")
files = {}
if spec.get('module'): files[f"{spec['module']['name']}/__init__.py"] = spec['module']['source'].encode()
files[f"{info}/METADATA"] = ("\\n".join(meta) + "\\n\\nA test package.\\n").encode()
files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
record = []
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = ("\\n".join(record) + "\\n").encode()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name, data in files.items(): z.writestr(name, data)
`;

/** Builds DIST-VERSION-py3-none-any.whl in `dir`; returns its path. */
export async function makeWheel(dir: string, spec: WheelSpec): Promise<string> {
  const out = path.join(dir, `${spec.name.replace(/[-.]/g, '_')}-${spec.version}-py3-none-any.whl`);
  const made = await run('python3', ['-c', WHEEL_SCRIPT, JSON.stringify(spec), out]);
  if (made.code !== 0) throw new Error(`wheel: ${made.stderr}`);
  return out;
}

/** An apt of its own: state, cache, sources and keys in `root`, nothing of this machine's, amd64. */
export class IsolatedApt {
  constructor(readonly root: string) {}

  async setUp(sources: string): Promise<void> {
    for (const dir of ['etc/apt.conf.d', 'etc/preferences.d', 'etc/sources.list.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial', 'log', 'download']) await mkdir(path.join(this.root, dir), { recursive: true });
    await writeFile(path.join(this.root, 'state/status'), '');
    await writeFile(path.join(this.root, 'etc/sources.list'), sources);
    const user = userInfo().username;
    const conf = [
      `Dir::Etc "${this.root}/etc/";`,
      `Dir::Etc::SourceList "${this.root}/etc/sources.list";`,
      `Dir::Etc::SourceParts "${this.root}/etc/sources.list.d/";`,
      `Dir::Etc::Parts "${this.root}/etc/apt.conf.d/";`,
      `Dir::Etc::PreferencesParts "${this.root}/etc/preferences.d/";`,
      `Dir::Etc::Preferences "${this.root}/etc/preferences";`,
      `Dir::Etc::TrustedParts "${this.root}/etc/trusted.gpg.d/";`,
      `Dir::Etc::Trusted "${this.root}/etc/trusted.gpg";`,
      `Dir::State "${this.root}/state/";`,
      `Dir::State::status "${this.root}/state/status";`,
      `Dir::Cache "${this.root}/cache/";`,
      `Dir::Log "${this.root}/log/";`,
      'Debug::NoLocking "true";',
      `APT::Sandbox::User "${user}";`,
      'APT::Architecture "amd64";',
      'APT::Architectures { "amd64"; };',
      'Acquire::Languages "none";',
      'Acquire::http::Proxy "DIRECT";',
      'Acquire::Retries "0";',
    ].join('\n');
    await writeFile(path.join(this.root, 'apt.conf'), `${conf}\n`);
  }

  async setSources(sources: string): Promise<void> {
    await writeFile(path.join(this.root, 'etc/sources.list'), sources);
  }

  /** Runs apt-get with this configuration (APT_CONFIG), in its download folder. */
  aptGet(args: string[], extraOptions: string[] = []): Promise<RunResult> {
    return run('apt-get', [...extraOptions.flatMap((o) => ['-o', o]), ...args], { cwd: path.join(this.root, 'download'), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', APT_CONFIG: path.join(this.root, 'apt.conf'), LANG: 'C' } });
  }

  downloaded(name: string): Promise<Buffer> {
    return readFile(path.join(this.root, 'download', name));
  }

  archive(name: string): Promise<Buffer> {
    return readFile(path.join(this.root, 'cache/archives', name));
  }
}
