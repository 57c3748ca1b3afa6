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
</header>
<div id="error" class="error" hidden></div>
<ul id="warnings" class="warnings"></ul>
<main id="overview">
  <section>
    <h2>Nodes</h2>
    <table id="nodes"><thead><tr><th>name</th><th>status</th><th>role</th><th>availability</th><th>labels</th><th>tasks</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Services</h2>
    <table id="services"><thead><tr><th>name</th><th>image</th><th>running/healthy/desired</th><th>state</th><th>ports</th><th>update</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Replicas by node</h2>
    <table id="grid"><thead></thead><tbody></tbody></table>
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
</main>
<script src="/ui/app.js"></script>
</body>
</html>
`;
