// The layers of the code, top to bottom: a module may import its own folder and the folders
// below its own, never one above. CI runs this (npm test, before the tests): a folder that
// imports a folder above it, or a cycle, fails the run. docs/design.md says what each layer is.
const LAYERS = [
  // The composition root and the entry points: they wire everything; nothing imports them.
  ['root', '^(?:server/[^/]+\\.ts|cli/)'],
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
  // Infrastructure: where state is kept, and the one client of upstream servers.
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

const above = (index) => LAYERS.slice(0, index).map(([, path]) => `(?:${path})`).join('|');

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
      from: { path: '^(?:server|cli|token-service)/' },
      to: { circular: true },
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
