// The live page of komachi: the graphs Mackerel will draw from /stats.
//
// It reads stats/graphs?prefix= (one chart per graph definition) and
// stats/history (every /stats leaf over the last windows), draws each chart
// as one SVG built as a string, then polls once per window, just after the
// window's end. Every URL is relative, so the page works below any mount
// point; nothing is fetched from off the machine.
'use strict';

(function () {
  const body = document.body;
  const windowSeconds = Number(body.dataset.windowSeconds) || 60;
  const budget = Number(body.dataset.budget) || 0;
  const byId = (id) => document.getElementById(id);

  // The chart's drawing box, in SVG user units; the SVG scales to its
  // column, so these are about CSS pixels at 1280 px wide.
  const W = 400, H = 170, TOP = 8, BOTTOM = 22, RIGHT = 10;
  const COLORS = 10; // classes s0…s9 in page.css

  // ---- Units, as Mackerel shows them ----

  const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  const BITS = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];

  // scaleFor returns the divisor and suffix that show values up to max
  // (absolute) in unit.
  function scaleFor(unit, max) {
    const steps = (base, names, suffix) => {
      let i = 0;
      while (i < names.length - 1 && max >= Math.pow(base, i + 1)) i++;
      return { div: Math.pow(base, i), suffix: ' ' + names[i] + suffix };
    };
    switch (unit) {
      case 'bytes': return steps(1024, BINARY, '');
      case 'bytes/sec': return steps(1024, BINARY, '/s');
      case 'bits/sec': return steps(1000, BITS, '');
      case 'milliseconds': return max >= 1000 ? { div: 1000, suffix: ' s' } : { div: 1, suffix: ' ms' };
      case 'seconds': return max > 0 && max < 1 ? { div: 0.001, suffix: ' ms' } : { div: 1, suffix: ' s' };
      case 'percentage': return { div: 1, suffix: ' %' };
      case 'iops': return { div: 1, suffix: ' iops' };
      default: return { div: 1, suffix: '' }; // integer, float
    }
  }

  // formatValue shows one value with three significant digits (integers
  // whole), scaled for itself.
  function formatValue(unit, v) {
    if (v === null || v === undefined) return '–';
    const s = scaleFor(unit, Math.abs(v));
    const x = v / s.div;
    return (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(3)))) + s.suffix;
  }

  // niceStep is 1, 2 or 5 times a power of ten, about span/5.
  function niceStep(span, integral) {
    const raw = span / 5;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
    return integral ? Math.max(1, Math.round(step)) : step;
  }

  // yAxis chooses the domain and the tick labels of values from lo to hi.
  function yAxis(unit, lo, hi) {
    lo = Math.min(0, lo);
    if (!(hi > lo)) hi = lo + 1;
    const s = scaleFor(unit, Math.max(Math.abs(lo), Math.abs(hi)));
    // Whole steps where a fraction means nothing: counts, and bytes shown in B.
    const integral = (unit === 'integer' || unit === 'bytes') && s.div === 1;
    const step = niceStep((hi - lo) / s.div, integral);
    const first = Math.floor(lo / s.div / step) * step;
    const last = Math.ceil(hi / s.div / step) * step;
    const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const ticks = [];
    for (let i = 0, t = first; t <= last + step / 2; i++, t = first + i * step) {
      const text = Math.abs(t) < step / 2 ? '0' : t.toFixed(decimals);
      ticks.push({ value: t * s.div, label: text + s.suffix });
    }
    return { lo: first * s.div, hi: last * s.div, ticks: ticks };
  }

  // ---- Time ----

  const pad = (n) => String(n).padStart(2, '0');
  function clock(t, seconds) {
    const d = new Date(t * 1000);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + (seconds ? ':' + pad(d.getSeconds()) : '');
  }

  // xTicks picks tick times at a round interval, about five across.
  const INTERVALS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  function xTicks(t0, t1) {
    const span = t1 - t0;
    const every = INTERVALS.find((i) => span / i <= 5) || 86400;
    const offset = new Date(t0 * 1000).getTimezoneOffset() * 60; // round in local time
    const ticks = [];
    for (let t = Math.ceil((t0 - offset) / every) * every + offset; t <= t1; t += every) ticks.push(t);
    return { ticks: ticks, seconds: every < 60 };
  }

  // ---- Drawing ----

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  const num = (x) => Math.round(x * 10) / 10;

  // lineLabel is the legend label of series path p in graph g.
  function lineLabel(g, p) {
    const seg = p.slice(g.name.length + 1);
    const m = g.metrics.find((m) => m.name === seg) || g.metrics.find((m) => m.name === '*');
    const label = m && m.label ? m.label.replace(/%1/g, seg) : seg;
    return { label: label, stacked: !!(m && m.stacked) };
  }

  // chartModel lays out graph g over the windows times: each line's values,
  // the stacked ones as cumulative sums, and the y domain.
  function chartModel(g, paths, times, series) {
    const n = times.length;
    const base = new Array(n).fill(0);
    let lo = Infinity, hi = -Infinity;
    const lines = paths.map((p, i) => {
      const { label, stacked } = lineLabel(g, p);
      const raw = series[p];
      const drawn = new Array(n);
      for (let k = 0; k < n; k++) {
        const v = raw[k];
        if (v === null || v === undefined) { drawn[k] = null; continue; }
        drawn[k] = stacked ? (base[k] += v) : v;
        if (drawn[k] < lo) lo = drawn[k];
        if (drawn[k] > hi) hi = drawn[k];
        if (stacked && drawn[k] - v < lo) lo = drawn[k] - v;
      }
      return { path: p, label: label, stacked: stacked, raw: raw, drawn: drawn, color: i % COLORS };
    });
    if (lo === Infinity) { lo = 0; hi = 0; }
    return { g: g, lines: lines, y: yAxis(g.unit, lo, hi) };
  }

  // pathData is the SVG path of values over xs: a move at every gap, and a
  // zero-length segment for a lone point, which the round cap makes a dot.
  function pathData(xs, ys) {
    let d = '', run = 0, points = 0;
    for (let k = 0; k < ys.length; k++) {
      if (ys[k] === null) { if (run === 1) d += 'h0'; run = 0; continue; }
      d += (run === 0 ? 'M' : 'L') + num(xs[k]) + ' ' + num(ys[k]);
      run++; points++;
    }
    if (run === 1) d += 'h0';
    return { d: d, points: points };
  }

  // areaData fills a stacked line down to the line below it.
  function areaData(xs, top, bottom) {
    let d = '', run = [];
    const flush = () => {
      if (run.length > 1) {
        d += 'M' + run.map((k) => num(xs[k]) + ' ' + num(top[k])).join('L');
        d += 'L' + run.slice().reverse().map((k) => num(xs[k]) + ' ' + num(bottom[k])).join('L') + 'Z';
      }
      run = [];
    };
    for (let k = 0; k < top.length; k++) {
      if (top[k] === null) flush(); else run.push(k);
    }
    flush();
    return d;
  }

  function chartHTML(m, index, times, prefix) {
    const { g, lines, y } = m;
    const left = 12 + 6.2 * Math.max(...y.ticks.map((t) => t.label.length));
    const t1 = times[times.length - 1];
    const t0 = times.length > 1 ? times[0] : t1 - windowSeconds;
    const sx = (t) => left + (W - left - RIGHT) * (t - t0) / (t1 - t0);
    const sy = (v) => TOP + (H - TOP - BOTTOM) * (y.hi - v) / (y.hi - y.lo);
    m.left = left; m.sx = sx; m.t0 = t0; m.t1 = t1;
    const xs = times.map(sx);

    let grid = '', svg = '';
    for (const t of y.ticks) {
      const py = num(sy(t.value));
      grid += 'M' + num(left) + ' ' + py + 'H' + (W - RIGHT);
      svg += '<text class="tick" x="' + num(left - 6) + '" y="' + py + '">' + esc(t.label) + '</text>';
    }
    const xt = xTicks(t0, t1);
    for (const t of xt.ticks) {
      if (sx(t) < left + 14 || sx(t) > W - 14) continue; // a label cut by the edge
      svg += '<text class="xtick" x="' + num(sx(t)) + '" y="' + (H - 6) + '">' + clock(t, xt.seconds) + '</text>';
    }
    let below = new Array(times.length).fill(0);
    let areas = '', paths = '';
    for (const l of lines) {
      const ys = l.drawn.map((v) => (v === null ? null : sy(v)));
      if (l.stacked) {
        const bottom = below.map(sy);
        areas += '<path class="area s' + l.color + '" d="' + areaData(xs, ys, bottom) + '"/>';
        below = l.drawn.map((v, k) => (v === null ? below[k] : v));
      }
      const p = pathData(xs, ys);
      paths += '<path class="line s' + l.color + '" data-series="' + esc(l.path) + '" data-points="' + p.points + '" d="' + p.d + '"/>';
    }
    const legend = lines.map((l) =>
      '<li><span class="swatch s' + l.color + '"></span>' + esc(l.label) + '</li>').join('');
    const name = 'custom.' + (prefix ? prefix + '.' : '') + g.name;
    return '<section class="chart" data-graph="' + esc(g.name) + '" data-index="' + index + '">' +
      '<h2 title="' + esc(g.label) + '">' + esc(g.label) + '</h2>' +
      '<p class="name">' + esc(name) + ' · ' + esc(g.unit) + (lines.some((l) => l.stacked) ? ' · stacked' : '') + '</p>' +
      '<div class="readout">' + readoutHTML(m, times, times.length - 1) + '</div>' +
      '<svg viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="' + esc(g.label) + '">' +
      '<path class="grid" d="' + grid + '"/>' + svg + areas + paths +
      '<line class="cursor" x1="0" x2="0" y1="' + TOP + '" y2="' + (H - BOTTOM) + '" visibility="hidden"/>' +
      '</svg><ul class="legend">' + legend + '</ul></section>';
  }

  // readoutHTML states each line's value in window k (the raw value, also
  // for stacked lines: Mackerel's tooltip does the same).
  function readoutHTML(m, times, k) {
    return '<time>' + clock(times[k], true) + '</time>' + m.lines.map((l) =>
      ' <span class="value"><span class="swatch s' + l.color + '"></span>' + esc(l.label) + ' ' +
      esc(formatValue(m.g.unit, l.raw[k])) + '</span>').join('');
  }

  // ---- State and rendering ----

  let graphs = null;     // the graph definitions, sorted by name
  let seriesKeys = '';   // the series the definitions were loaded for
  let shown = { times: [], models: [] };

  function setEmpty(text) {
    const el = byId('empty');
    el.textContent = text;
    el.hidden = text === '';
  }
  // Without JavaScript only the <noscript> text shows; with it, this until
  // the first answer.
  setEmpty('Loading the history of /stats…');

  function setError(text) {
    const el = byId('error');
    el.textContent = text;
    el.hidden = text === '';
  }

  function render(history) {
    const started = performance.now();
    const times = history.times || [];
    const series = history.series || {};
    const n = times.length;
    let count = 0;
    for (const p in series) if (n > 0 && series[p][n - 1] != null) count++;
    byId('metric-count').textContent = n > 0 ? String(count) : '–';
    const over = budget > 0 && count > budget;
    byId('cost').classList.toggle('over', over);
    byId('over').hidden = !over;
    const last = byId('last-window');
    if (n > 0) {
      last.textContent = clock(times[n - 1], true);
      last.dateTime = new Date(times[n - 1] * 1000).toISOString();
    }

    const prefix = body.dataset.prefix || '';
    const defs = graphs || [];
    const groups = new Map(defs.map((g) => [g.name, []]));
    for (const p of Object.keys(series).sort()) {
      const lines = groups.get(p.slice(0, p.lastIndexOf('.')));
      if (lines) lines.push(p);
    }
    const models = [];
    let html = '';
    if (n > 0) {
      for (const g of defs) {
        const m = chartModel(g, groups.get(g.name), times, series);
        html += chartHTML(m, models.length, times, prefix);
        models.push(m);
      }
    }
    byId('charts').innerHTML = html;
    shown = { times: times, models: models };
    if (n === 0) {
      setEmpty('There is no window yet: the first document of /stats comes within ' + windowSeconds + ' s.');
    } else if (count === 0) {
      setEmpty('/stats serves nothing: see KOMACHI_STATS_SELECT (or exporter.WithRules), which chooses what it serves.');
    } else if (models.length === 0) {
      setEmpty('/stats serves ' + count + ' metrics, but none in a group: Mackerel draws a graph of the leaves that share a parent.');
    } else {
      setEmpty('');
    }
    // The milliseconds this render took before layout, for whoever measures.
    body.dataset.renderMs = String(Math.round(performance.now() - started));
    body.dataset.windows = String(n);
    body.dataset.charts = String(models.length);
  }

  function renderHeartbeat(hb) {
    const el = byId('heartbeat');
    const status = hb && (hb.status === 'pass' || hb.status === 'fail') ? hb.status : 'unknown';
    el.dataset.status = status;
    el.querySelector('.verdict').textContent = status + (hb && hb.output ? ': ' + hb.output : '');
    const checks = (hb && hb.checks) || {};
    el.querySelector('.vitals').innerHTML = Object.keys(checks).sort().map((name) => {
      const c = checks[name][0] || {};
      const s = c.status === 'pass' ? 'pass' : 'fail';
      return '<li class="vital" data-name="' + esc(name) + '" data-status="' + s + '"' +
        (c.output ? ' title="' + esc(c.output) + '"' : '') + '>' + esc(name) + '</li>';
    }).join('');
  }

  // ---- Fetching ----

  // fetchJSON resolves to {status, json}; json is null when the answer is
  // not JSON (a 503's plain-text reason). A network error rejects.
  async function fetchJSON(url) {
    const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    const type = res.headers.get('Content-Type') || '';
    if (!/json/.test(type)) return { status: res.status, json: null, text: await res.text() };
    return { status: res.status, json: await res.json() };
  }

  async function loadGraphs() {
    const r = await fetchJSON('stats/graphs?prefix=');
    if (r.status === 503) return false;
    if (r.status !== 200 || !r.json) throw new Error('stats/graphs answered ' + r.status);
    graphs = Object.keys(r.json.graphs || {}).sort().map((name) => {
      const g = r.json.graphs[name];
      return { name: name, label: g.label || name, unit: g.unit, metrics: g.metrics || [] };
    });
    return true;
  }

  // When stats/history is off (exporter.WithHistory(0)), the page keeps the
  // windows it has seen itself, read from stats.
  let live = null;
  function flatten(doc, path, out) {
    for (const k of Object.keys(doc)) {
      const v = doc[k];
      if (typeof v === 'number') out[path + k] = v;
      else if (v && typeof v === 'object') flatten(v, path + k + '.', out);
    }
    return out;
  }
  async function liveHistory() {
    const r = await fetchJSON('stats');
    if (r.status !== 200 || !r.json) return { status: r.status, json: null };
    const leaves = flatten(r.json, '', {});
    const now = Math.round(Date.now() / 1000);
    live = live || { times: [], series: {} };
    live.times.push(now);
    for (const p of Object.keys(leaves)) {
      if (!live.series[p]) live.series[p] = new Array(live.times.length - 1).fill(null);
    }
    for (const p of Object.keys(live.series)) live.series[p].push(p in leaves ? leaves[p] : null);
    if (live.times.length > 120) {
      live.times.shift();
      for (const p of Object.keys(live.series)) live.series[p].shift();
    }
    return { status: 200, json: live };
  }

  const LIVE_NOTICE = 'stats/history is off (exporter.WithHistory(0)): the graphs show the windows since this page opened.';
  let lastTime = 0;  // the latest window drawn
  let windowsSoFar = 0; // windows in the last history read
  let retry = 2;     // seconds before the next try when no new window came

  // poll reads the heartbeat and the history, draws what is new, and plans
  // the next poll just after the next window's end.
  async function poll() {
    let next = null;
    fetchJSON('heartbeat?verbose').then((r) => renderHeartbeat(r.json), () => renderHeartbeat(null));
    try {
      let r = live ? await liveHistory() : await fetchJSON('stats/history');
      if (r.status === 404 && !live) r = await liveHistory();
      if (r.status === 503) {
        graphs = graphs || [];
        render({ times: [], series: {} });
      } else if (r.status !== 200 || !r.json) {
        throw new Error('stats/history answered ' + r.status);
      } else {
        const keys = Object.keys(r.json.series || {}).sort().join(' ');
        let changed = false;
        if (graphs === null || keys !== seriesKeys) {
          changed = await loadGraphs();
          if (changed) seriesKeys = keys;
        }
        const times = r.json.times || [];
        windowsSoFar = times.length;
        const t = times.length ? times[times.length - 1] : 0;
        if (graphs !== null && (t !== lastTime || changed)) render(r.json);
        if (graphs !== null && t > lastTime) {
          // Just after the next window's end, and within a window from now
          // whatever the two clocks say.
          const wait = t + windowSeconds + 1 - Date.now() / 1000;
          next = Math.min(Math.max(wait, 1), windowSeconds + 1);
          lastTime = t;
          retry = 2;
        }
      }
      setError('');
      // A first window is a point, not a line yet: say when lines come.
      const first = !live && windowsSoFar === 1 ?
        'One window so far: each chart draws a line from the second window on, about ' + windowSeconds + ' s after the first.' : '';
      const notice = byId('notice');
      notice.textContent = live ? LIVE_NOTICE : first;
      notice.hidden = !notice.textContent;
    } catch (err) {
      setError('Could not read the endpoints of komachi (' + err.message + '); trying again soon.');
    }
    if (next === null) {
      // No new window yet, or an error: try again soon, then less often.
      next = Math.min(retry, windowSeconds);
      retry = Math.min(retry * 2, windowSeconds);
    }
    setTimeout(poll, next * 1000);
  }

  // ---- Hover: the values of the window under the pointer ----

  let hovered = null;

  // showWindow puts window k of a chart in its readout, and the cursor on
  // it while the pointer is over the chart; k null is the latest window.
  function showWindow(section, k) {
    const m = shown.models[Number(section.dataset.index)];
    if (!m) return;
    const times = shown.times;
    const over = section === hovered && k !== null;
    if (k === null) k = times.length - 1;
    const key = (over ? 'over ' : '') + k;
    if (section.dataset.k === key) return;
    section.dataset.k = key;
    section.querySelector('.readout').innerHTML = readoutHTML(m, times, k);
    const cursor = section.querySelector('.cursor');
    if (over) {
      const x = num(m.sx(times[k]));
      cursor.setAttribute('x1', x);
      cursor.setAttribute('x2', x);
    }
    cursor.setAttribute('visibility', over ? 'visible' : 'hidden');
  }

  // nearest is the index of the window closest to time t.
  function nearest(times, t) {
    let lo = 0, hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] < t) lo = mid + 1; else hi = mid;
    }
    return lo > 0 && t - times[lo - 1] < times[lo] - t ? lo - 1 : lo;
  }

  function leave() {
    if (!hovered) return;
    const h = hovered;
    hovered = null;
    showWindow(h, null);
  }

  function onPointerMove(e) {
    const section = e.target.closest ? e.target.closest('section.chart') : null;
    if (section !== hovered) leave();
    if (!section) return;
    const m = shown.models[Number(section.dataset.index)];
    const box = section.querySelector('svg').getBoundingClientRect();
    if (!m || box.width === 0) return;
    hovered = section;
    const x = (e.clientX - box.left) * W / box.width;
    const t = m.t0 + (x - m.left) * (m.t1 - m.t0) / (W - m.left - RIGHT);
    showWindow(section, nearest(shown.times, t));
  }

  function start() {
    const charts = byId('charts');
    charts.addEventListener('pointermove', onPointerMove);
    charts.addEventListener('pointerleave', leave);
    poll();
  }

  start();
})();
