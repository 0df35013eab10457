// Generates challenge/assets/worker.js, the browser's proof-of-work solver:
//
//	node scripts/solver/gen_worker.js > challenge/assets/worker.js
//
// Edit this file, not the output. Then check the solver against Node's crypto
// and against challenge.LeadingZeroBits in Chromium, and measure it:
//
//	node scripts/solver/check_worker.js
//	go test ./e2e/ -run TestBrowserSolver -v
//	go test ./e2e/ -run '^$' -bench BrowserSolver -benchtime 1x -v
//
// The puzzle hashes one 64-byte SHA-256 block whose sixteen words are
// W0-7 = seed, W8 = nonce high word (hi), W9 = nonce low word (lo),
// W10 = 0x80000000 (padding), W11-14 = 0, W15 = 320 (message length in bits).
// Only W9 changes from one attempt to the next. The generator works out, word
// by word, which parts of the message schedule are literals, which depend only
// on the seed and hi (computed once per call of search), and which depend on
// W9 (computed per attempt), and writes the 54 rounds left per attempt
// unrolled, on local variables, with the constants folded in.
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
var H0 = 0x6a09e667, H1 = 0xbb67ae85;

// Numeric versions, to fold literals at generation time.
function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
function sigma0(x) { return (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) | 0; }
function sigma1(x) { return (rotr(x, 17) ^ rotr(x, 19) ^ (x >>> 10)) | 0; }

// Source versions, on a variable name.
function r(x, n) { return '(' + x + ' >>> ' + n + ' | ' + x + ' << ' + (32 - n) + ')'; }
function bigSigma0(x) { return '(' + r(x, 2) + ' ^ ' + r(x, 13) + ' ^ ' + r(x, 22) + ')'; }
function bigSigma1(x) { return '(' + r(x, 6) + ' ^ ' + r(x, 11) + ' ^ ' + r(x, 25) + ')'; }
function smallSigma0(x) { return '(' + r(x, 7) + ' ^ ' + r(x, 18) + ' ^ ' + x + ' >>> 3)'; }
function smallSigma1(x) { return '(' + r(x, 17) + ' ^ ' + r(x, 19) + ' ^ ' + x + ' >>> 10)'; }
function int(v) { return String(v | 0); }
function hex(v) { return '0x' + ('00000000' + (v >>> 0).toString(16)).slice(-8); }

// The message schedule. Each word is {k: 'lit', v} (a number known now),
// {k: 'const', e} (a local computed once per call) or {k: 'var', e, def}
// (a local computed per attempt from def).
var W = [];
var setup = []; // statements run once per call, in order
var setupVars = [];
var loopVars = [];
var j;
for (j = 0; j < 8; j++) W[j] = { k: 'const', e: 's' + j };
W[8] = { k: 'const', e: 'hi' };
W[9] = { k: 'var', e: 'x' };
W[10] = { k: 'lit', v: 0x80000000 | 0 };
for (j = 11; j < 15; j++) W[j] = { k: 'lit', v: 0 };
W[15] = { k: 'lit', v: 320 };

function sig(src, num, w) {
  if (w.k === 'lit') return { k: 'lit', v: num(w.v) };
  return { k: w.k, e: src(w.e) };
}

for (j = 16; j < 64; j++) {
  var terms = [sig(smallSigma1, sigma1, W[j - 2]), W[j - 7], sig(smallSigma0, sigma0, W[j - 15]), W[j - 16]];
  var lit = 0, consts = [], vars = [];
  terms.forEach(function (t) {
    if (t.k === 'lit') lit = (lit + t.v) | 0;
    else if (t.k === 'const') consts.push(t.e);
    else vars.push(t.e);
  });
  if (lit) consts.push(int(lit));
  if (vars.length === 0) {
    setup.push('c' + j + ' = (' + consts.join(' + ') + ') | 0;');
    setupVars.push('c' + j);
    W[j] = { k: 'const', e: 'c' + j };
    continue;
  }
  var parts = vars.slice();
  if (consts.length === 1 && /^-?\w+$/.test(consts[0])) {
    parts.push(consts[0]); // a name or a number: nothing to compute once
  } else if (consts.length) {
    setup.push('p' + j + ' = (' + consts.join(' + ') + ') | 0;');
    setupVars.push('p' + j);
    parts.push('p' + j);
  }
  W[j] = { k: 'var', e: 'w' + j, def: parts.join(' + ') };
  loopVars.push('w' + j);
}

