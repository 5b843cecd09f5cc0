// npm test: every suite but those against S3 servers (test/s3-suites.cjs: npm run test:s3).
const { S3_SUITES } = require('./test/s3-suites.cjs');

module.exports = {
  spec: [
    'dist/test/unit/**/*.test.js',
    'dist/test/conformance/**/*.test.js',
    'dist/test/integration/**/*.test.js',
    'dist/test/clients/**/*.test.js',
    'dist/test/deploy/**/*.test.js',
    'dist/test/browser/**/*.test.js',
  ],
  timeout: 20000,
  'enable-source-maps': true,
  grep: S3_SUITES,
  invert: true,
};
