'use strict';
// Container health check without curl or wget in the image: `node docker/healthcheck.js URL` exits 0 when
// URL answers 2xx within the time limit, 1 otherwise.
const url = process.argv[2];
if (url === undefined) {
  console.error('usage: node healthcheck.js URL');
  process.exit(2);
}
fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
