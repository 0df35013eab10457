/* The page side of e2e/solver_bench_test.go. The Go test calls these
   functions through the DevTools protocol; the page itself runs under the
   shield's Content-Security-Policy, so workers come from the same origin. */
(function () {
  'use strict';

  function randomHex(bytes) {
    var a = new Uint8Array(bytes), s = '', i;
    crypto.getRandomValues(a);
    for (i = 0; i < bytes; i++) s += (a[i] < 16 ? '0' : '') + a[i].toString(16);
    return s;
  }

  // Runs n workers of the given script on a puzzle they will not solve
  // (64 bits), discards the first warmMs, then counts the hashes they report
  // for ms. wasm, when set, is the URL of the SIMD solver the workers are
  // offered. Resolves to {hashes, ms, solvers}, solvers being the solver
  // each worker said it runs ('js' or 'wasm'), joined by commas.
  window.benchRate = function (url, n, warmMs, ms, wasm) {
    return new Promise(function (resolve, reject) {
      var workers = [], total = 0, seed = randomHex(32), i, w, solvers = [];
      function stop() {
        for (var j = 0; j < workers.length; j++) workers[j].terminate();
      }
      for (i = 0; i < n; i++) {
        w = new Worker(url);
        w.onmessage = function (e) {
          if (e.data.solver) solvers.push(e.data.solver);
          total += e.data.hashes;
          if (e.data.nonce) {
            stop();
            reject(new Error('found a 64-bit proof: ' + e.data.nonce));
          }
        };
        w.onerror = function (e) {
          stop();
          reject(new Error('worker ' + url + ': ' + e.message));
        };
        w.postMessage({ seed: seed, bits: 64, hi: i, step: n, wasm: wasm || '' });
        workers.push(w);
      }
      setTimeout(function () {
        var t0 = performance.now(), c0 = total;
        setTimeout(function () {
          var dt = performance.now() - t0, c = total - c0;
          stop();
          resolve({ hashes: c, ms: dt, solvers: solvers.join(',') });
        }, ms);
      }, warmMs);
    });
  };

  // Runs one worker of the given script until it solves seed at bits.
  // Resolves to the nonce it posts.
  window.benchSolve = function (url, seed, bits, hi) {
    return new Promise(function (resolve, reject) {
      var w = new Worker(url);
      w.onmessage = function (e) {
        if (e.data.nonce) {
          w.terminate();
          resolve(e.data.nonce);
        }
      };
      w.onerror = function (e) {
        w.terminate();
        reject(new Error('worker ' + url + ': ' + e.message));
      };
      w.postMessage({ seed: seed, bits: bits, hi: hi, step: 1 });
    });
  };

  // Like benchSearch, with the WebAssembly SIMD solver at url. Resolves to
  // its answers.
  window.benchSearchSIMD = function (url, cases) {
    return self.rempartSIMD(url).then(function (search) {
      var out = [], i, c;
      for (i = 0; i < cases.length; i++) {
        c = cases[i];
        out.push(search(c[0], c[1], c[2], c[3], c[4]));
      }
      return out;
    });
  };

  // Calls the solver's search on the main thread (the page loads worker.js
  // as a plain script, as solver.js does where workers are refused) for each
  // case [seed, bits, hi, lo, count], and returns its answers.
  window.benchSearch = function (cases) {
    var out = [], i, c;
    for (i = 0; i < cases.length; i++) {
      c = cases[i];
      out.push(self.rempartSearch(c[0], c[1], c[2], c[3], c[4]));
    }
    return out;
  };
})();
