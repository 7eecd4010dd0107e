// The Salesforce emulator's console. Plain JavaScript, no build step, nothing loaded from elsewhere.
// Every piece of data reaches the page through textContent (the helper `el`), never as HTML.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const data = { state: null, requests: [], events: [], records: {} };
let page = null;

// ---- DOM helpers ---------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

function badge(text, kind) {
  return el('span', { class: 'badge b-' + kind }, text);
}

function statusBadge(status) {
  if (status === 0) return badge('dropped', 'bad');
  if (status >= 500) return badge(status, 'bad');
  if (status === 429) return badge(status, 'warn');
  if (status >= 400) return badge(status, 'warn');
  return badge(status, 'ok');
}

function json(value) {
  return el('pre', {}, JSON.stringify(value, null, 2));
}

function kv(pairs) {
  const dl = el('dl', { class: 'kv' });
  for (const [key, value] of pairs) {
    if (value === undefined || value === null || value === '') continue;
    append(dl, [el('dt', {}, key), el('dd', {}, value)]);
  }
  return dl;
}

function empty(text) {
  return el('div', { class: 'empty' }, text);
}

// ---- formatting ----------------------------------------------------------------------------------

function clock(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function dateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return d.toLocaleDateString() + ' ' + d.toLocaleTimeString([], { hour12: false });
}

function offset(ms, start) {
  if (typeof ms !== 'number' || typeof start !== 'number') return '';
  const secs = Math.max(0, Math.round((ms - start) / 1000));
  return Math.floor(secs / 60) + ':' + String(secs % 60).padStart(2, '0');
}

function plural(n, word) {
  return n + ' ' + word + (n === 1 ? '' : 's');
}

function latency(ms) {
  if (typeof ms !== 'number') return '';
  return ms < 1 ? '<1 ms' : ms.toFixed(ms < 10 ? 1 : 0) + ' ms';
}

function parseTime(text) {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

// ---- data ----------------------------------------------------------------------------------------

async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  if (!response.ok) throw new Error(path + ' answered ' + response.status);
  return response.json();
}

async function refresh() {
  const [state, requests, events] = await Promise.all([
    getJson('/__emulator/state'),
    getJson('/__emulator/requests'),
    getJson('/__emulator/platform-events'),
  ]);
  const records = {};
  const names = Object.entries(state.records || {}).filter(([name, n]) => n > 0 && name !== 'VoiceCall').map(([name]) => name);
  await Promise.all(names.map(async (name) => { records[name] = await getJson('/__emulator/records/' + encodeURIComponent(name)); }));
  Object.assign(data, { state, requests, events, records });
}

function calls() {
  return (data.state && data.state.voiceCalls) || [];
}

function findCall(idOrKey) {
  const all = calls();
  return all.find((c) => c.id === idOrKey) || [...all].reverse().find((c) => c.vendorCallKey === idOrKey);
}

// The call a request is about: the path segment after /voiceCalls/, else the body's vendorCallKey(s).
function requestContacts(r) {
  const keys = new Set();
  const m = /\/voiceCalls\/([^/]+)/.exec(r.path);
  if (m && m[1] !== 'messages') keys.add(decodeURIComponent(m[1]));
  const body = r.body && typeof r.body === 'object' ? r.body : null;
  if (body && typeof body.vendorCallKey === 'string') keys.add(body.vendorCallKey);
  if (body && Array.isArray(body.entries)) for (const e of body.entries) if (e && e.vendorCallKey) keys.add(e.vendorCallKey);
  return [...keys];
}

function requestTouches(r, call) {
  const keys = requestContacts(r);
  if (keys.includes(call.id) || keys.includes(call.vendorCallKey)) return true;
  if (r.path.includes('/connect/conversation')) {
    const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body || '');
    return text.includes(call.vendorCallKey) || text.includes(call.id);
  }
  return false;
}

