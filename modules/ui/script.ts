/**
 * The dashboard's script: reads GET /auth/self, /state, /services,
 * /services/:name and its history, renders them with DOM nodes (text set as
 * textContent, never parsed as HTML), and re-reads on each event of GET
 * /events (read with fetch() streaming, NDJSON, so that it carries the API
 * token; debounced), or every 2 s while that stream is unavailable. A read
 * answered 401 shows the token form; the token is kept in sessionStorage and
 * sent as Authorization: Bearer. Actions show only for a role that may do
 * them. A service's page follows its logs. No backticks or dollar-brace in
 * it: it sits in a template literal.
 */
export const SCRIPT_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var state = { errorFrom: null, refreshing: false, again: false, timer: null, poll: null, events: null, opened: false, lastIndex: null, retry: null,
    role: null, signedOut: false, timeline: [], logs: null, logsFor: null, logLines: [] };
  var TOKEN_KEY = 'bicycle.token';
  var MAX_EVENTS = 50;
  var MAX_LOG_LINES = 200;
  function token() { try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; } }
  function headers(extra) {
    var h = extra || {};
    var t = token();
    if (t) h.authorization = 'Bearer ' + t;
    return h;
  }
  function may(needed) {
    var rank = { read: 0, operator: 1, admin: 2 };
    return state.role !== null && rank[state.role] >= rank[needed];
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  function td(text, cls) { return el('td', cls ? { text: String(text), class: cls } : { text: String(text) }); }
  function fill(id, rows) { $(id).querySelector('tbody').replaceChildren.apply($(id).querySelector('tbody'), rows); }

  function showError(message, from) {
    state.errorFrom = from;
    $('error').textContent = message;
    $('error').hidden = false;
  }
  function clearError(from) {
    if (from && state.errorFrom !== from) return;
    state.errorFrom = null;
    $('error').hidden = true;
  }

  /** fetch and JSON; an API error ({error:{code,message}}) is thrown with its code and message. */
  function api(method, path, body) {
    var init = { method: method, headers: headers() };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (!res.ok) {
          var err = json && json.error;
          var e = new Error(method + ' ' + path + ': ' + (err ? err.code + ': ' + err.message : res.status + ' ' + res.statusText));
          e.status = res.status;
          throw e;
        }
        return json;
      });
    });
  }

  function act(question, method, path, body) {
    if (!window.confirm(question)) return;
    clearError();
    api(method, path, body).then(function () { schedule(); }, function (e) {
      if (e.status === 401) signIn(e.message); else showError(e.message, 'action');
    });
  }
  var enc = encodeURIComponent;
  function scale(s) {
    var answer = window.prompt('Replicas for ' + s.name + ':', String(s.replicas));
    if (answer === null) return;
    var n = Number(answer);
    if (!/^\d+$/.test(answer.trim())) { showError('replicas: a whole number, not "' + answer + '"', 'action'); return; }
    act('Scale ' + s.name + ' to ' + n + ' replicas?', 'PATCH', '/services/' + enc(s.name), { replicas: n });
  }
  function updateImage(s) {
    var image = window.prompt('New image for ' + s.name + ':', s.image);
    if (image === null || image.trim() === '' || image === s.image) return;
    act('Update ' + s.name + ' to image ' + image.trim() + '?', 'PATCH', '/services/' + enc(s.name), { image: image.trim() });
  }
  function rollback(s) { act('Roll ' + s.name + ' back to its previous version?', 'POST', '/services/' + enc(s.name) + '/rollback'); }
  function remove(s) {
    act('Remove service ' + s.name + ' and all its replicas?', 'DELETE', '/services/' + enc(s.name));
  }
  function serviceButtons(s) {
    if (!may('operator')) return [];
    var b = function (label, action, fn) { return el('button', { text: label, 'data-action': action, 'data-service': s.name, onclick: function () { fn(s); } }); };
    return [b('scale', 'scale', scale), b('image', 'update', updateImage), b('rollback', 'rollback', rollback), b('remove', 'remove', remove)];
  }

  function ports(list) {
    return (list || []).map(function (p) { return p.published + ':' + p.target + '/' + p.protocol; }).join(', ');
  }
  /** "update v2 to v3: under way", "rollback v3 to v2: done", with the updater's message when it has one. */
  function updateText(u) {
    if (!u) return '';
    return u.kind + ' v' + u.fromVersion + ' to v' + u.toVersion + ': ' + (u.message || (u.completedAt ? 'done' : 'under way'));
  }
  function gib(bytes) { return (bytes / 1073741824).toFixed(1); }
  /** "1.5/2 free" CPUs and "3.1/3.8 GiB free" memory, from the node's facts and what is left after reservations. */
  function capacity(n) {
    if (!n.facts) return [td('\u2013', 'muted'), td('\u2013', 'muted')];
    var free = n.free || { cpus: n.facts.cpus - n.reserved.cpus, memoryBytes: n.facts.memoryBytes - n.reserved.memoryBytes };
    return [td(Number(free.cpus.toFixed(2)) + '/' + n.facts.cpus + ' free', 'num cpu'), td(gib(free.memoryBytes) + '/' + gib(n.facts.memoryBytes) + ' GiB free', 'num memory')];
  }
  function labels(obj) {
    return el('td', {}, Object.keys(obj || {}).map(function (k) { return el('span', { class: 'label', text: k + '=' + obj[k] }); }));
  }

  function renderOverview(st, services) {
    var c = st.cluster;
    $('cluster').textContent = 'leader ' + (c.leader || 'none') + ' \u00b7 term ' + c.term + ' \u00b7 ' + st.nodes.length + ' node(s)';
    $('warnings').replaceChildren.apply($('warnings'), (c.warnings || []).map(function (w) { return el('li', { text: typeof w === 'string' ? w : JSON.stringify(w) }); }));
    fill('nodes', st.nodes.map(function (n) {
      var drain = n.availability === 'drain';
      var target = drain ? 'active' : 'drain';
      var button = el('button', { text: drain ? 'activate' : 'drain', 'data-action': target, 'data-node': n.name, onclick: function () {
        act((drain ? 'Activate' : 'Drain') + ' node ' + n.name + '?', 'PATCH', '/nodes/' + enc(n.id), { availability: target });
      } });
      return el('tr', { 'data-node': n.name }, [td(n.name + (n.leader ? ' (leader)' : '')), td(n.status, 'state-' + n.status), td(n.role), td(n.availability), labels(n.labels), td(n.tasks, 'num')]
        .concat(capacity(n), [el('td', {}, may('admin') ? [button] : [])]));
    }));
    fill('services', services.map(function (s) {
      var link = el('a', { href: '#service/' + enc(s.name), text: s.name });
      return el('tr', { 'data-service': s.name }, [el('td', {}, [link]), td(s.image), td(s.running + '/' + s.healthy + '/' + s.replicas, 'num replicas'),
        td(s.state, 'state-' + s.state), td(ports(s.ports)), td(updateText(s.updateStatus) || (s.error ? 'error: ' + s.error : '')), el('td', {}, serviceButtons(s))]);
    }));
    var counts = {};
    (st.containers || []).forEach(function (t) {
      if (t.desiredState !== 'RUNNING' || !t.node) return;
      var key = t.service + '\u0000' + t.node;
      counts[key] = (counts[key] || 0) + 1;
    });
    $('grid').querySelector('thead').replaceChildren(el('tr', {}, [el('th', { text: 'service' })].concat(st.nodes.map(function (n) { return el('th', { text: n.name }); }))));
    fill('grid', services.map(function (s) {
      return el('tr', {}, [td(s.name)].concat(st.nodes.map(function (n) {
        var k = counts[s.name + '\u0000' + n.name] || 0;
        return td(k ? k : '\u00b7', k ? 'num' : 'num muted');
      })));
    }));
  }

  function renderService(s, history) {
    $('service-name').textContent = s.name;
    $('service-summary').textContent = s.image + ' \u00b7 ' + s.state + ' \u00b7 ' + s.running + '/' + s.healthy + '/' + s.replicas +
      ' running/healthy/desired' + (s.ports && s.ports.length ? ' \u00b7 ports ' + ports(s.ports) : '') + (s.updateStatus ? ' \u00b7 update ' + updateText(s.updateStatus) : '');
    $('service-actions').replaceChildren.apply($('service-actions'), serviceButtons(s));
    fill('tasks', s.tasks.map(function (t) {
      return el('tr', {}, [td(t.name), td(t.state + (t.health && t.health !== 'none' ? ' (' + t.health + ')' : ''), 'state-' + t.state), td(t.desiredState), td(t.node || 'unassigned'), td(t.version, 'num'), td(t.error || '')]);
    }));
    fill('versions', history.versions.map(function (v) {
      var back = v.current ? el('td', { text: 'current' }) : !may('operator') ? td('') : el('td', {}, [el('button', { text: 'roll back to ' + v.version, onclick: function () {
        act('Roll ' + s.name + ' back to version ' + v.version + '?', 'POST', '/services/' + enc(s.name) + '/rollback', { version: v.version });
      } })]);
      return el('tr', {}, [td(v.version, 'num'), td(v.image), td(v.command ? v.command.join(' ') : '(image default)'), td(v.createdAt), back]);
    }));
  }

  function selected() {
    var m = /^#service\/(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function refresh() {
    if (state.refreshing) { state.again = true; return; }
    state.refreshing = true;
    var name = selected();
    var reads = name
      ? [api('GET', '/services/' + enc(name)), api('GET', '/services/' + enc(name) + '/history')]
      // The grid counts replicas per service and node from the containers: up to 1,000 of them (State lists 100 by default).
      : [api('GET', '/state?limit=1000'), api('GET', '/services')];
    Promise.all(reads).then(function (r) {
      $('overview').hidden = !!name;
      $('service').hidden = !name;
      if (name) renderService(r[0], r[1]); else renderOverview(r[0], r[1].services);
      clearError('read');
      if (name) follow(name); else unfollow();
    }, function (e) { if (e.status === 401) signIn(e.message); else showError(e.message, 'read'); }).then(function () {
      state.refreshing = false;
      if (state.again) { state.again = false; refresh(); }
    });
  }
  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, 100);
  }

  function polling(on) {
    $('live').hidden = !on;
    if (on && !state.poll) state.poll = setInterval(refresh, 2000);
    if (!on && state.poll) { clearInterval(state.poll); state.poll = null; }
  }
  /**
   * GET path with the token, read as it comes: each non-empty line to onLine
   * (empty lines are the server's heartbeats). Resolves when the stream ends,
   * rejects (with .status) on an error answer or a cut; abort() stops it.
   */
  function stream(path, onOpen, onLine) {
    var controller = new AbortController();
    var done = fetch(path, { headers: headers(), signal: controller.signal }).then(function (res) {
      if (!res.ok || !res.body) {
        var e = new Error('GET ' + path + ': ' + res.status + ' ' + res.statusText);
        e.status = res.status;
        return res.text().then(function (text) {
          try { var err = JSON.parse(text).error; e.message = 'GET ' + path + ': ' + err.code + ': ' + err.message; } catch (x) { /* not JSON */ }
          throw e;
        });
      }
      onOpen();
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = '';
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, { stream: true });
          var lines = buffer.split('\n');
          buffer = lines.pop();
          lines.forEach(function (line) {
            if (line.trim() === '') return;
            var record;
            try { record = JSON.parse(line); } catch (e) { return; }
            onLine(record);
          });
          return pump();
        });
      }
      return pump();
    });
    return { abort: function () { controller.abort(); }, done: done };
  }

  function renderTimeline() {
    fill('events', state.timeline.map(function (e) {
      var subject = e.service ? e.service + (e.task ? ' / ' + e.task : '') : e.node || e.task || '';
      var a = e.attributes || {};
      var detail = ['state', 'health', 'replicas', 'availability', 'status', 'image', 'reason', 'error'].filter(function (k) { return a[k] !== undefined && a[k] !== null; })
        .map(function (k) { return k + '=' + a[k]; }).join(' ');
      return el('tr', { 'data-index': String(e.index) }, [td(e.index, 'num'), td(new Date(e.time).toLocaleTimeString()), td(e.type + ' ' + e.action), td(subject), td(detail)]);
    }));
  }
  function onEvent(e) {
    // Compaction overtook the stream (docs/events.md): the next stream starts from now, after a fresh read.
    if (e.error) { state.lastIndex = null; return; }
    state.lastIndex = e.index;
    state.timeline.unshift(e);
    if (state.timeline.length > MAX_EVENTS) state.timeline.length = MAX_EVENTS;
    renderTimeline();
    schedule();
  }
  function listen() {
    clearTimeout(state.retry);
    if (state.events || state.signedOut) return;
    if (!window.fetch || !window.ReadableStream || !window.TextDecoder) { polling(true); return; }
    // A reconnect resumes after the last event seen: none missed, none twice (docs/events.md).
    var path = '/events' + (state.lastIndex !== null ? '?since=' + state.lastIndex : '');
    var events = stream(path, function () {
      // A reopened stream may have missed changes the reads show: read again (the first open follows the first read).
      var reopened = state.opened || state.poll;
      state.opened = true;
      polling(false);
      if (reopened) schedule();
    }, onEvent);
    state.events = events;
    events.done.then(null, function (e) { return e; }).then(function (e) {
      if (state.events !== events) return;
      state.events = null;
      if (e && e.status === 401) { signIn(e.message); return; }
      // 410: the log after the last index seen was compacted; the reads show the current state, follow from now.
      if (e && e.status === 410) state.lastIndex = null;
      polling(true);
      state.retry = setTimeout(listen, 5000);
    });
  }
  function stopListening() {
    clearTimeout(state.retry);
    var events = state.events;
    state.events = null;
    if (events) events.abort();
    polling(false);
  }

  /** The service page's live logs: the last MAX_LOG_LINES lines of its replicas, following. */
  function renderLogs() {
    $('logs').textContent = state.logLines.join('\n');
    $('logs').scrollTop = $('logs').scrollHeight;
  }
  function logLine(text) {
    state.logLines.push(text);
    if (state.logLines.length > MAX_LOG_LINES) state.logLines.splice(0, state.logLines.length - MAX_LOG_LINES);
    renderLogs();
  }
  function follow(name) {
    if (state.logsFor === name) return;
    unfollow();
    state.logsFor = name;
    state.logLines = [];
    renderLogs();
    if (!may('operator')) { $('logs-note').textContent = 'Logs need an operator or admin token.'; return; }
    $('logs-note').textContent = 'following';
    var logs = stream('/services/' + enc(name) + '/logs?follow=true&format=ndjson&tail=' + MAX_LOG_LINES, function () {}, function (r) {
      if (r.type === 'line') logLine(r.replica + ' | ' + r.text);
      else if (r.type === 'lost') logLine('--- ' + r.replica + ' on ' + r.node + ': lost at ' + new Date(r.at).toLocaleTimeString() + (r.replacement ? ', replaced by ' + r.replacement.replica + ' on ' + r.replacement.node : '') + ' ---');
      else if (r.type === 'removed') logLine('--- service ' + r.service + ' removed ---');
    });
    state.logs = logs;
    logs.done.then(null, function (e) { return e; }).then(function (e) {
      if (state.logs !== logs) return;
      state.logs = null;
      $('logs-note').textContent = e && e.message ? 'stopped: ' + e.message : 'ended';
    });
  }
  function unfollow() {
    var logs = state.logs;
    state.logs = null;
    state.logsFor = null;
    if (logs) logs.abort();
  }

  /** Who the token says we are: the role decides which actions show. */
  function start() {
    state.signedOut = false;
    $('auth').hidden = true;
    api('GET', '/auth/self').then(function (self) {
      state.role = self.role;
      $('whoami').textContent = self.actor + ' (' + self.role + ')';
      $('signout').hidden = !token();
      refresh();
      listen();
    }, function (e) {
      if (e.status === 401) signIn(e.message); else { showError(e.message, 'read'); setTimeout(start, 2000); }
    });
  }
  /** The token form, with why it shows (a 401's message) unless no token was given yet. */
  function signIn(message) {
    var had = !!token();
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage refused */ }
    state.signedOut = true;
    state.role = null;
    stopListening();
    unfollow();
    clearError();
    $('overview').hidden = true;
    $('service').hidden = true;
    $('signout').hidden = true;
    $('whoami').textContent = '';
    $('auth-error').textContent = had ? message : '';
    $('auth-error').hidden = !(had && message);
    $('auth').hidden = false;
    $('token').value = '';
    $('token').focus();
  }
  $('auth').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var t = $('token').value.trim();
    if (t === '') return;
    try { window.sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* storage refused */ }
    start();
  });
  $('signout').addEventListener('click', function (ev) {
    ev.preventDefault();
    $('auth-error').hidden = true;
    signIn('');
  });

  window.addEventListener('hashchange', function () { if (!state.signedOut) refresh(); });
  start();
})();
`;
