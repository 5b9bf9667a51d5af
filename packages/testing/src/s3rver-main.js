'use strict';
/**
 * Runs s3rver in a child process for the integration tests. It cannot run inside the jest process:
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which Node ≥ 17 (OpenSSL 3) offers only
 * with `--openssl-legacy-provider`, a start-up flag. The parent starts this script with that flag.
 *
 * argv: <directory> <bucket>. Prints one JSON line `{"port": N}` when listening, then one JSON line
 * per object event (`{"event": "ObjectCreated:Put", "key": "..."}`). Exits when stdin closes, so it
 * never outlives the test process.
 */
const S3rver = require('s3rver');

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  port: 0,
  address: '127.0.0.1',
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
});

server.on('event', (event) => {
  for (const record of event.Records) {
    process.stdout.write(`${JSON.stringify({ event: record.eventName, key: record.s3.object.key })}\n`);
  }
});

server.run().then(
  ({ port }) => process.stdout.write(`${JSON.stringify({ port })}\n`),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

/** How long a graceful close may wait for open connections before the process exits anyway. */
const CLOSE_GRACE_MS = 2000;

process.stdin.on('end', () => {
  // A client that died mid-upload leaves a request whose body never ends; http.Server#close waits for
  // every such connection, so without a bound the test's teardown (and the test process) would hang.
  setTimeout(() => process.exit(0), CLOSE_GRACE_MS).unref();
  server.httpServer?.closeAllConnections?.();
  server.close().finally(() => process.exit(0));
});
process.stdin.resume();
