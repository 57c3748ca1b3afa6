/** The dashboard's one HTML page: a shell the script fills from the REST API. */
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bicycle</title>
<link rel="stylesheet" href="/ui/app.css">
</head>
<body>
<header>
  <h1><a href="#">Bicycle</a></h1>
  <span id="cluster"></span>
  <span id="live" class="badge" hidden>live updates unavailable</span>
  <span class="right"><span id="whoami"></span> <a id="signout" href="#" hidden>sign out</a></span>
</header>
<form id="auth" class="auth" hidden autocomplete="off">
  <h2>API token</h2>
  <p>This daemon wants an API token (<code>bicycle token create</code>; <code>bicycled --init</code> printed the first). It is kept in this tab only.</p>
  <p id="auth-error" class="error" hidden></p>
  <input id="token" type="password" placeholder="BAT1-&hellip;" size="60" aria-label="API token"> <button type="submit">sign in</button>
</form>
<div id="error" class="error" hidden></div>
<ul id="warnings" class="warnings"></ul>
<main id="overview">
  <section>
    <h2>Nodes</h2>
    <table id="nodes"><thead><tr><th>name</th><th>status</th><th>role</th><th>availability</th><th>labels</th><th>tasks</th><th>CPUs</th><th>memory</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Services</h2>
    <table id="services"><thead><tr><th>name</th><th>image</th><th>running/healthy/desired</th><th>state</th><th>ports</th><th>update</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Replicas by node</h2>
    <table id="grid"><thead></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Events</h2>
    <table id="events"><thead><tr><th>index</th><th>time</th><th>event</th><th>subject</th><th>detail</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<main id="service" hidden>
  <p><a href="#">&larr; all services</a></p>
  <h2 id="service-name"></h2>
  <p id="service-summary"></p>
  <p class="actions" id="service-actions"></p>
  <section>
    <h3>Tasks</h3>
    <table id="tasks"><thead><tr><th>task</th><th>state</th><th>desired</th><th>node</th><th>version</th><th>error</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h3>Versions</h3>
    <table id="versions"><thead><tr><th>version</th><th>image</th><th>command</th><th>created</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h3>Logs <span id="logs-note" class="muted"></span></h3>
    <pre id="logs" class="logs"></pre>
  </section>
</main>
<script src="/ui/app.js"></script>
</body>
</html>
`;