// The endpoint a request hit, with its call id replaced: "PATCH /telephony/v1/voiceCalls/{id}/omniFlow".
function endpointOf(r) {
  const path = r.path
    .replace(/\/voiceCalls\/(?!messages(\/|$))[^/]+/, '/voiceCalls/{id}')
    .replace(/\/sobjects\/([^/]+)\/[^/]+$/, '/sobjects/$1/{id}')
    .replace(/\/v\d+\.\d+\//, '/vNN.N/');
  return r.method + ' ' + path;
}

function callStatus(call) {
  if (call.isActiveCall) return badge('active', 'ok');
  if (call.callDisposition === 'completed') return badge('completed', 'muted');
  return badge(call.callDisposition || 'new', 'info');
}

function answerText(answer) {
  if (!answer || typeof answer !== 'object' || Array.isArray(answer)) return '';
  return Object.entries(answer).filter(([, v]) => !(Array.isArray(v) && !v.length)).map(([k, v]) => k + ' ' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ');
}

function routingSummary(call) {
  const r = call.routing || {};
  const psr = r.pendingServiceRouting;
  const parts = [];
  const executed = data.requests.filter((q) => q.status === 200 && /\/omniFlow\/?$/.test(q.path) && requestTouches(q, call));
  const last = executed[executed.length - 1];
  if (psr) parts.push((psr.flowDevName || 'flow') + (answerText(psr.answer) ? ' → ' + answerText(psr.answer) : ''));
  else if (last) parts.push(((last.body && last.body.flowDevName) || 'flow') + (answerText(last.response) ? ' → ' + answerText(last.response) : ''));
  else if (r.executeCount) parts.push('flow executed ×' + r.executeCount);
  if (r.clearCount) parts.push('cleared ×' + r.clearCount);
  if (r.rerouteCount) parts.push('rerouted ×' + r.rerouteCount);
  return parts.join(' · ');
}

function lastUpdate(call) {
  const updates = data.requests.filter((r) => r.method === 'PATCH' && /\/voiceCalls\/[^/]+$/.test(r.path) && r.status === 200 && requestTouches(r, call));
  return updates.length ? updates[updates.length - 1].atMs : null;
}

// ---- pages ---------------------------------------------------------------------------------------

const pages = {
  calls: {
    search: '',
    mount(main) {
      const input = el('input', { type: 'search', id: 'call-search', placeholder: 'Search vendor key, id, number, status…', value: this.search });
      input.addEventListener('input', () => { this.search = input.value; this.update(); });
      this.body = el('div', { id: 'calls' });
      append(main, [
        el('h1', {}, 'Calls'),
        el('div', { class: 'subtitle' }, 'Every VoiceCall the org holds, newest first.'),
        el('div', { class: 'toolbar' }, input, el('span', { id: 'calls-count', class: 'count' })),
        el('div', { class: 'panel' }, this.body),
      ]);
    },
    update() {
      const needle = this.search.trim().toLowerCase();
      const rows = [...calls()].reverse().filter((c) => {
        if (!needle) return true;
        const hay = [c.id, c.vendorCallKey, c.from, c.to, c.initiationMethod, c.callSubtype, c.callOrigin, c.callDisposition, c.isActiveCall ? 'active' : '', c.parentVoiceCallId]
          .filter(Boolean).join(' ').toLowerCase();
        return hay.includes(needle);
      });
      clear(document.getElementById('calls-count') || el('span')).textContent = rows.length + ' of ' + calls().length;
      clear(this.body);
      if (!rows.length) { this.body.appendChild(empty(calls().length ? 'No call matches.' : 'No call yet: run a function or the demo.')); return; }
      const children = (call) => calls().filter((c) => c.parentVoiceCallId && (c.parentVoiceCallId === call.id || c.parentVoiceCallId === call.vendorCallKey));
      const table = el('table', { id: 'calls-table' },
        el('thead', {}, el('tr', {}, ['Started', 'Vendor call key', 'Record id', 'From → To', 'Initiation', 'Subtype', 'Status', 'Routing', 'Links', 'CTR sync'].map((h) => el('th', {}, h)))),
        el('tbody', {}, rows.map((c) => {
          const parent = c.parentVoiceCallId ? findCall(c.parentVoiceCallId) : null;
          const kids = children(c);
          const synced = lastUpdate(c);
          const fieldCount = Object.keys(c.fields || {}).length;
          const row = el('tr', { class: 'clickable', 'data-call-id': c.id, 'data-vendor-key': c.vendorCallKey },
            el('td', { class: 'mono' }, c.startTimeMs ? dateTime(c.startTimeMs) : (c.startTime || '')),
            el('td', {}, el('a', { href: '#/call/' + encodeURIComponent(c.id), class: 'vendor-key' }, c.vendorCallKey)),
            el('td', { class: 'mono' }, c.id),
            el('td', { class: 'mono' }, (c.from || '—') + ' → ' + (c.to || '—')),
            el('td', {}, c.initiationMethod || (c.callOrigin ? c.callOrigin : '')),
            el('td', {}, c.callSubtype || ''),
            el('td', {}, callStatus(c)),
            el('td', {}, routingSummary(c)),
            el('td', {},
              parent ? el('div', {}, 'parent ', el('a', { href: '#/call/' + encodeURIComponent(parent.id) }, parent.vendorCallKey)) : (c.parentVoiceCallId ? 'parent ' + c.parentVoiceCallId : null),
              kids.map((k) => el('div', {}, 'transfer ', el('a', { href: '#/call/' + encodeURIComponent(k.id) }, k.vendorCallKey)))),
            el('td', {}, c.updateCount ? fieldCount + ' fields, ' + c.updateCount + ' update' + (c.updateCount > 1 ? 's' : '') : '—',
              synced ? el('div', { class: 'muted' }, clock(synced)) : null),
          );
          row.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.hash = '#/call/' + encodeURIComponent(c.id); });
          return row;
        })));
      this.body.appendChild(table);
    },
  },

  call: {
    mount(main, id) {
      this.id = id;
      this.main = main;
    },
    update() {
      const main = clear(this.main);
      const call = findCall(this.id);
      if (!call) { append(main, [el('h1', {}, 'Call ' + this.id), empty('No such call (the emulator may have been reset).')]); return; }
      const start = call.startTimeMs || (call.messages[0] && call.messages[0].startTime) || null;
      append(main, [
        el('div', { class: 'subtitle' }, el('a', { href: '#/calls' }, '← Calls')),
        el('h1', { id: 'call-title' }, call.vendorCallKey, ' ', callStatus(call)),
        el('div', { class: 'subtitle mono' }, call.id + ' · ' + (call.from || '—') + ' → ' + (call.to || '—') + ' · ' + [call.initiationMethod, call.callSubtype, call.callOrigin].filter(Boolean).join(' · ')),
      ]);
      const left = el('div');
      const right = el('div');
      main.appendChild(el('div', { class: 'grid' }, left, right));

      if (call.callOrigin === 'Voicemail') left.appendChild(voicemailPanel(call));
      left.appendChild(transcriptPanel(call, start));
      right.appendChild(sentimentPanel(call, start));
      right.appendChild(routingPanel(call));
      right.appendChild(detailsPanel(call));
      main.appendChild(timelinePanel(call));
    },
  },

  requests: {
    filters: { endpoint: '', status: '', contact: '' },
    mount(main) {
      this.body = el('div', { id: 'requests' });
      this.faults = el('div', { id: 'faults' });
      this.endpointSelect = el('select', { id: 'filter-endpoint' });
      this.endpointSelect.addEventListener('change', () => { this.filters.endpoint = this.endpointSelect.value; this.update(); });
      const status = el('select', { id: 'filter-status' },
        [['', 'any'], ['2xx', '2xx'], ['4xx', '4xx'], ['429', '429'], ['5xx', '5xx'], ['dropped', 'dropped'], ['faulted', 'injected faults']].map(([v, t]) => el('option', { value: v }, t)));
      status.value = this.filters.status;
      status.addEventListener('change', () => { this.filters.status = status.value; this.update(); });
      const contact = el('input', { type: 'search', id: 'filter-contact', placeholder: 'contact / vendor call key', value: this.filters.contact });
      contact.addEventListener('input', () => { this.filters.contact = contact.value; this.update(); });
      append(main, [
        el('h1', {}, 'Requests'),
        el('div', { class: 'subtitle' }, 'Every API request the emulator answered (control requests excluded), newest first. Tokens are never kept: only their decoded claims.'),
        el('div', { class: 'panel' }, el('h2', {}, 'Faults'), this.faults, faultForm()),
        el('div', { class: 'toolbar' },
          el('label', {}, 'Endpoint', this.endpointSelect),
          el('label', {}, 'Status', status),
          el('label', {}, 'Contact', contact),
          el('span', { id: 'requests-count', class: 'count' })),
        el('div', { class: 'panel' }, this.body),
      ]);
    },
    update() {
      const endpoints = [...new Set(data.requests.map(endpointOf))].sort();
      clear(this.endpointSelect);
      append(this.endpointSelect, [el('option', { value: '' }, 'any'), endpoints.map((e) => el('option', { value: e }, e))]);
      this.endpointSelect.value = endpoints.includes(this.filters.endpoint) ? this.filters.endpoint : '';

      const pending = (data.state && data.state.pendingFaults) || { faults: [], bulkEntryFaults: [] };
      clear(this.faults);
      if (!pending.faults.length && !pending.bulkEntryFaults.length) this.faults.appendChild(empty('No fault injected.'));
      else {
        this.faults.appendChild(el('table', { id: 'faults-table' },
          el('thead', {}, el('tr', {}, ['Next', 'Method', 'Path contains', 'Answer', 'Retry-After', 'Delay'].map((h) => el('th', {}, h)))),
          el('tbody', {},
            pending.faults.map((f) => el('tr', {},
              el('td', {}, f.count + ' request' + (f.count > 1 ? 's' : '')),
              el('td', {}, f.method || 'any'),
              el('td', { class: 'mono' }, f.pathContains || 'any'),
              el('td', {}, f.dropConnection ? badge('drop connection', 'bad') : f.status ? statusBadge(f.status) : 'handled normally'),
              el('td', {}, f.retryAfterSecs != null ? f.retryAfterSecs + ' s' : ''),
              el('td', {}, f.delayMs ? f.delayMs + ' ms' : ''))),
            pending.bulkEntryFaults.map((f) => el('tr', {},
              el('td', {}, f.count + ' bulk entr' + (f.count > 1 ? 'ies' : 'y')), el('td', {}, 'POST'),
              el('td', { class: 'mono' }, 'entries of ' + f.vendorCallKey), el('td', {}, statusBadge(f.status)), el('td', {}), el('td', {}))))));
        this.faults.appendChild(el('button', { class: 'secondary', id: 'clear-faults', type: 'button', onclick: async () => { await fetch('/__emulator/faults', { method: 'DELETE' }); await tick(); } }, 'Clear faults'));
      }

      const { endpoint, status, contact } = this.filters;
      const needle = contact.trim().toLowerCase();
      const rows = [...data.requests].reverse().filter((r) => {
        if (endpoint && endpointOf(r) !== endpoint) return false;
        if (status === '2xx' && !(r.status >= 200 && r.status < 300)) return false;
        if (status === '4xx' && !(r.status >= 400 && r.status < 500)) return false;
        if (status === '429' && r.status !== 429) return false;
        if (status === '5xx' && !(r.status >= 500)) return false;
        if (status === 'dropped' && r.status !== 0) return false;
        if (status === 'faulted' && !r.faulted) return false;
        if (needle && !requestContacts(r).some((k) => k.toLowerCase().includes(needle))) return false;
        return true;
      });
      document.getElementById('requests-count').textContent = rows.length + ' of ' + data.requests.length;
      clear(this.body);
      if (!rows.length) { this.body.appendChild(empty('No request matches.')); return; }
      this.body.appendChild(requestTable(rows, 'requests-table', true));
    },
  },

  org: {
    mount(main) { this.main = main; },
    update() {
      const main = clear(this.main);
      const state = data.state || {};
      append(main, [
        el('h1', {}, 'Org'),
        el('div', { class: 'subtitle' }, 'What the flows left in the org: platform events, REST records, conversation uploads.'),
      ]);
      const info = el('div', { class: 'panel' }, el('h2', {}, 'Org'), kv([
        ['Org id', state.orgId], ['Call center', state.callCenterApiName], ['Telephony API keys', String(state.scrtPublicKeys ?? '')],
        ['Connected app', state.rest ? state.rest.consumerKey + ' (' + state.rest.connectedAppPublicKeys + ' certificate' + (state.rest.connectedAppPublicKeys === 1 ? '' : 's') + ')' : ''],
        ['Access tokens issued', state.rest ? String(state.rest.issuedTokens) : ''],
      ]));

      const events = el('div', { class: 'panel', id: 'platform-events' }, el('h2', {}, 'Platform events ', el('span', { class: 'count' }, String(data.events.length))));
      if (!data.events.length) events.appendChild(empty('No platform event published.'));
      else events.appendChild(el('table', {},
        el('thead', {}, el('tr', {}, ['Published', 'Event', 'Name', 'Severity', 'Source', 'Description', 'Payload'].map((h) => el('th', {}, h)))),
        el('tbody', {}, [...data.events].reverse().map((e) => el('tr', {},
          el('td', { class: 'mono' }, e.CreatedDate ? dateTime(parseTime(e.CreatedDate)) : ''),
          el('td', {}, (e.attributes && e.attributes.type) || ''),
          el('td', {}, e.Name || ''),
          el('td', {}, e.Severity ? badge(e.Severity, e.Severity === 'Critical' ? 'bad' : e.Severity === 'Warning' ? 'warn' : 'info') : ''),
          el('td', {}, e.Source || ''),
          el('td', {}, e.Description || ''),
          el('td', { class: 'mono wrap' }, e.Payload || ''))))));

      const uploads = (state.conversationUploads || []);
      const up = el('div', { class: 'panel', id: 'uploads' }, el('h2', {}, 'Conversation uploads ', el('span', { class: 'count' }, String(uploads.length))));
      if (!uploads.length) up.appendChild(empty('No conversation uploaded.'));
      else up.appendChild(el('table', {},
        el('thead', {}, el('tr', {}, ['Uploaded', 'Conversation', 'Upload id', 'Entries', 'Status', 'Failed'].map((h) => el('th', {}, h)))),
        el('tbody', {}, [...uploads].reverse().map((u) => {
          const call = findCall(u.conversationId);
          return el('tr', {},
            el('td', { class: 'mono' }, dateTime(u.uploadedAt)),
            el('td', {}, call ? el('a', { href: '#/call/' + encodeURIComponent(call.id) }, u.conversationId) : u.conversationId),
            el('td', { class: 'mono' }, u.uploadId),
            el('td', {}, String((u.entryIds || []).length)),
            // The status API answers PENDING on the first read and the outcome from the second on.
            el('td', {}, u.statusReads >= 2 ? badge(u.status, u.status === 'SUCCESS' ? 'ok' : 'bad') : badge('PENDING', 'info'),
              el('div', { class: 'muted' }, (u.statusReads ? 'read ×' + u.statusReads : 'status not read yet') + ', outcome ' + u.status)),
            el('td', {}, u.failedEntryCount ? String(u.failedEntryCount) : '0'));
        }))));

      const recs = el('div', { class: 'panel', id: 'records' }, el('h2', {}, 'REST records'));
      const names = Object.keys(data.records).sort();
      if (!names.length) recs.appendChild(empty('No record created over REST.'));
      for (const name of names) {
        const list = data.records[name];
        recs.appendChild(el('h2', {}, name, ' ', el('span', { class: 'count' }, String(list.length))));
        recs.appendChild(el('table', {},
          el('thead', {}, el('tr', {}, ['Id', 'Name', 'Created', 'Fields'].map((h) => el('th', {}, h)))),
          el('tbody', {}, [...list].reverse().map((r) => el('tr', {},
            el('td', { class: 'mono' }, r.Id || ''),
            el('td', {}, r.Name || r.Subject || r.CaseNumber || r.Username || ''),
            el('td', { class: 'mono' }, r.CreatedDate ? dateTime(parseTime(r.CreatedDate)) : ''),
            el('td', {}, el('details', {}, el('summary', {}, 'fields'), json(r))))))));
      }
      append(main, [el('div', { class: 'grid' }, el('div', {}, events, up), el('div', {}, recs, info))]);
    },
  },
};

