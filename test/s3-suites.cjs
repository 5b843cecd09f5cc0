// The suites that run against real S3 servers (Swift, Ceph RGW): whole describe blocks
// whose titles name S3 (an S3 mode, an S3 backend, a bucket URL). `npm test` leaves them
// out (.mocharc.cjs) and `npm run test:s3` runs only them (.mocharc.s3.cjs), a stage of its
// own in .ci/run, so that npm test stays near ten minutes on two cores. (A regular
// expression's source: mocha takes --grep as text.)
module.exports = { S3_SUITES: '\\bS3\\b|s3://' };
