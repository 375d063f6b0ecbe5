// Starts @20minutes/s3rver for the tests on 127.0.0.1 (port 0 = a free one), with buckets created,
// prints "PORT <n>" once listening, and stops on SIGTERM or when the process that started it is
// gone (checked every second, so a crashed test leaves no server behind). Credentials: access key
// S3RVER, secret S3RVER (s3rver's built-in account).
//   node --openssl-legacy-provider serve.js --directory DIR [--port N] [--address A] [--bucket NAME]...
// (--address 0.0.0.0 in the compose test's container, where it stands in for MinIO; PID 1 there,
// so there is no parent to watch.)
// (s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy
// provider: without the flag every truncated listing answers 500.)
'use strict';

const S3rver = require('@20minutes/s3rver');

const args = process.argv.slice(2);
let directory = null;
let port = 0;
let address = '127.0.0.1';
const buckets = [];
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--directory') directory = args[i + 1];
  else if (args[i] === '--port') port = Number(args[i + 1]);
  else if (args[i] === '--address') address = args[i + 1];
  else if (args[i] === '--bucket') buckets.push({ name: args[i + 1], configs: [] });
  else {
    process.stderr.write(`serve.js: unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}
if (!directory) {
  process.stderr.write('serve.js: --directory DIR is required\n');
  process.exit(2);
}

// vhostBuckets off: s3rver otherwise takes any host name that is not an IP or localhost for a bucket
// (CNAME style), so the compose test's http://minio:9000/<bucket> would address bucket "minio".
// facefuse sends path-style requests to an endpoint, as MinIO expects.
const server = new S3rver({ address, port, directory, silent: true, configureBuckets: buckets, vhostBuckets: false });
server.run().then(
  (bound) => process.stdout.write(`PORT ${bound.port}\n`),
  (err) => {
    process.stderr.write(`serve.js: ${err.stack || err}\n`);
    process.exit(1);
  },
);
const stop = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
const parent = process.ppid;
if (parent > 1) setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    stop();
  }
}, 1000);
