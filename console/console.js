/* console.js - the operator console: reads /api/..., draws with Debian's
 * chart.js (served at /js/chart.min.js), sends changes as JSON with the
 * bearer token. No build step, nothing from outside this server. */
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const charts = {};
  let token = sessionStorage.getItem('ota-token') || '';
  let project = sessionStorage.getItem('ota-project') || '';

  function say(text, bad) {
    const s = $('status');
    s.textContent = text;
    s.className = bad ? 'bad' : '';
  }

  async function api(path, body) {
    const headers = { 'Accept': 'application/json' };
    if (token) headers['Authorization'] = 'Bearer ' + token;
    const init = { headers: headers, cache: 'no-store' };
    if (project) path += (path.includes('?') ? '&' : '?') + 'project=' + encodeURIComponent(project);
    if (body !== undefined) {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (r.status === 401) {
      $('login').hidden = false;
      $('token').focus();
      throw new Error('token required');
    }
    const j = await r.json().catch(() => ({ error: 'HTTP ' + r.status }));
    if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
    return j;
  }

  function text(el, s) { el.textContent = s; return el; }
  function add(parent, tag, s) { const e = document.createElement(tag); if (s !== undefined) text(e, s); parent.appendChild(e); return e; }
  function when(unix) { return unix ? new Date(unix * 1000).toISOString().replace('T', ' ').slice(0, 16) : '-'; }
  function size(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B'; }

  function chart(id, config) {
    if (!window.Chart) return;
    if (charts[id]) { charts[id].data = config.data; charts[id].update(); return; }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    charts[id] = new window.Chart($(id), config);
  }

  async function loadFleet() {
    const f = await api('/api/fleet');
    text($('project'), f.project);
    const target = f.target ? f.target.core + ' / ' + f.target.script : 'none loaded';
    text($('fleet-summary'), 'Target ' + target + ': ' + f.checks_on_target + ' of ' + f.checks_total +
      ' checks (census) on it; reports read: ' + f.reports.counted + (f.census_error ? ' (census: ' + f.census_error + ')' : ''));
    chart('chart-pairs', {
      type: 'bar',
      data: {
        labels: f.pairs.map((p) => p.core + ' / ' + p.script),
        datasets: [{ label: 'checks (census)', data: f.pairs.map((p) => p.count),
          backgroundColor: f.pairs.map((p) => p.on_target ? '#2e7d32' : '#1f5f8b') }]
      },
      options: { indexAxis: 'y' }
    });
    const days = Array.from(new Set(f.days.map((d) => d.day).concat(f.offered.map((d) => d.day)))).sort();
    const by = (arr, key) => days.map((d) => { const e = arr.find((x) => x.day === d); return e ? e[key] : 0; });
    chart('chart-days', {
      type: 'line',
      data: {
        labels: days,
        datasets: [
          { label: 'offered (downloads started)', data: by(f.offered, 'downloads_started'), borderColor: '#1f5f8b' },
          { label: 'updated', data: by(f.days, 'updated'), borderColor: '#2e7d32' },
          { label: 'failed', data: by(f.days, 'failed'), borderColor: '#a1261c' }
        ]
      }
    });
  }

  async function loadReleases() {
    const r = await api('/api/releases');
    const body = $('packages').tBodies[0];
    body.replaceChildren();
    for (const p of r.packages) {
      const tr = add(body, 'tr');
      add(tr, 'td', p.name);
      if (!p.ok) { add(tr, 'td', 'rejected (bad header or signature)').colSpan = 7; continue; }
      add(tr, 'td', p.from + ' → ' + p.to);
      add(tr, 'td', p.script);
      add(tr, 'td', p.kind);
      add(tr, 'td', size(p.size));
      add(tr, 'td', (p.share * 100).toFixed(1) + ' %');
      add(tr, 'td', p.key_id);
      add(tr, 'td', when(p.published));
    }
    const ul = $('drops');
    ul.replaceChildren();
    if (!r.refused_drops.length) add(ul, 'li', 'none');
    for (const d of r.refused_drops) add(ul, 'li', when(d.time) + ' ' + d.name + ': ' + d.reason.trim());
  }

  let writes = false;
  async function loadRollout() {
    const r = await api('/api/rollout');
    const sel = $('project-select');
    if (sel.options.length !== r.projects.length) {
      sel.replaceChildren();
      for (const name of r.projects) { const o = add(sel, 'option', name); o.value = name; }
    }
    sel.value = r.project;
    const f = r.in_force;
    writes = r.writes;
    text($('rollout-state'), (f.percent === 'none' ? 'No staged rollout (everyone)' : 'Rollout ' + f.percent + ' %') +
      (f.paused ? ', PAUSED: no new offers' : ', running') + (writes ? '' : ' (read only: no token file or no token)'));
    for (const id of ['rollout-apply', 'rollout-pause', 'rollout-resume', 'allow-add', 'allow-remove']) $(id).disabled = !writes;
    if (document.activeElement !== $('percent')) $('percent').value = f.percent === 'none' ? '' : f.percent;
    text($('allow-state'), r.allowlist.set ? r.allowlist.count + ' IMEIs in ' + r.allowlist.path : 'No allowlist configured ([fleet] allowlist)');
    if (r.allowlist.set) {
      const a = await api('/api/allowlist');
      const ul = $('allow-list');
      ul.replaceChildren();
      for (const i of a.imeis) add(ul, 'li', i);
    }
    const au = await api('/api/audit');
    const ul = $('audit');
    ul.replaceChildren();
    for (const line of au.lines.slice(-20).reverse()) {
      let e; try { e = JSON.parse(line); } catch (x) { e = null; }
      add(ul, 'li', e ? e.time + ' ' + e.token + ' ' + e.action + ' ' + JSON.stringify(e.after || { added: e.added, removed: e.removed }) : line);
    }
  }

  async function change(path, body, what) {
    try {
      await api(path, body);
      say(what + ': saved, applies within a second');
      setTimeout(refresh, 1500);
    } catch (e) { say(what + ': ' + e.message, true); }
  }

  function imeis() { return $('allow-text').value.split(/[^0-9]+/).filter((s) => s.length > 0); }

  async function lookup(ev) {
    ev.preventDefault();
    const out = $('device-out');
    out.replaceChildren();
    try {
      const d = await api('/api/device?imei=' + encodeURIComponent($('imei').value));
      const rows = [['verdict', d.verdict + ' (' + d.why + ')'], ['bucket', d.bucket_percent + ' %'],
        ['allowlisted', d.allowlist.set ? (d.allowlist.listed ? 'yes' : 'no') : 'no allowlist'],
        ['last check', d.last_check ? d.last_check.time + ' ' + d.last_check.core + ' / ' + d.last_check.script + ' → ' + d.last_check.answer : 'not seen since start'],
        ['last report', d.last_report ? d.last_report.time + ' ' + d.last_report.from_core + ' → ' + d.last_report.to_core + ' result ' + d.last_report.result : 'none']];
      for (const [k, v] of rows) { add(out, 'dt', k); add(out, 'dd', v); }
    } catch (e) { say('lookup: ' + e.message, true); }
  }

  async function loadLive() {
    const l = await api('/api/live');
    const out = $('live-out');
    out.replaceChildren();
    const rows = [['transfers running', l.transfers_running], ['block answers/s', l.block_answers_per_s],
      ['busy answers (5.03)', l.busy_answers + ' (' + l.busy_answers_per_s + '/s)'], ['held back (27)', l.held_back],
      ['downloads started / completed', l.transfers_started + ' / ' + l.transfers_completed],
      ['reports ok / failed', l.reports_success + ' / ' + l.reports_failure], ['packages', l.packages]];
    for (const [k, v] of rows) { add(out, 'dt', k); add(out, 'dd', String(v)); }
  }

  async function refresh() {
    try {
      const h = await (await fetch('/api/hello', { headers: token ? { 'Authorization': 'Bearer ' + token } : {}, cache: 'no-store' })).json();
      if (h.token_required && !h.token_ok) {
        $('login').hidden = false;
        $('token').focus();
        say(token ? 'token refused' : 'sign in with an admin token', !!token);
        return;
      }
      await Promise.all([loadFleet(), loadReleases(), loadRollout(), loadLive()]);
      $('login').hidden = true;
      document.body.dataset.loaded = String(Date.now());
    } catch (e) { say(e.message, true); }
  }

  function wire() {
    $('login').addEventListener('submit', (ev) => {
      ev.preventDefault();
      token = $('token').value;
      sessionStorage.setItem('ota-token', token);
      say('');
      refresh();
    });
    $('rollout-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      change('/api/rollout', { percent: Number($('percent').value) }, 'rollout');
    });
    $('rollout-pause').addEventListener('click', () => change('/api/rollout', { paused: true }, 'pause'));
    $('rollout-resume').addEventListener('click', () => change('/api/rollout', { paused: false }, 'resume'));
    $('allow-form').addEventListener('submit', (ev) => { ev.preventDefault(); change('/api/allowlist', { add: imeis() }, 'allowlist add'); });
    $('allow-remove').addEventListener('click', () => change('/api/allowlist', { remove: imeis() }, 'allowlist remove'));
    $('device-form').addEventListener('submit', lookup);
    $('project-select').addEventListener('change', (ev) => {
      project = ev.target.value;
      sessionStorage.setItem('ota-project', project);
      refresh();
    });
    refresh();
    setInterval(() => loadLive().catch(() => {}), 2000);
  }
  document.addEventListener('DOMContentLoaded', wire);
})();
