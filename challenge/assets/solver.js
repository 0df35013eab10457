/* rempart challenge page: solve the proof of work in Web Workers (or, where
   there are none, in slices on the main thread), then post the proof. */
(function () {
  'use strict';
  var form = document.getElementById('rempart-proof');
  if (!form) return;
  var seed = form.getAttribute('data-seed');
  var bits = parseInt(form.getAttribute('data-bits'), 10);
  var bar = document.getElementById('rempart-progress');
  var status = document.getElementById('rempart-status');
  var expected = Math.pow(2, bits);
  var hashes = 0, done = false, workers = [], lastShown = -1;
  // Shown only when the script runs: without JavaScript the page says what
  // to do instead.
  if (bar) bar.hidden = false;
  if (status) status.hidden = false;

  function show(fraction) {
    // The chance of having found a nonce after `hashes` attempts; capped so the
    // bar never claims completion before the proof is accepted.
    var pct = Math.min(95, Math.floor(100 * (1 - Math.exp(-fraction))));
    if (bar) bar.value = pct;
    var step = Math.floor(pct / 25);
    if (status && step !== lastShown) {
      lastShown = step;
      status.textContent = form.getAttribute('data-working').replace('%d', String(pct));
    }
  }

  function finish(nonce) {
    if (done) return;
    done = true;
    for (var i = 0; i < workers.length; i++) workers[i].terminate();
    form.elements.nonce.value = nonce;
    if (bar) bar.value = 100;
    if (status) status.textContent = form.getAttribute('data-done');
    form.submit();
  }

  function startWorkers() {
    var n = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 8));
    for (var i = 0; i < n; i++) {
      var w = new Worker(form.getAttribute('data-worker'));
      w.onmessage = function (e) {
        hashes += e.data.hashes;
        if (e.data.nonce) finish(e.data.nonce);
        else show(hashes / expected);
      };
      w.postMessage({ seed: seed, bits: bits, hi: i, step: n });
      workers.push(w);
    }
  }

  function startMainThread() {
    var lo = 0, hi = 0, slice = 1 << 14;
    (function next() {
      if (done) return;
      var found = self.rempartSearch(seed, bits, hi, lo, slice);
      hashes += slice;
      if (found) return finish(found);
      lo += slice;
      if (lo >= 0x100000000) { lo = 0; hi++; }
      show(hashes / expected);
      setTimeout(next, 0);
    })();
  }

  if (typeof Worker !== 'undefined') {
    try {
      startWorkers();
      return;
    } catch (err) {
      // Some browsers refuse workers (privacy modes, old engines): fall back.
      workers = [];
    }
  }
  var s = document.createElement('script');
  s.src = form.getAttribute('data-worker');
  s.onload = startMainThread;
  document.head.appendChild(s);
})();
