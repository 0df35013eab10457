// Checks the solvers (challenge/assets/worker.js and its WebAssembly SIMD
// solver challenge/assets/sha256x4.wasm by default) against Node's crypto,
// and measures their hash rates in Node, where no Chromium is at hand:
//
//	node scripts/solver/check_worker.js [worker.js] [rounds] [sha256x4.wasm]
//
// For every difficulty from 1 to 24 bits, on random seeds and nonce ranges,
// rempartSearch must return exactly the first nonce that Node's SHA-256 finds
// in the range, or null when there is none; above 32 bits, around a nonce
// found once by brute force. The Go test TestBrowserSolver (e2e/) does the
// same in Chromium against challenge.LeadingZeroBits.
'use strict';
var fs = require('fs'), crypto = require('crypto'), path = require('path');

var file = process.argv[2] || path.join(__dirname, '..', '..', 'challenge', 'assets', 'worker.js');
var rounds = +(process.argv[3] || 2);
var self = {};
new Function('self', fs.readFileSync(file, 'utf8'))(self);
var wasmFile = process.argv[4] || path.join(__dirname, '..', '..', 'challenge', 'assets', 'sha256x4.wasm');
var search;

function leadingZeroBits(message) {
  var d = crypto.createHash('sha256').update(message).digest(), n = 0;
  for (var i = 0; i < 32; i++) {
    if (d[i] !== 0) return n + Math.clz32(d[i]) - 24;
    n += 8;
  }
  return n;
}

function hex8(n) { return ('00000000' + (n >>> 0).toString(16)).slice(-8); }

function firstProof(seed, bits, hi, lo, count) {
  var m = Buffer.alloc(40);
  Buffer.from(seed, 'hex').copy(m);
  m.writeUInt32BE(hi >>> 0, 32);
  for (var n = 0; n < count; n++) {
    m.writeUInt32BE((lo + n) >>> 0, 36);
    if (leadingZeroBits(m) >= bits) return hex8(hi) + hex8(lo + n);
  }
  return null;
}

var failures = 0;
function checkSolver(name) {
  var cases = 0, proofs = 0, failed = failures;
  function check(seed, bits, hi, lo, count) {
    var got = search(seed, bits, hi, lo, count), want = firstProof(seed, bits, hi, lo, count);
    cases++;
    if (want) proofs++;
    if (got !== want) {
      failures++;
      console.log('FAIL rempartSearch(' + [seed, bits, hi, lo, count].join(', ') + ') = ' + got + ', want ' + want);
    }
  }

  for (var r = 0; r < rounds; r++) {
    for (var bits = 1; bits <= 24; bits++) {
      if (bits > 16 && r % 2) continue;
      var count = 3 * Math.pow(2, bits);
      check(crypto.randomBytes(32).toString('hex'), bits,
        r % 3 ? crypto.randomBytes(4).readUInt32BE(0) : 0,
        crypto.randomBytes(4).readUInt32BE(0) % (0x100000000 - count), count);
    }
  }
  // SHA-256(seed || 000000013c201629) starts with 33 zero bits.
  var deep = '761f1cbfb7885438aae85671d9173b4afa23d4124dd2e9e3733703f8a03064d1';
  [20, 32, 33, 34, 40, 64].forEach(function (b) { check(deep, b, 1, 0x3c201629 - 5000, 10000); });
  console.log(name + ': ' + cases + ' cases (' + proofs + ' with a proof), ' + (failures - failed) + ' failures');

  // Hash rate on one core: the best of 10 windows of 2^20 attempts, after a warm-up.
  var seed = crypto.randomBytes(32).toString('hex'), best = 0;
  search(seed, 64, 7, 0, 1 << 18);
  for (var i = 0; i < 10; i++) {
    var t = process.hrtime.bigint();
    search(seed, 64, 7, (i + 1) << 20, 1 << 20);
    best = Math.max(best, (1 << 20) / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  console.log(name + ', Node ' + process.version + ': ' + (best / 1e6).toFixed(2) + ' MH/s (best of 10 windows)');
}

search = self.rempartSearch;
checkSolver('JavaScript');
// rempartSIMD fetches its module: here, from the file.
global.fetch = function () {
  return Promise.resolve({ ok: true, arrayBuffer: function () { return fs.readFileSync(wasmFile); } });
};
self.rempartSIMD('sha256x4.wasm').then(function (simd) {
  search = simd;
  checkSolver('WebAssembly SIMD');
  process.exitCode = failures ? 1 : 0;
}, function (err) {
  console.log('FAIL loading ' + wasmFile + ': ' + err);
  process.exitCode = 1;
});