// ---- call page panels ----------------------------------------------------------------------------

function isAgent(m) {
  return m.senderType === 'HUMAN_AGENT' || m.senderType === 'VIRTUAL_AGENT';
}

function signalOf(item) {
  const e = item.event || {};
  const type = String(e.type || '').replace('IntelligenceSignal__', '');
  if (type === 'Category') return el('div', { class: 'signal category' }, '▲ category ', e.value, ' · ', clock(e.startTime));
  if (type === 'Sentiment') {
    const v = Number(e.value);
    const who = e.participant ? String(e.participant).toLowerCase() + ' ' : '';
    return el('div', { class: 'signal ' + (v < 0 ? 'sentiment-neg' : 'sentiment-pos') }, '● ' + who + 'sentiment ', e.value, ' · ', clock(e.startTime));
  }
  return el('div', { class: 'signal' }, type || 'signal', ' ', e.value ?? '', ' · ', clock(e.startTime));
}

function transcriptPanel(call, start) {
  const items = [
    ...call.messages.map((m) => ({ at: m.startTime, node: el('div', { class: 'bubble ' + (isAgent(m) ? 'agent' : 'customer'), 'data-message-id': m.messageId },
      el('div', { class: 'who' }, (isAgent(m) ? 'Agent' : 'Customer') + ' · ' + clock(m.startTime) + (start ? ' (' + offset(m.startTime, start) + ')' : '')),
      el('div', { class: 'text' }, m.content)) })),
    ...call.realtimeEvents.map((item) => ({ at: Number((item.event || {}).startTime) || 0, node: signalOf(item) })),
  ].sort((a, b) => a.at - b.at);
  const panel = el('div', { class: 'panel' }, el('h2', {}, 'Transcript ', el('span', { class: 'count' }, plural(call.messages.length, 'message') + ', ' + plural(call.realtimeEvents.length, 'signal'))));
  if (!items.length) panel.appendChild(empty('No transcript.'));
  else panel.appendChild(el('div', { class: 'transcript', id: 'transcript' }, items.map((i) => i.node)));
  return panel;
}

