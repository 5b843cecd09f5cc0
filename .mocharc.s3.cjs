// npm run test:s3: the suites against real S3 servers only (test/s3-suites.cjs), over the same files as npm test.
const base = require('./.mocharc.cjs');

module.exports = { ...base, invert: false };
