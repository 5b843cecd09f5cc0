// nginx's own description of a download (njs, loaded by nginx.conf): the checksum the app
// recorded for the file, read from the artifacts volume, so that a download does not wait
// for the app. It answers only when it is sure; anything else ('') sends the download to
// the app's description (GET /-/describe/PATH), as before.
//
// What the app writes and this reads (server/storage/resource-records.ts, build-records.ts):
//   /T/P/B/dir/name  ->  .meta/T.d/P.d/B.d/dir.d/name.m  {"sha256","size","mtimeMs","ino"}
//   the build T/P/B  ->  .builds/T/P/B.json              {"sealed": {...}, ...}
// A record holds only while the file on disk is that inode with that size and mtime (a
// replaced file is always another inode): the same test as recordMatches() in
// server/services/catalog.ts.
// The value is "SHA256 REPR-DIGEST ETAG open|sealed", with the ETag of the file this
// looked at, which nginx compares with its own for the file it sends ($artifact_fresh).
import fs from 'fs';

const SHA256 = /^[0-9a-f]{64}$/;
// Printable ASCII only: other names, and anything odd, are the app's to describe.
const SIMPLE_PATH = /^(\/[\x20-\x2e\x30-\x7e]+)+$/;

// A small JSON file, or null. (An exception costs far more in njs than a stat: a file that
// is often missing, a build's state, is looked for first.)
function readJson(file, oftenMissing) {
  if (oftenMissing && !fs.lstatSync(file, { throwIfNoEntry: false })) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return null;
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

// Repr-Digest's value for a SHA-256 in hex (32 bytes: 10 groups of 3, and 2 left over).
// By hand: Buffer is costly to bring into each request's VM (it halved the rate).
function reprDigest(hex) {
  let out = '';
  for (let i = 0; i < 60; i += 6) {
    const n = parseInt(hex.substr(i, 6), 16);
    out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + BASE64[n & 63];
  }
  const n = parseInt(hex.substr(60, 4), 16) << 8;
  return 'sha-256=:' + out + BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + '=:';
}

function recordMatches(record, stats) {
  if (!record || typeof record.sha256 !== 'string' || !SHA256.test(record.sha256)) return false;
  if (typeof record.size !== 'number' || typeof record.mtimeMs !== 'number') return false;
  if (record.ino !== undefined && record.ino !== stats.ino) return false;
  return record.size === stats.size && Math.abs(record.mtimeMs - stats.mtimeMs) < 1;
}

// nginx's own ETag for a file: seconds of mtime and size, in hex.
function etagOf(stats) {
  return '"' + Math.floor(stats.mtimeMs / 1000).toString(16) + '-' + stats.size.toString(16) + '"';
}

function described(r) {
  if (r.variables.artifact_records !== 'volume') return '';
  if (r.method !== 'GET' && r.method !== 'HEAD') return '';
  const uri = r.uri;
  if (!SIMPLE_PATH.test(uri)) return '';
  const segments = uri.slice(1).split('/');
  // A file lives in a build: /TYPE/PROJECT/BUILD/...
  if (segments.length < 4) return '';
  for (let i = 0; i < segments.length; i++) if (segments[i] === '.' || segments[i] === '..' || segments[i][0] === '.') return '';
  const root = r.variables.document_root;
  const stats = fs.lstatSync(root + uri, { throwIfNoEntry: false });
  if (!stats || !stats.isFile()) return '';
  const name = segments.pop();
  const record = readJson(root + '/.meta/' + segments.map((s) => s + '.d/').join('') + name + '.m', false);
  if (!recordMatches(record, stats)) return '';
  const build = readJson(root + '/.builds/' + segments[0] + '/' + segments[1] + '/' + segments[2] + '.json', true);
  const sealed = build !== null && typeof build.sealed === 'object' && build.sealed !== null;
  return record.sha256 + ' ' + reprDigest(record.sha256) + ' ' + etagOf(stats) + ' ' + (sealed ? 'sealed' : 'open');
}

// Any failure (a path through a file: ENOTDIR, a name too long, no permission) leaves the
// download to the app, without an exception in nginx's error log.
function describe(r) {
  try {
    return described(r);
  } catch (e) {
    return '';
  }
}

// (The other two are for the tests, test/unit/nginx-describe.test.ts, which run this file in Node.)
export default { describe, recordMatches, reprDigest };