function voicemailPanel(call) {
  const f = call.fields || {};
  return el('div', { class: 'panel', id: 'voicemail' }, el('h2', {}, 'Voicemail'),
    kv([['Recording', f.recordingLocation ? el('code', {}, f.recordingLocation) : 'none'],
      ['Duration', f.totalRecordingDuration != null ? f.totalRecordingDuration + ' s' : ''],
      ['Transcript', call.messages.map((m) => m.content).join(' ') || 'none yet']]));
}

function sentimentPanel(call, start) {
  const events = call.postCallEvents.map((p) => p.event || {});
  const segments = events.filter((e) => e.type === 'IntelligenceSignal__Sentiment' && typeof e.startTime === 'number');
  const overall = events.filter((e) => e.type === 'IntelligenceSignal__OverallSentimentScore');
  const panel = el('div', { class: 'panel', id: 'sentiment' }, el('h2', {}, 'Post-call sentiment'));
  if (!segments.length) { panel.appendChild(empty(events.length ? 'No sentiment over time.' : 'No post-call analysis yet.')); return panel; }
  const t0 = Math.min(...segments.map((e) => e.startTime), start || Infinity);
  const t1 = Math.max(...segments.map((e) => e.endTime || e.startTime));
  const W = 420, H = 150, L = 30, R = 8, T = 10, B = 22;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + ((5 - Math.max(-5, Math.min(5, v))) / 10) * (H - T - B);
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Sentiment over the call, from -5 to 5' });
  chart.appendChild(svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  chart.appendChild(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
  chart.appendChild(svg('line', { class: 'zero', x1: L, y1: y(0), x2: W - R, y2: y(0) }));
  for (const v of [5, 0, -5]) chart.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v));
  chart.appendChild(svg('text', { x: L, y: H - 6 }, '0:00'));
  chart.appendChild(svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, offset(t1, t0)));
  for (const who of ['CUSTOMER', 'AGENT']) {
    const mine = segments.filter((e) => e.participant === who).sort((a, b) => a.startTime - b.startTime);
    if (!mine.length) continue;
    const points = mine.flatMap((e) => [[x(e.startTime), y(Number(e.value))], [x(e.endTime || e.startTime), y(Number(e.value))]]);
    chart.appendChild(svg('polyline', { class: who.toLowerCase(), points: points.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ') }));
  }
  panel.appendChild(chart);
  panel.appendChild(el('div', { class: 'legend' }, el('span', { class: 'l-customer' }, 'customer'), el('span', { class: 'l-agent' }, 'agent'),
    overall.map((o) => el('strong', {}, 'overall ' + String(o.participant || '').toLowerCase() + ' ' + o.value))));
  return panel;
}

function routingPanel(call) {
  const r = call.routing || {};
  const psr = r.pendingServiceRouting;
  const panel = el('div', { class: 'panel', id: 'routing' }, el('h2', {}, 'Routing'));
  const history = data.requests.filter((q) => /\/(omniFlow|clearRouting|reroute)\/?$/.test(q.path) && requestTouches(q, call));
  if (!psr && !history.length) { panel.appendChild(empty('Not routed.')); return panel; }
  if (psr) panel.appendChild(kv([
    ['Omni flow', psr.flowDevName || '—'], ['Fallback queue', psr.fallbackQueue], ['Dialed number', psr.dialedNumber],
    ['Answer', answerText(psr.answer)],
    ['Executed / cleared / rerouted', [r.executeCount, r.clearCount, r.rerouteCount].join(' / ')],
  ]));
  const actions = { omniFlow: 'omni flow executed', clearRouting: 'routing cleared', reroute: 'rerouted' };
  const answer = (q) => (q.status === 200 ? answerText(q.response) : '');
  if (history.length) panel.appendChild(el('table', { id: 'routing-history' }, el('tbody', {}, history.map((q) => el('tr', { 'data-seq': q.seq },
    el('td', { class: 'mono' }, clock(q.atMs)),
    el('td', {}, actions[q.path.replace(/\/$/, '').split('/').pop()] || q.path, q.body && q.body.flowDevName ? el('div', { class: 'muted' }, q.body.flowDevName) : null),
    el('td', {}, statusBadge(q.status), q.faulted ? el('div', { class: 'muted' }, 'injected') : null),
    el('td', {}, answer(q)))))));
  return panel;
}

function detailsPanel(call) {
  const parent = call.parentVoiceCallId ? findCall(call.parentVoiceCallId) : null;
  const kids = calls().filter((c) => c.parentVoiceCallId && (c.parentVoiceCallId === call.id || c.parentVoiceCallId === call.vendorCallKey));
  const panel = el('div', { class: 'panel', id: 'details' }, el('h2', {}, 'Record'));
  panel.appendChild(kv([
    ['Started', call.startTime], ['Ended', call.endTime], ['Disposition', call.callDisposition],
    ['Parent', parent ? el('a', { href: '#/call/' + encodeURIComponent(parent.id) }, parent.vendorCallKey) : call.parentVoiceCallId],
    ['Transfers', kids.length ? append(el('span'), kids.map((k, i) => [i ? ', ' : '', el('a', { href: '#/call/' + encodeURIComponent(k.id) }, k.vendorCallKey)])) : null],
    ['Queue', call.queue], ['Created by update', call.createdByUpdate ? 'yes' : null], ['Updates', String(call.updateCount)],
    ['Last update', lastUpdate(call) ? dateTime(lastUpdate(call)) : null],
  ]));
  const fields = Object.entries(call.fields || {});
  if (fields.length) panel.appendChild(el('details', { open: true }, el('summary', {}, 'Fields set by updates (CTR sync) (' + fields.length + ')'),
    kv(fields.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]))));
  const attrs = Object.entries(call.callAttributes || {});
  if (attrs.length) panel.appendChild(el('details', {}, el('summary', {}, 'Call attributes (' + attrs.length + ')'),
    kv(attrs.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]))));
  return panel;
}

