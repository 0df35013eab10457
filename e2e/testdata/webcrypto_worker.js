/* Baseline for e2e/solver_bench_test.go: the same search and the same
   message protocol as challenge/assets/worker.js, but one call to
   crypto.subtle.digest per attempt, as Anubis's solver does. */
self.onmessage = function (msg) {
  'use strict';
  var job = msg.data, bits = job.bits, hi = job.hi, lo = 0, done = 0, BATCH = 1024, i;
  var buf = new Uint8Array(40), view = new DataView(buf.buffer);
  var mask0 = bits >= 32 ? -1 : ~(-1 >>> bits) | 0;
  var mask1 = bits <= 32 ? 0 : bits >= 64 ? -1 : ~(-1 >>> (bits - 32)) | 0;
  for (i = 0; i < 32; i++) buf[i] = parseInt(job.seed.substr(2 * i, 2), 16);
  function hex8(n) {
    var s = (n >>> 0).toString(16);
    while (s.length < 8) s = '0' + s;
    return s;
  }
  function next() {
    view.setUint32(32, hi);
    view.setUint32(36, lo);
    crypto.subtle.digest('SHA-256', buf).then(function (digest) {
      var d = new DataView(digest);
      done++;
      if ((d.getUint32(0) & mask0) === 0 && (d.getUint32(4) & mask1) === 0) {
        self.postMessage({ nonce: hex8(hi) + hex8(lo), hashes: done });
        return;
      }
      if (done === BATCH) {
        self.postMessage({ hashes: done });
        done = 0;
      }
      lo++;
      if (lo >= 0x100000000) {
        lo = 0;
        hi += job.step;
      }
      next();
    });
  }
  next();
};
