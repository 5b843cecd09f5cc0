// The layers of the code, top to bottom: a module may import its own folder and the folders
// below its own, never one above. `npm test` runs this first (npm run lint:architecture):
// an import against the order, a cycle, a module in no layer, or the two store sets
// importing each other fails the run. docs/design.md says what each layer is.
const LAYERS = [
  // The composition root and the entry points: they open the stores, make the services and
  // start the servers; nothing imports them.
  ['root', '^(?:server/[^/]+\\.ts$|cli/)'],
  // Edges: what speaks to clients, each its own protocol.
  ['admin', '^server/admin/'],
  ['api', '^server/api/'],
  ['webdav', '^server/webdav/'],
  ['proxy', '^server/proxy/'],
  // What edges share: the browsing pages, then HTTP helpers (errors, validators, stored
  // bytes, the access log and metrics).
  ['pages', '^server/pages/'],
  ['http', '^server/http/'],
  // The domain's services: builds, recordings, the mirror, signing, retention, locks.
  ['services', '^server/services/'],
  // Credentials, and the one place a request is authorised.
  ['token-service', '^token-service/'],
  // Storage: the records in PostgreSQL, and the volume (the tree's bytes, bodies, the
  // embedded records); siblings, neither imports the other. Then the one client of
  // upstream servers.
  ['storage/pg', '^server/storage/pg/'],
  ['storage', '^server/storage/[^/]+$'],
  // What both store sets write through (a body to a temporary file while it is hashed).
  ['storage/io', '^server/storage/io/'],
  ['upstream', '^server/upstream/'],
  // Below everything: the settings, then the domain's rules and vocabulary (no I/O: paths,
  // scopes, matching, the kinds of failure, events, the interfaces of the stores, the
  // bounds on work).
  ['config', '^server/config/'],
  ['domain', '^server/domain/'],
];

const CODE = '^(?:server|cli|token-service)/';
const any = (paths) => paths.map((p) => `(?:${p})`).join('|');
const above = (index) => any(LAYERS.slice(0, index).map(([, path]) => path));
const placed = any(LAYERS.map(([, path]) => path));

module.exports = {
  forbidden: [
    ...LAYERS.slice(1).map(([name, path], i) => ({
      name: `layer-${name}`,
      comment: `${name} imports a layer above it (see LAYERS in .dependency-cruiser.cjs and the layout in docs/design.md)`,
      severity: 'error',
      from: { path },
      to: { path: above(i + 1) },
    })),
    {
      name: 'no-circular',
      comment: 'a cycle of imports',
      severity: 'error',
      from: { path: CODE },
      to: { circular: true },
    },
    {
      name: 'edges-apart',
      comment: 'an edge imports another edge: what two edges share belongs in pages/ or http/ (or below)',
      severity: 'error',
      from: { path: '^server/(admin|api|webdav|proxy)/' },
      to: { path: '^server/(admin|api|webdav|proxy)/', pathNot: '^server/$1/' },
    },
    {
      name: 'store-sets-apart',
      comment: 'the PostgreSQL stores and the volume\'s (embedded) stores implement the same interfaces (domain/stores.ts) and share only what is below them',
      severity: 'error',
      from: { path: '^server/storage/pg/' },
      to: { path: '^server/storage/[^/]+$' },
    },
    {
      name: 'unplaced-module',
      comment: 'a module in no layer: add its folder to LAYERS in .dependency-cruiser.cjs (and to the layout in docs/design.md)',
      severity: 'error',
      from: { path: CODE, pathNot: placed },
      to: {},
    },
    {
      name: 'unplaced-dependency',
      comment: 'an import of a module in no layer: add its folder to LAYERS in .dependency-cruiser.cjs (and to the layout in docs/design.md)',
      severity: 'error',
      from: { path: CODE },
      to: { path: CODE, pathNot: placed },
    },
  ],
  options: {
    // TypeScript, type-only imports included (parsed by swc: TypeScript 7 has no compiler API).
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(?:dist|test|bench|node_modules)/' },
  },
};
