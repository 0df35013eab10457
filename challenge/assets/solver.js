/* rempart challenge page: solve the proof of work in Web Workers (with the
   WebAssembly SIMD solver where the browser runs it, the JavaScript one
   otherwise; where there are no workers or their script does not load, in
   slices on the main thread), then post the proof. Never loops and never
   hangs in silence: a browser that refuses cookies, or a solver that cannot
   load, is told what to do. Also drives the "back to the form" button of message pages. */
(function () {
  'use strict';
  var back = document.getElementById('rempart-back');
  if (back) {
    back.hidden = false;
    back.onclick = function () {
      history.go(-(parseInt(back.getAttribute('data-steps'), 10) || 1));
    };
  }
  var form = document.getElementById('rempart-proof');
  if (!form) return;
  var seed = form.getAttribute('data-seed');
  var bits = parseInt(form.getAttribute('data-bits'), 10);
  var bar = document.getElementById('rempart-progress');
  var status = document.getElementById('rempart-status');
  var auto = document.getElementById('rempart-auto');
  var expected = Math.pow(2, bits);
  var hashes = 0, done = false, workers = [], lastShown = -1, round = 0, watchdog = 0;
  var started = 0, estimated = false;
  // Shown only when the script runs: without JavaScript the page says what
  // to do instead.
  if (bar) bar.hidden = false;
  if (status) status.hidden = false;
  if (auto) auto.hidden = false;

  // A pass cookie that does not stick shows as a challenge page reached
  // straight from the verify endpoint's redirect. The tab counts such pages
  // in a row (sessionStorage), to stop after one more try.
  var KEY = 'rempart-proofs';
  function redirected() {
    try {
      var nav = performance.getEntriesByType('navigation')[0];
      if (nav) return nav.redirectCount > 0;
      return performance.navigation.redirectCount > 0;
    } catch (err) {
      return false;
    }
  }
  function recent() {
    try {
      return parseInt(sessionStorage.getItem(KEY), 10) || 0;
    } catch (err) { /* no storage: the cookie test is the only clue */ }
    return 0;
  }
  function remember(n) {
    try {
      if (n) sessionStorage.setItem(KEY, String(n));
      else sessionStorage.removeItem(KEY);
    } catch (err) { /* see recent */ }
  }

  function stop() {
    done = true;
    clearTimeout(watchdog);
    for (var i = 0; i < workers.length; i++) workers[i].terminate();
    workers = [];
  }

  // fail stops for good and says why, and what to do.
  function fail(attr) {
    stop();
    if (bar) bar.hidden = true;
    if (auto) auto.hidden = true;
    if (status) {
      status.className = 'err';
      status.textContent = form.getAttribute(attr);
    }
  }

  // estimate is the expected solving time in seconds on this device, from
  // the hash rate measured so far (after half a second, to be meaningful),
  // or '' before. Proof of work is memoryless: the expected time left is
  // the same at every moment, so this is also the honest time to come.
  function estimate() {
    if (!started) started = Date.now();
    var ms = Date.now() - started;
    if (ms < 500 || hashes <= 0) return '';
    var s = expected / (hashes / ms) / 1000;
    var text = s < 10 ? s.toFixed(1) : String(Math.round(s));
    return document.documentElement.lang === 'fr' ? text.replace('.', ',') : text;
  }

  function show(fraction) {
    // The chance of having found a nonce after `hashes` attempts (the
    // expected work is 2^bits); capped so the bar never claims completion
    // before the proof is accepted. The text says what the bar shows, then
    // the expected time; it changes with the bar only (and once when the
    // estimate is first known), so that screen readers are not flooded.
    var pct = Math.min(95, Math.floor(100 * (1 - Math.exp(-fraction))));
    var secs = estimate();
    if (pct === lastShown && (estimated || !secs)) return;
    lastShown = pct;
    var text = form.getAttribute('data-working').replace('%d', String(pct));
    if (secs) {
      estimated = true;
      text += ' ' + form.getAttribute('data-estimate').replace('%s', secs);
    }
    if (bar) bar.value = pct;
    if (status) status.textContent = text;
  }

  function finish(nonce) {
    if (done) return;
    stop();
    form.elements.nonce.value = nonce;
    if (bar) bar.value = 100;
    if (status) status.textContent = form.getAttribute('data-done');
    // Posted once the page has loaded, so that the proof's page is a
    // history entry of its own: "back" from what follows is predictable.
    var submit = function () {
      remember(quick + 1);
      form.submit();
    };
    if (document.readyState === 'complete') submit();
    else window.addEventListener('load', submit);
  }

  // startWorkers starts the workers; when their script does not load (a
  // content blocker, a dropped request) it tries once more, then solves on
  // the main thread.
  function startWorkers(attempt) {
    var mine = ++round, heard = false;
    var url = form.getAttribute('data-worker') + (attempt ? '?retry=' + attempt : '');
    function failed() {
      if (done || mine !== round || heard) return;
      clearTimeout(watchdog);
      for (var j = 0; j < workers.length; j++) workers[j].terminate();
      workers = [];
      if (attempt < 1) startWorkers(attempt + 1);
      else startMainThread();
    }
    var n = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 8));
    for (var i = 0; i < n; i++) {
      var w = new Worker(url);
      w.onmessage = function (e) {
        if (done || mine !== round) return;
        heard = true;
        if (e.data.solver) {
          form.setAttribute('data-solver-used', e.data.solver);
          estimate();
        }
        hashes += e.data.hashes;
        if (e.data.nonce) finish(e.data.nonce);
        else show(hashes / expected);
      };
      w.onerror = failed;
      w.postMessage({ seed: seed, bits: bits, hi: i, step: n, wasm: form.getAttribute('data-wasm') });
      workers.push(w);
    }
    // A request that never answers is a failure too.
    watchdog = setTimeout(failed, 15000);
  }

  function startMainThread() {
    round++;
    var s = document.createElement('script');
    s.src = form.getAttribute('data-worker') + '?main=1';
    s.onerror = function () { fail('data-blocked'); };
    s.onload = function () {
      clearTimeout(watchdog);
      if (typeof self.rempartSearch !== 'function') return fail('data-blocked');
      form.setAttribute('data-solver-used', 'main');
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
    };
    watchdog = setTimeout(function () { fail('data-blocked'); }, 30000);
    document.head.appendChild(s);
  }

  // cookiesWork reports whether the browser keeps this site's cookies: it
  // sets a test cookie and reads it back (navigator.cookieEnabled stays
  // true in browsers that block one site's cookies), then deletes it.
  function cookiesWork() {
    if (navigator.cookieEnabled === false) return false;
    try {
      document.cookie = 'rempart_check=1; path=/; SameSite=Lax';
      var ok = document.cookie.indexOf('rempart_check=1') >= 0;
      document.cookie = 'rempart_check=; path=/; max-age=0; SameSite=Lax';
      return ok;
    } catch (err) {
      return false;
    }
  }

  // Without cookies the pass never sticks: every proof would be asked
  // again, for ever. Stop at once when the browser refuses them, and after
  // two proofs each answered at once by a new challenge when they are lost
  // on the way.
  var quick = redirected() ? recent() : 0;
  if (quick >= 2 || !cookiesWork()) {
    remember(0);
    return fail('data-nocookies');
  }
  if (typeof Worker !== 'undefined') {
    try {
      startWorkers(0);
      return;
    } catch (err) {
      // Some browsers refuse workers (privacy modes, old engines): fall back.
      clearTimeout(watchdog);
      for (var i = 0; i < workers.length; i++) workers[i].terminate();
      workers = [];
    }
  }
  startMainThread();
})();