// Rounds 10..63. The eight working variables keep their names and change
// roles from round to round, so that no value is moved.
var hot = [], names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], last;
for (var t = 10; t < 64; t++) {
  var o = (64 - (t - 10)) % 8;
  var a = names[o], b = names[(o + 1) % 8], c = names[(o + 2) % 8], d = names[(o + 3) % 8];
  var e = names[(o + 4) % 8], f = names[(o + 5) % 8], g = names[(o + 6) % 8], h = names[(o + 7) % 8];
  var w = W[t], kw;
  if (w.k === 'var') {
    hot.push(w.e + ' = (' + w.def + ') | 0;');
    kw = int(K[t]) + ' + ' + w.e;
  } else if (w.k === 'lit') {
    kw = int(K[t] + w.v);
  } else {
    setup.push('k' + t + ' = (' + w.e + ' + ' + int(K[t]) + ') | 0;');
    setupVars.push('k' + t);
    kw = 'k' + t;
  }
  hot.push(h + ' = (' + h + ' + ' + bigSigma1(e) + ' + (' + g + ' ^ ' + e + ' & (' + f + ' ^ ' + g + ')) + ' + kw + ') | 0;');
  // The digest's fifth word onwards are never looked at: round 63 skips e.
  if (t < 63) hot.push(d + ' = (' + d + ' + ' + h + ') | 0;');
  hot.push(h + ' = (' + h + ' + ' + bigSigma0(a) + ' + (' + a + ' & ' + b + ' | ' + c + ' & (' + a + ' | ' + b + '))) | 0;');
  if (t === 63) last = { a: h, b: a };
}

function indent(lines, n) {
  var pad = new Array(n + 1).join(' ');
  return lines.map(function (l) { return pad + l; }).join('\n');
}

function wrap(list, first, rest, width) {
  var lines = [], line = first;
  list.forEach(function (item, i) {
    var piece = item + (i < list.length - 1 ? ',' : ';');
    if (line.length + piece.length + 1 > width && line !== first) {
      lines.push(line);
      line = rest + piece;
    } else {
      line += (line === first ? '' : ' ') + piece;
    }
  });
  lines.push(line);
  return lines.join('\n');
}

// Rounds 0-9 run once per call, in a loop: only their constants are needed.
var kTable = ['    ' + K.slice(0, 5).map(hex).join(', ') + ',', '    ' + K.slice(5, 10).map(hex).join(', ')];

