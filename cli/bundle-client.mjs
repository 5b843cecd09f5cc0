// Build step: the client half of the CLI (dist/cli/client-main.js and what it imports) as
// one file, dist/client/artifact-repo, that the repository serves at /-/client/artifact-repo.
// CommonJS, so that a file named plain `artifact-repo` runs; and where it lands below a
// package.json with "type": "module" (which makes Node read it as an ES module, where
// require does not exist), Node's own modules come from process.getBuiltinModule.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/cli/client-main.js'],
  outfile: 'dist/client/artifact-repo',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  banner: {
    js: [
      '#!/usr/bin/env node',
      '// artifact-repo client, bundled from the artifact-repo repository (cli/client.ts).',
      'var require = typeof require === "function" ? require : (id) => process.getBuiltinModule(id);',
    ].join('\n'),
  },
});
