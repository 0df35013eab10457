// rempart dashboard: polls "data" every 5 seconds and draws it; the
// buttons add temporary rules through "act". No library: the plot is SVG.
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('strings').textContent);
  var main = document.getElementById('sites');
  var token = main.dataset.token;
  var hours = main.dataset.hours.split(',');
  var lang = document.documentElement.lang;
  var statusBox = document.getElementById('status');
  var SVGNS = 'http://www.w3.org/2000/svg';
  var LINES = [['forwarded', '#1b7a2f'], ['refused', '#b3261e'], ['held', '#8a5a00'], ['would_refuse', '#5b3d99']];

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') { e.textContent = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
    }
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    return e;
  }
  function time(t) { return new Date(t).toLocaleTimeString(lang, {hour: '2-digit', minute: '2-digit'}); }
  function num(x) { return (Math.round(x * 10) / 10).toLocaleString(lang); }

  // A table in a focusable scrolling region, for narrow screens.
  function table(caption, head, rows, numeric) {
    var id = 'c' + Math.random().toString(36).slice(2);
    var t = el('table', {}, [el('caption', {id: id, text: caption}),
      el('thead', {}, [el('tr', {}, head.map(function (h, i) {
        return el('th', {scope: 'col', 'class': numeric && numeric[i] ? 'num' : '', text: h});
      }))])]);
    var body = el('tbody');
    rows.forEach(function (r) {
      body.appendChild(el('tr', {}, r.map(function (c, i) {
        var td = el('td', {'class': numeric && numeric[i] ? 'num' : ''});
        if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; }
        return td;
      })));
    });
    t.appendChild(body);
    return el('div', {'class': 'scroll', tabindex: '0', role: 'region', 'aria-labelledby': id}, [t]);
  }

  function plot(site) {
    var s = site.series, w = 600, h = 180, pad = 30;
    var max = 1;
    s.forEach(function (m) { LINES.forEach(function (l) { max = Math.max(max, m[l[0]]); }); });
    var last = s[s.length - 1];
    var titleId = 'plot-title-' + site.site, descId = 'plot-desc-' + site.site;
    var g = svg('svg', {viewBox: '0 0 ' + w + ' ' + h, 'class': 'plot', role: 'img', 'aria-labelledby': titleId + ' ' + descId});
    var title = svg('title', {id: titleId}); title.textContent = T.plot; g.appendChild(title);
    var desc = svg('desc', {id: descId});
    desc.textContent = T.plotDesc.replace('%f', last.forwarded).replace('%r', last.refused).replace('%h', last.held).replace('%w', last.would_refuse);
    g.appendChild(desc);
    [0, 0.5, 1].forEach(function (f) {
      var y = h - pad - f * (h - 2 * pad);
      g.appendChild(svg('line', {x1: pad, x2: w - 5, y1: y, y2: y, stroke: '#ccc'}));
      var lbl = svg('text', {x: 2, y: y + 4, 'font-size': 11, fill: '#333'}); lbl.textContent = Math.round(f * max); g.appendChild(lbl);
    });
    LINES.forEach(function (l) {
      var pts = s.map(function (m, i) {
        return (pad + i * (w - pad - 5) / (s.length - 1)).toFixed(1) + ',' + (h - pad - m[l[0]] / max * (h - 2 * pad)).toFixed(1);
      });
      g.appendChild(svg('polyline', {points: pts.join(' '), fill: 'none', stroke: l[1], 'stroke-width': 2.5, 'data-series': l[0]}));
    });
    [0, s.length - 1].forEach(function (i) {
      var lbl = svg('text', {x: i ? w - 40 : pad, y: h - 8, 'font-size': 11, fill: '#333'}); lbl.textContent = time(s[i].t * 1000); g.appendChild(lbl);
    });
    var legend = el('ul', {'class': 'legend'}, [['forwarded', 'forwarded'], ['refused', 'refused'], ['held', 'held'], ['would', 'wouldRefuse']].map(function (l) {
      return el('li', {}, [el('span', {'class': 'swatch ' + l[0], 'aria-hidden': 'true'}), document.createTextNode(T[l[1]])]);
    }));
    var recent = s.slice(-10).reverse().map(function (m) { return [time(m.t * 1000), m.forwarded, m.refused, m.held, m.would_refuse]; });
    var details = el('details', {}, [el('summary', {text: T.plotTable}),
      table(T.plotTable, [T.minute, T.forwarded, T.refused, T.held, T.wouldRefuse], recent, [0, 1, 1, 1, 1])]);
    return [el('h3', {text: T.plot}), g, legend, details];
  }

  function respond(network) {
    var sel = el('select', {'aria-label': T.hours + ' (' + network + ')'}, hours.map(function (hh) {
      return el('option', {value: hh, text: hh + ' ' + T.hoursUnit});
    }));
    var box = el('div', {'class': 'respond'}, [sel]);
    [['throttle', T.throttle], ['harder', T.harder], ['deny', T.deny]].forEach(function (a) {
      var b = el('button', {type: 'button', 'class': a[0], 'data-action': a[0], 'data-network': network}, [
        document.createTextNode(a[1]), el('span', {'class': 'sr', text: ' ' + network})]);
      b.addEventListener('click', function () { act({action: a[0], network: network, hours: parseInt(sel.value, 10)}); });
      box.appendChild(b);
    });
    return box;
  }

  function networkRows(list, isASN) {
    return list.map(function (n) {
      var name = isASN ? 'AS' + n.asn : n.prefix;
      var acts = Object.keys(n.actions).sort().map(function (a) { return a + ' ' + num(n.actions[a]); }).join(', ');
      var diff = n.difficulty ? n.difficulty + (n.extra_bits ? ' (+' + n.extra_bits + ')' : '') : '';
      var budget = n.over_budget ? T.overBudget + n.over_budget + ' (' + time(n.over_budget_at) + ')' : T.withinBudget;
      var org = isASN ? n.org || '' : (n.asn ? 'AS' + n.asn + ' ' + (n.org || '') : '');
      return [name, org, n.class || '', num(n.per_minute), acts, diff, budget, respond(name)];
    });
  }

  function render(data) {
    var frag = document.createDocumentFragment();
    if (!data.sites.length) { frag.appendChild(el('p', {text: T.noSites})); }
    data.sites.forEach(function (site) {
      var sec = el('section', {'aria-labelledby': 'site-' + site.site, 'data-site': site.site});
      sec.appendChild(el('h2', {id: 'site-' + site.site, text: T.site + ' ' + site.site}));
      var p = site.policy;
      sec.appendChild(el('p', {text: T.mode + T.colon + (site.mode === 'observe' ? T.observe : T.enforce)}));
      sec.appendChild(el('p', {text: T.policy + T.colon + p.file + ', ' + T.loaded + ' ' + new Date(p.loaded).toLocaleString(lang)}));
      if (p.error) {
        sec.appendChild(el('p', {'class': 'error', text: T.reloadError + ' ' + p.error}));
      } else {
        sec.appendChild(el('p', {text: T.reloadOK + '.'}));
      }
      plot(site).forEach(function (n) { sec.appendChild(n); });

      sec.appendChild(el('h3', {text: T.top}));
      var head = [T.network, T.org, T.class, T.perMinute, T.actions, T.difficulty, T.budget, T.respond];
      var numeric = [0, 0, 0, 1, 0, 1, 0, 0];
      sec.appendChild(site.asns.length ? table(T.topASNs, head, networkRows(site.asns, true), numeric) : el('p', {text: T.topASNs + T.colon + T.none}));
      sec.appendChild(site.prefixes.length ? table(T.topPrefixes, head, networkRows(site.prefixes, false), numeric) : el('p', {text: T.topPrefixes + T.colon + T.none}));

      sec.appendChild(el('h3', {text: T.temporary}));
      if (p.temporary.length) {
        sec.appendChild(table(T.temporary, [T.rule, T.expires, ''], p.temporary.map(function (r) {
          var b = el('button', {type: 'button', 'data-remove': r.name}, [document.createTextNode(T.remove), el('span', {'class': 'sr', text: ' ' + r.name})]);
          b.addEventListener('click', function () { act({action: 'remove', rule: r.name}); });
          return [r.name, new Date(r.expires).toLocaleString(lang), b];
        })));
      } else {
        sec.appendChild(el('p', {text: T.noTemporary}));
      }

      sec.appendChild(el('h3', {text: T.recent}));
      sec.appendChild(site.recent_refusals.length ? table(T.recent, [T.time, T.action, T.network, T.org, T.rule, T.why],
        site.recent_refusals.map(function (r) {
          return [time(r.time), r.action + (r.observed ? T.observedMark : ''), r.network + (r.asn ? ' AS' + r.asn : ''), r.org || '', r.rule || '', r.budget || r.reason || ''];
        })) : el('p', {text: T.none}));

      sec.appendChild(el('h3', {text: T.decisions}));
      var recent = recentDecisions(site, Date.parse(data.now));
      sec.appendChild(recent.rows.length ? table(T.decisions, [T.action, T.rule, recent.label, T.count], recent.rows.map(function (r) {
        return [r.d.action + (r.d.observed ? T.observedMark : ''), r.d.rule, num(r.recent), num(r.d.count)];
      }), [0, 0, 1, 1]) : el('p', {text: T.none}));
      frag.appendChild(sec);
    });
    // Keep the focus and the chosen durations across a refresh.
    var focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset : null;
    var key = focused && (focused.action ? '[data-action="' + focused.action + '"][data-network="' + focused.network + '"]' : focused.remove ? '[data-remove="' + focused.remove + '"]' : null);
    if (main.contains(document.activeElement) && document.activeElement.tagName === 'SELECT') { return; }
    main.replaceChildren(frag);
    if (key) { var again = main.querySelector(key); if (again) { again.focus(); } }
    document.getElementById('updated').textContent = T.updated + ' ' + new Date(data.now).toLocaleTimeString(lang);
  }

  // The server counts decisions since Caddy started; what staff need in
  // an attack is what happens now. Each poll's counts are kept for five
  // minutes, and a row's recent count is its count less the oldest kept
  // (since the page opened, until it has been open five minutes).
  var RECENT = 5 * 60 * 1000;
  var decisionHistory = {};
  function recentDecisions(site, now) {
    function key(d) { return d.action + '\n' + (d.observed ? 1 : 0) + '\n' + d.rule; }
    var counts = {};
    site.decisions.forEach(function (d) { counts[key(d)] = d.count; });
    var h = decisionHistory[site.site] || (decisionHistory[site.site] = []);
    h.push({t: now, counts: counts});
    while (h.length > 1 && now - h[1].t >= RECENT) { h.shift(); }
    var base = h[0];
    var rows = site.decisions.map(function (d) {
      var before = base.counts[key(d)] || 0;
      // Fewer than before: Caddy restarted, and counts from zero again.
      return {d: d, recent: d.count >= before ? d.count - before : d.count};
    });
    rows.sort(function (a, b) { return b.recent - a.recent; });
    return {rows: rows, label: now - base.t >= RECENT ? T.recent5 : T.recentSince.replace('%s', time(base.t))};
  }

  function refresh() {
    fetch('data', {cache: 'no-store', credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(render).catch(function () {
      document.getElementById('updated').textContent = T.stale;
    });
  }

  function act(body) {
    fetch('act', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json', 'X-Rempart-Token': token}, body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        statusBox.className = res[0] ? 'status' : 'status error';
        statusBox.textContent = res[0] ? (body.action === 'remove' ? T.removed + res[1].removed : T.confirmDone + res[1].name) : T.confirmFailed + res[1].error;
        refresh();
      }).catch(function (e) { statusBox.className = 'status error'; statusBox.textContent = T.confirmFailed + e; });
  }

  refresh();
  setInterval(refresh, 5000);
})();
