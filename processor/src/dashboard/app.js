// Kappaflow live dashboard: plain browser JavaScript (no build step), uPlot for the chart, served
// by the query API itself, so it works offline. Data: /api/v1/... ; live updates: SSE /stream.
(() => {
  const $ = (id) => document.getElementById(id);
  const RANKABLE = ['count', 'sum', 'min', 'max', 'avg', 'countDistinct', 'percentile'];
  const WINDOWS_SHOWN = 30;
  const state = {
    pipelines: [],
    pipeline: null,
    aggregate: null,
    source: null,
    chart: null,
    timer: null,
    pending: false,
    last: 0,
  };
  const params = new URLSearchParams(location.search);
  if (params.get('token')) localStorage.setItem('kf-token', params.get('token'));
  let token = localStorage.getItem('kf-token') || '';

  const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  const fmt = (v) => {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'number') return Math.abs(v) >= 1e6 ? compact.format(v) : nf.format(v);
    if (Array.isArray(v)) return v.map((e) => `${e.value} (${nf.format(e.count)})`).join(', ') || '—';
    return String(v);
  };
  const time = (ms) =>
    ms === null || ms === undefined ? '—' : new Date(ms).toLocaleTimeString([], { hour12: false });
  const dateTime = (ms) =>
    new Date(ms).toLocaleString([], {
      hour12: false,
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  const ago = (ms) => {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s}s behind now`;
    if (s < 3600) return `${Math.round(s / 60)}m behind now`;
    if (s < 86400) return `${Math.round(s / 3600)}h behind now`;
    return `${Math.round(s / 86400)}d behind now`;
  };
  const duration = (ms) =>
    ms % 3600000 === 0
      ? `${ms / 3600000}h`
      : ms % 60000 === 0
        ? `${ms / 60000}m`
        : ms % 1000 === 0
          ? `${ms / 1000}s`
          : `${ms}ms`;
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };

  async function api(path) {
    const res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (res.status === 401) {
      const entered = prompt('This Kappaflow API needs a bearer token:');
      if (entered) {
        token = entered.trim();
        localStorage.setItem('kf-token', token);
        return api(path);
      }
    }
    const body = await res.json();
    if (!res.ok) throw new Error(body?.error?.message || res.statusText);
    return body;
  }

  function setLive(s, text) {
    $('live').dataset.state = s;
    $('live-text').textContent = text;
  }

  async function start() {
    try {
      const { pipelines } = await api('/api/v1/pipelines');
      state.pipelines = pipelines;
      const select = $('pipeline');
      select.replaceChildren(...pipelines.map((p) => el('option', { value: p.name }, p.name)));
      if (pipelines.length === 0) {
        setLive('error', 'no pipelines registered');
        return;
      }
      const wanted = params.get('pipeline');
      select.value = pipelines.some((p) => p.name === wanted) ? wanted : pipelines[0].name;
      select.onchange = () => choose(select.value);
      $('aggregate').onchange = () => {
        state.aggregate = $('aggregate').value;
        refresh();
      };
      await choose(select.value);
      setInterval(() => refreshStatus().catch(() => {}), 3000);
    } catch (error) {
      setLive('error', error.message);
    }
  }

  async function choose(name) {
    const summary = await api(`/api/v1/pipelines/${encodeURIComponent(name)}`);
    state.pipeline = summary;
    const numeric = summary.aggregates.filter((a) => RANKABLE.includes(a.kind));
    const wanted = params.get('aggregate');
    $('aggregate').replaceChildren(
      ...numeric.map((a) => el('option', { value: a.name }, `${a.name} · ${a.kind}${a.q ? ` ${a.q}` : ''}`)),
    );
    state.aggregate = numeric.some((a) => a.name === wanted) ? wanted : (numeric[0]?.name ?? null);
    if (state.aggregate) $('aggregate').value = state.aggregate;
    renderMeta(summary);
    renderStatus(summary);
    connect(name);
    await refresh();
  }

  function connect(name) {
    state.source?.close();
    const url = `/api/v1/pipelines/${encodeURIComponent(name)}/stream${token ? `?access_token=${encodeURIComponent(token)}` : ''}`;
    const source = new EventSource(url);
    state.source = source;
    source.addEventListener('ready', () => setLive('live', 'live'));
    source.addEventListener('window', () => schedule());
    source.addEventListener('progress', (e) => {
      const data = JSON.parse(e.data);
      if (state.pipeline) {
        state.pipeline.watermark = data.watermark;
        renderWatermark(data.watermark);
      }
      schedule();
    });
    source.onerror = () => setLive('connecting', 'reconnecting…');
  }

  // Updates arrive per commit: redraw at most every 400 ms.
  function schedule() {
    if (state.pending) return;
    state.pending = true;
    const wait = Math.max(0, 400 - (Date.now() - state.last));
    setTimeout(() => {
      state.pending = false;
      refresh();
    }, wait);
  }

  async function refresh() {
    const p = state.pipeline;
    if (!p) return;
    state.last = Date.now();
    const name = encodeURIComponent(p.name);
    try {
      const [summary, windows, top] = await Promise.all([
        api(`/api/v1/pipelines/${name}`),
        api(`/api/v1/pipelines/${name}/windows?rollup=true&order=desc&limit=${WINDOWS_SHOWN}`),
        state.aggregate
          ? api(`/api/v1/pipelines/${name}/top?aggregate=${encodeURIComponent(state.aggregate)}&limit=10`)
          : null,
      ]);
      if (state.pipeline?.name !== summary.name) return;
      state.pipeline = summary;
      renderStatus(summary);
      renderWindows(summary, windows.windows);
      renderTop(summary, top);
      $('updated').textContent = `updated ${time(Date.now())}`;
    } catch (error) {
      setLive('error', error.message);
    }
  }

  async function refreshStatus() {
    if (!state.pipeline) return;
    renderStatus(await api(`/api/v1/pipelines/${encodeURIComponent(state.pipeline.name)}`));
  }

  function renderMeta(p) {
    const w = p.window;
    const shape =
      w.type === 'hopping'
        ? `hopping ${duration(w.sizeMs)} every ${duration(w.advanceMs)}`
        : w.type === 'session'
          ? `session gap ${duration(w.gapMs)}`
          : `tumbling ${duration(w.sizeMs)}`;
    const item = (k, v) => el('span', {}, `${k} `, el('b', {}, v));
    $('meta').replaceChildren(
      item('version', `v${p.activeVersion}`),
      item('topics', p.topics.join(', ')),
      item('window', `${shape}, grace ${duration(w.graceMs)}`),
      item('group by', p.groupBy.join(', ') || '—'),
      item('aggregates', p.aggregates.map((a) => a.name).join(', ')),
    );
  }

  function renderWatermark(wm) {
    $('stat-watermark').textContent = time(wm);
    $('stat-watermark-age').textContent = wm === null ? 'no events yet' : ago(wm);
  }

  function renderStatus(p) {
    $('stat-records').textContent = fmt(p.records);
    $('stat-rate').textContent =
      p.replicas > 0 ? `${fmt(Math.round(p.recordsPerSecond))} rec/s` : 'no live replica';
    renderWatermark(p.watermark);
    $('stat-lag').textContent = fmt(p.lag);
    $('stat-replicas').textContent = String(p.replicas);
    const committed = p.partitions.filter((x) => x.committed).length;
    $('stat-partitions').textContent = `${committed}/${p.partitions.length} partitions committed`;
    $('stat-late').textContent = fmt(p.late);
    $('stat-dead').textContent = fmt(p.deadLettered);
    renderReplay(p);
  }

  /** Kappa reprocessing: a newer version replaying the log beside the active one, and how far it is. */
  function renderReplay(p) {
    const replay = (p.versions ?? []).find((v) => v.role === 'replaying');
    const line = $('replay');
    line.hidden = !replay;
    if (!replay) return;
    const share = p.records > 0 ? Math.min(100, Math.floor((replay.records / p.records) * 100)) : 0;
    line.textContent =
      `version ${replay.version} is replaying the log beside v${p.activeVersion}: ` +
      `${fmt(replay.records)} records (${share}% of v${p.activeVersion}'s), watermark ${time(replay.watermark)}`;
  }

  function renderWindows(p, windows) {
    const agg = state.aggregate;
    const shown = p.aggregates.filter((a) => a.kind !== 'topK');
    $('windows-head').replaceChildren(
      el('th', {}, 'Window'),
      el('th', {}, 'State'),
      el('th', { class: 'num' }, 'Groups'),
      ...shown.map((a) => el('th', { class: 'num' }, a.name)),
    );
    $('windows-body').replaceChildren(
      ...windows
        .slice(0, 12)
        .map((w) =>
          el(
            'tr',
            {},
            el('td', {}, `${dateTime(w.start)} – ${time(w.end)}`),
            el(
              'td',
              {},
              el('span', { class: `badge${w.final ? ' final' : ''}` }, w.final ? 'final' : 'open'),
            ),
            el('td', { class: 'num' }, fmt(w.groupCount)),
            ...shown.map((a) => el('td', { class: 'num' }, fmt(w.groups[0]?.values[a.name]))),
          ),
        ),
    );
    const latest = windows[0];
    $('current-value').textContent = latest && agg ? fmt(latest.groups[0]?.values[agg]) : '—';
    const badge = $('current-badge');
    badge.textContent = latest ? (latest.final ? 'final' : 'open') : '—';
    badge.className = `badge${latest?.final ? ' final' : ''}`;
    $('chart-title').textContent = agg ? `${agg} per window (all groups)` : 'Recent windows';
    drawChart([...windows].reverse(), agg);
  }

  function drawChart(windows, agg) {
    const xs = windows.map((w) => w.start / 1000);
    const finals = windows.map((w) => (w.final ? num(w.groups[0]?.values[agg]) : null));
    const opens = windows.map((w, i) => {
      if (!w.final) return num(w.groups[0]?.values[agg]);
      // join the open segment to the last final point
      return windows[i + 1] && !windows[i + 1].final ? num(w.groups[0]?.values[agg]) : null;
    });
    const data = [xs, finals, opens];
    const box = $('chart');
    const width = box.clientWidth || 700;
    const css = getComputedStyle(document.documentElement);
    const accent = css.getPropertyValue('--accent').trim() || '#2f6fed';
    const muted = css.getPropertyValue('--muted').trim() || '#888';
    const line = css.getPropertyValue('--line').trim() || '#ddd';
    if (!state.chart || state.chart.__agg !== agg || state.chart.__width !== width) {
      state.chart?.destroy();
      const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
      state.chart = new uPlot(
        {
          width,
          height: 300,
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [axis, { ...axis, values: (_u, ticks) => ticks.map((t) => compact.format(t)), size: 60 }],
          series: [
            { value: (_u, v) => (v === null ? '—' : dateTime(v * 1000)) },
            {
              label: `${agg} (final)`,
              stroke: accent,
              width: 2,
              fill: `${accent}22`,
              points: { show: true, size: 5 },
              value: (_u, v) => fmt(v),
            },
            {
              label: 'open',
              stroke: accent,
              width: 2,
              dash: [6, 4],
              points: { show: true, size: 6, fill: accent },
              value: (_u, v) => fmt(v),
            },
          ],
        },
        data,
        box,
      );
      state.chart.__agg = agg;
      state.chart.__width = width;
    } else {
      state.chart.setData(data);
    }
  }

  function num(v) {
    return typeof v === 'number' ? v : null;
  }

  function renderTop(p, top) {
    if (!top?.window) {
      $('top-window').textContent = '—';
      $('top-body').replaceChildren(el('tr', {}, el('td', { class: 'muted' }, 'no data yet')));
      return;
    }
    $('top-window').textContent =
      `${dateTime(top.window.start)} · ${top.window.final ? 'final' : 'open'} · ${fmt(top.groupCount)} groups`;
    const others = p.aggregates
      .filter((a) => RANKABLE.includes(a.kind) && a.name !== top.aggregate)
      .slice(0, 2);
    $('top-head').replaceChildren(
      el('th', {}, '#'),
      el('th', {}, p.groupBy.join(' · ') || 'group'),
      el('th', { class: 'num' }, top.aggregate),
      ...others.map((a) => el('th', { class: 'num' }, a.name)),
    );
    const max = Math.max(...top.groups.map((g) => Math.abs(g.value)), 1e-9);
    $('top-body').replaceChildren(
      ...top.groups.map((g) => {
        const bar = el('td', { class: 'num barcell' });
        const fill = el('div', { class: 'fill' });
        fill.style.width = `${(Math.abs(g.value) / max) * 100}%`;
        bar.append(fill, el('span', {}, fmt(g.value)));
        return el(
          'tr',
          {},
          el('td', { class: 'rank' }, String(g.rank)),
          el(
            'td',
            {},
            Object.values(g.group)
              .map((v) => (v === null ? '∅' : String(v)))
              .join(' · ') || 'all',
          ),
          bar,
          ...others.map((a) => el('td', { class: 'num' }, fmt(g.values[a.name]))),
        );
      }),
    );
  }

  window.addEventListener('resize', () => state.chart && refresh());
  start();
})();
