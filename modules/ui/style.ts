/** The dashboard's stylesheet. */
export const STYLE_CSS = String.raw`
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; background: #1d2733; color: #eee; }
header h1 { font-size: 1.2em; margin: 0; }
header a { color: inherit; text-decoration: none; }
main, .error, .warnings { margin: 0 1em; }
section { margin: 1em 0; }
h2 { font-size: 1.1em; margin: 1em 0 .4em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
table { border-collapse: collapse; background: #fff; min-width: 40%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #e2e5ea; vertical-align: top; }
th { font-weight: 600; background: #eef0f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
button { font: inherit; padding: .1em .6em; margin-right: .3em; cursor: pointer; }
.badge { background: #b35c00; color: #fff; border-radius: 3px; padding: 0 .5em; font-size: .85em; }
.error { background: #fde8e8; border: 1px solid #e0a0a0; color: #8a1f1f; padding: .5em; margin-top: .6em; }
.warnings { color: #8a5a00; }
.state-RUNNING { color: #186a2e; }
.state-FAILED, .state-DEGRADED, .state-REJECTED, .state-PAUSED, .state-DOWN, .state-UNKNOWN { color: #a11; font-weight: 600; }
.label { display: inline-block; background: #eef0f3; border-radius: 3px; padding: 0 .3em; margin: 0 .2em .1em 0; font-size: .9em; }
.muted { color: #888; }
header .right { margin-left: auto; }
.auth { margin: 2em 1em; max-width: 40em; }
.auth input { font: inherit; padding: .2em .4em; }
.auth .error { margin: .6em 0; }
.logs { background: #111; color: #ddd; padding: .5em; max-height: 24em; overflow: auto; font-size: 12px; white-space: pre-wrap; }
`;