var out = `/* rempart proof-of-work solver: find a nonce such that SHA-256(seed || nonce)
   starts with \`bits\` zero bits. Plain ES5 on 32-bit integers, so that old
   browsers run it, and no eval, so that the shield's CSP allows it.

   GENERATED by scripts/solver/gen_worker.js, which explains the method: edit
   that file, then run  node scripts/solver/gen_worker.js > challenge/assets/worker.js

   The message is one SHA-256 block in which only W9, the nonce's low word,
   changes between attempts. search() computes once per call the rounds 0-9
   (the state after round 9 is a constant plus W9 in a and in e), the message
   words that do not depend on W9 and the constant parts of those that do,
   then runs the 54 remaining rounds unrolled on local variables: no array, no
   allocation, constants folded, and the digest finished only as far as its
   first word (its second too above 32 bits). */
(function (self) {
  'use strict';
  var K = [
${kTable.join('\n')}
  ];

  function hex8(n) {
    var s = (n >>> 0).toString(16);
    while (s.length < 8) s = '0' + s;
    return s;
  }

  // seed: 64 hex digits. Tries the nonces hi:lo .. hi:lo+count-1 and returns
  // the first that solves the puzzle, as 16 hex digits, or null.
  function search(seed, bits, hi, lo, count) {
    // The digest's first word must have bits zero bits, and above 32 its second too.
    var mask0 = bits >= 32 ? -1 : ~(-1 >>> bits) | 0;
    var mask1 = bits <= 32 ? 0 : bits >= 64 ? -1 : ~(-1 >>> (bits - 32)) | 0;
    var w = [], i, t1, t2, n, x;
    for (i = 0; i < 8; i++) w[i] = parseInt(seed.substr(i * 8, 8), 16) | 0;
    hi = w[8] = hi | 0;
    w[9] = 0;
    var s0 = w[0], s1 = w[1], s2 = w[2], s3 = w[3], s4 = w[4], s5 = w[5], s6 = w[6], s7 = w[7];
    var a = ${hex(H0)} | 0, b = 0xbb67ae85 | 0, c = 0x3c6ef372 | 0, d = 0xa54ff53a | 0;
    var e = 0x510e527f | 0, f = 0x9b05688c | 0, g = 0x1f83d9ab | 0, h = 0x5be0cd19 | 0;
    for (i = 0; i < 10; i++) {
      t1 = (h + ${bigSigma1('e')} + (g ^ e & (f ^ g)) + K[i] + w[i]) | 0;
      t2 = (${bigSigma0('a')} + (a & b | c & (a | b))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    var A = a, B = b, C = c, D = d, E = e, F = f, G = g, H = h;
${wrap(setupVars, '    var ', '      ', 100)}
${indent(setup, 4)}
${wrap(loopVars, '    var ', '      ', 100)}
    for (n = 0; n < count; n++) {
      x = (lo + n) | 0;
      a = (A + x) | 0; b = B; c = C; d = D; e = (E + x) | 0; f = F; g = G; h = H;
${indent(hot, 6)}
      if ((((${last.a} + ${int(H0)}) | 0) & mask0) === 0 && (((${last.b} + ${int(H1)}) | 0) & mask1) === 0) {
        return hex8(hi) + hex8(lo + n);
      }
    }
    return null;
  }

  self.rempartSearch = search;

  // simdSearch wraps the WebAssembly SIMD solver (sha256x4.wasm, four
  // nonces at once) as a search with the same arguments and answers.
  function simdSearch(instance) {
    var run = instance.exports.search;
    return function (seed, bits, hi, lo, count) {
      var mask0 = bits >= 32 ? -1 : ~(-1 >>> bits) | 0;
      var mask1 = bits <= 32 ? 0 : bits >= 64 ? -1 : ~(-1 >>> (bits - 32)) | 0;
      var w = [], i;
      for (i = 0; i < 8; i++) w[i] = parseInt(seed.substr(i * 8, 8), 16) | 0;
      var n = run(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], hi | 0, lo | 0, count | 0, mask0, mask1);
      return n < 0 ? null : hex8(hi) + hex8(lo + n);
    };
  }

  // rempartSIMD resolves to the SIMD search for the module at url, or
  // rejects where WebAssembly, its SIMD or the module cannot be had (an old
  // browser, a CSP without 'wasm-unsafe-eval', a blocked request).
  self.rempartSIMD = function (url) {
    return fetch(url).then(function (res) {
      if (!res.ok) throw new Error(url + ': HTTP ' + res.status);
      return res.arrayBuffer();
    }).then(function (bytes) {
      return WebAssembly.instantiate(bytes);
    }).then(function (r) {
      return simdSearch(r.instance);
    });
  };

  // As a worker: search from hi:0 on, then hi+step:0, ..., reporting
  // progress, with the SIMD solver when job.wasm names it and it loads, with
  // search otherwise. The first message says which solver runs.
  if (typeof importScripts === 'function') {
    var STEP = 1 << 16;
    var solve = function (job, find, solver) {
      var hi = job.hi, lo = 0, found;
      self.postMessage({ hashes: 0, solver: solver });
      for (;;) {
        found = find(job.seed, job.bits, hi, lo, STEP);
        if (found) {
          self.postMessage({ nonce: found, hashes: STEP });
          return;
        }
        self.postMessage({ hashes: STEP });
        lo += STEP;
        if (lo >= 0x100000000) {
          lo = 0;
          hi += job.step;
        }
      }
    };
    self.onmessage = function (msg) {
      var job = msg.data, started = false;
      if (!job.wasm || typeof WebAssembly !== 'object' || typeof fetch !== 'function') {
        return solve(job, search, 'js');
      }
      // The first of: the module ready, its failure, or 3 s without an
      // answer (a request that hangs must not hold the signer up).
      var start = function (find, solver) {
        if (started) return;
        started = true;
        clearTimeout(timer);
        solve(job, find, solver);
      };
      var timer = setTimeout(function () { start(search, 'js'); }, 3000);
      self.rempartSIMD(job.wasm).then(function (find) {
        start(find, 'wasm');
      }, function () {
        start(search, 'js');
      });
    };
  }
})(self);
`;
process.stdout.write(out);