function claimsSummary(claims) {
  if (!claims) return '';
  return ['iss', 'sub'].filter((k) => claims[k]).map((k) => el('span', { class: 'claim' }, k + '=' + claims[k]));
}

function requestTable(rows, id, withContact) {
  return el('table', { id },
    el('thead', {}, el('tr', {}, ['#', 'Time', 'Request', 'Status', 'Latency', withContact ? 'Contact' : null, 'JWT claims'].filter(Boolean).map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((r) => el('tr', { 'data-seq': r.seq, 'data-status': r.status },
      el('td', { class: 'mono' }, String(r.seq)),
      el('td', { class: 'mono' }, clock(r.atMs)),
      el('td', {}, el('details', {}, el('summary', { class: 'mono' }, r.method + ' ' + r.path),
        r.body !== null ? [el('div', { class: 'muted' }, 'request body'), json(r.body)] : null,
        el('div', { class: 'muted' }, 'response'), json(r.response))),
      el('td', {}, statusBadge(r.status), r.faulted ? el('div', { class: 'muted' }, 'injected') : null),
      el('td', { class: 'mono' }, latency(r.latencyMs)),
      withContact ? el('td', {}, requestContacts(r).map((k) => el('div', {}, k))) : null,
      el('td', { class: 'claims' }, r.jwtClaims ? el('details', {}, el('summary', { class: 'mono' }, claimsSummary(r.jwtClaims)), json(r.jwtClaims)) : el('span', { class: 'muted' }, '—'))))));
}

function timelinePanel(call) {
  const rows = data.requests.filter((r) => requestTouches(r, call));
  const panel = el('div', { class: 'panel', id: 'timeline' }, el('h2', {}, 'Requests touching this call ', el('span', { class: 'count' }, String(rows.length))));
  panel.appendChild(rows.length ? requestTable(rows, 'timeline-table', false) : empty('None.'));
  return panel;
}

// ---- the fault form ------------------------------------------------------------------------------

function faultForm() {
  const kind = el('select', { name: 'kind', id: 'fault-kind' },
    [['429', '429 + Retry-After'], ['5xx', '5xx error'], ['latency', 'Latency'], ['drop', 'Dropped connection']].map(([v, t]) => el('option', { value: v }, t)));
  const status = el('input', { type: 'number', name: 'status', id: 'fault-status', value: '503', min: '500', max: '599' });
  const retry = el('input', { type: 'number', name: 'retryAfter', id: 'fault-retry-after', value: '2', min: '0' });
  const delay = el('input', { type: 'number', name: 'delay', id: 'fault-delay', value: '1500', min: '0' });
  const count = el('input', { type: 'number', name: 'count', id: 'fault-count', value: '1', min: '1' });
  const method = el('select', { name: 'method', id: 'fault-method' }, ['', 'POST', 'PATCH', 'GET'].map((m) => el('option', { value: m }, m || 'any')));
  const path = el('input', { type: 'text', name: 'path', id: 'fault-path', placeholder: 'e.g. /telephony/v1' });
  const note = el('div', { class: 'note', id: 'fault-note' });
  const form = el('form', { class: 'inject', id: 'fault-form' },
    el('label', {}, 'Fault', kind), el('label', {}, 'Status (5xx)', status), el('label', {}, 'Retry-After (s)', retry),
    el('label', {}, 'Delay (ms)', delay), el('label', {}, 'Next N requests', count), el('label', {}, 'Method', method),
    el('label', {}, 'Path contains', path), el('button', { type: 'submit', id: 'fault-submit' }, 'Inject fault'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fault = { count: Math.max(1, parseInt(count.value, 10) || 1) };
    if (kind.value === '429') { fault.status = 429; fault.retryAfterSecs = Math.max(0, parseInt(retry.value, 10) || 0); }
    if (kind.value === '5xx') fault.status = parseInt(status.value, 10) || 503;
    if (kind.value === 'latency') fault.delayMs = Math.max(0, parseInt(delay.value, 10) || 0);
    if (kind.value === 'drop') fault.dropConnection = true;
    if (method.value) fault.method = method.value;
    if (path.value.trim()) fault.pathContains = path.value.trim();
    const response = await fetch('/__emulator/faults', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fault) });
    note.textContent = response.ok ? 'Injected: ' + JSON.stringify(fault) : 'Refused: ' + (await response.text());
    await tick();
  });
  return el('div', { class: 'inject-box' }, el('h2', {}, 'Inject a fault for the next N requests'), form, note);
}

// ---- routing and live updates --------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  const main = clear(document.getElementById('main'));
  const key = pages[name] ? name : 'calls';
  page = pages[key];
  page.mount(main, decodeURIComponent(rest.join('/')));
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === (key === 'call' ? 'calls' : key));
  if (data.state) page.update();
}

let busy = null;
let again = false;
async function tick() {
  if (busy) { again = true; return busy; }
  busy = (async () => {
    do {
      again = false;
      try { await refresh(); if (page) page.update(); }
      catch (e) { document.getElementById('live').textContent = 'error: ' + e.message; }
    } while (again);
  })();
  try { await busy; } finally { busy = null; }
  document.body.dataset.loaded = 'true';
}

function live() {
  const indicator = document.getElementById('live');
  const source = new EventSource('/__emulator/changes');
  source.addEventListener('open', () => { indicator.className = 'live on'; indicator.textContent = 'live'; });
  source.addEventListener('change', () => { tick(); });
  source.addEventListener('error', () => { indicator.className = 'live off'; indicator.textContent = 'reconnecting…'; });
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => { route(); tick(); live(); });
