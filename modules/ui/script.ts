/**
 * The dashboard's script: reads GET /state, /services, /services/:name and
 * its history, renders them with DOM nodes (text set as textContent, never
 * parsed as HTML), and re-reads on each event of GET /events (debounced),
 * or every 2 s while that stream is unavailable. No backticks or dollar-brace
 * in it: it sits in a template literal.
 */
export const SCRIPT_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var state = { errorFrom: null, refreshing: false, again: false, timer: null, poll: null, source: null, opened: false };

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
    var init = { method: method, headers: {} };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (!res.ok) {
          var err = json && json.error;
          throw new Error(method + ' ' + path + ': ' + (err ? err.code + ': ' + err.message : res.status + ' ' + res.statusText));
        }
        return json;
      });
    });
  }

  function act(question, method, path, body) {
    if (!window.confirm(question)) return;
    clearError();
    api(method, path, body).then(function () { schedule(); }, function (e) { showError(e.message, 'action'); });
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
      return el('tr', { 'data-node': n.name }, [td(n.name + (n.leader ? ' (leader)' : '')), td(n.status, 'state-' + n.status), td(n.role), td(n.availability), labels(n.labels), td(n.tasks, 'num'), el('td', {}, [button])]);
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
      var back = v.current ? el('td', { text: 'current' }) : el('td', {}, [el('button', { text: 'roll back to ' + v.version, onclick: function () {
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
      : [api('GET', '/state'), api('GET', '/services')];
    Promise.all(reads).then(function (r) {
      $('overview').hidden = !!name;
      $('service').hidden = !name;
      if (name) renderService(r[0], r[1]); else renderOverview(r[0], r[1].services);
      clearError('read');
    }, function (e) { showError(e.message, 'read'); }).then(function () {
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
  function listen() {
    if (!window.EventSource) { polling(true); return; }
    var source = new EventSource('/events');
    state.source = source;
    source.onopen = function () {
      // A reopened stream may have missed events: read again (the first open follows the first read).
      var reopened = state.opened || state.poll;
      state.opened = true;
      polling(false);
      if (reopened) schedule();
    };
    // Messages are named by event type (service, task, node, cluster); unnamed ones are messages.
    ['message', 'service', 'task', 'node', 'cluster'].forEach(function (type) { source.addEventListener(type, schedule); });
    source.onerror = function () {
      polling(true);
      // Refused outright (e.g. no such route) the browser gives up: try again later.
      if (source.readyState === EventSource.CLOSED) setTimeout(listen, 10000);
    };
  }

  window.addEventListener('hashchange', refresh);
  refresh();
  listen();
})();
`;
