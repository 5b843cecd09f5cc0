// The layers of the code, top to bottom: a module may import its own folder and the folders
// below its own, never one above. `npm test` runs this first (npm run lint:architecture):
// an import against the order, a cycle, a module in no layer, or the two store sets
// importing each other fails the run. docs/design.md says what each layer is.
const LAYERS = [
  // The composition root and the entry points: they wire everything; nothing imports them.
  ['root', '^(?:server/[^/]+\\.ts$|cli/)'],
  // Edges: what speaks to clients.
  ['admin', '^server/admin/'],
  ['api', '^server/api/'],
  ['webdav', '^server/webdav/'],
  ['proxy', '^server/proxy/'],
  // What edges share: the browsing views, their rendering, HTTP helpers, metrics.
  ['browse', '^server/browse/'],
  ['ui', '^server/ui/'],
  ['http', '^server/http/'],
  ['metrics', '^server/metrics/'],
  // Services: what the repository does, whoever asks.
  ['services', '^server/services/'],
  ['retention', '^server/retention/'],
  ['signing', '^server/signing/'],
  ['mirror', '^server/mirror/'],
  ['recordings', '^server/recordings/'],
  ['builds', '^server/builds/'],
  ['locks', '^server/locks/'],
  ['auth', '^server/auth/'],
  ['token-service', '^token-service/'],
  // Storage: the set of stores opened from the configuration, the two implementations of
  // the store interfaces (siblings: neither imports the other), the interfaces and the
  // byte stores; and the one client of upstream servers.
  ['stores', '^server/stores/'],
  ['storage/pg', '^server/storage/pg/'],
  ['storage/embedded', '^server/storage/embedded/'],
  ['storage', '^server/storage/[^/]+$'],
  ['upstream', '^server/upstream/'],
  // Below everything: the settings, generic helpers, and the pure rules with the kinds of
  // failure every layer raises.
  ['config', '^server/config/'],
  ['support', '^server/support/'],
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
      name: 'store-sets-apart',
      comment: 'the PostgreSQL and the embedded stores implement the same interfaces (storage/stores.ts) and share only what is below them',
      severity: 'error',
      from: { path: '^server/storage/(pg|embedded)/' },
      to: { path: '^server/storage/(pg|embedded)/', pathNot: '^server/storage/$1/' },
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
