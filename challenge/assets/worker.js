/* rempart proof-of-work search: find a nonce such that SHA-256(seed || nonce)
   starts with `bits` zero bits. The message is 40 bytes (32-byte seed, 8-byte
   big-endian nonce), one SHA-256 block: rounds 0-8 depend only on the seed and
   the nonce's high word, so they are computed once per high word. Plain ES5 on
   32-bit integers, so old browsers run it too. */
(function (self) {
  'use strict';
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  var k = new Int32Array(64);
  for (var i = 0; i < 64; i++) k[i] = K[i] | 0;

  function hex8(n) {
    var s = (n >>> 0).toString(16);
    while (s.length < 8) s = '0' + s;
    return s;
  }

  // seed: 64 hex digits. Tries nonces hi:lo .. hi:lo+count-1 and returns the
  // 16-hex-digit nonce found, or null.
  function search(seed, bits, hi, lo, count) {
    var w = new Int32Array(64);
    for (var j = 0; j < 8; j++) w[j] = parseInt(seed.substr(j * 8, 8), 16) | 0;
    w[8] = hi | 0;
    w[10] = 0x80000000 | 0;
    w[15] = 320;
    var a = 0x6a09e667 | 0, b = 0xbb67ae85 | 0, c = 0x3c6ef372 | 0, d = 0xa54ff53a | 0;
    var e = 0x510e527f | 0, f = 0x9b05688c | 0, g = 0x1f83d9ab | 0, h = 0x5be0cd19 | 0;
    var t1, t2, x, y;
    for (j = 0; j < 9; j++) {
      t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + k[j] + w[j]) | 0;
      t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    var a9 = a, b9 = b, c9 = c, d9 = d, e9 = e, f9 = f, g9 = g, h9 = h;
    var mask0 = bits >= 32 ? -1 : ~(-1 >>> bits) | 0;
    var mask1 = bits <= 32 ? 0 : bits >= 64 ? -1 : ~(-1 >>> (bits - 32)) | 0;
    for (var n = 0; n < count; n++) {
      w[9] = (lo + n) | 0;
      for (j = 16; j < 64; j++) {
        x = w[j - 15];
        y = w[j - 2];
        w[j] = (w[j - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[j - 7] +
          (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
      }
      a = a9; b = b9; c = c9; d = d9; e = e9; f = f9; g = g9; h = h9;
      for (j = 9; j < 64; j++) {
        t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + k[j] + w[j]) | 0;
        t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      if ((((a + 0x6a09e667) | 0) & mask0) === 0 && (((b + 0xbb67ae85) | 0) & mask1) === 0) {
        return hex8(hi) + hex8(lo + n);
      }
    }
    return null;
  }

  self.rempartSearch = search;

  // As a worker: search from hi:0 on, then hi+step:0, ..., reporting progress.
  if (typeof importScripts === 'function') {
    var CHUNK = 1 << 16;
    self.onmessage = function (msg) {
      var job = msg.data, hi = job.hi, lo = 0, found;
      for (;;) {
        found = search(job.seed, job.bits, hi, lo, CHUNK);
        if (found) {
          self.postMessage({ nonce: found, hashes: CHUNK });
          return;
        }
        self.postMessage({ hashes: CHUNK });
        lo += CHUNK;
        if (lo >= 0x100000000) {
          lo = 0;
          hi += job.step;
        }
      }
    };
  }
})(self);
