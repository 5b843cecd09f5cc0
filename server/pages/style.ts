// The whole stylesheet, inlined into every page by render.ts: one request per page, and
// small enough (under 4 KB) that repeating it costs less than a second round trip.
// Colours live in variables so dark mode is a single block of overrides.
export const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1c2024;--muted:#5b6470;--line:#e1e4e8;--head:#f4f5f7;--link:#0a58b0;--focus:#1a73e8;--ok:#17692e;--ok-bg:#def5e5;--warn:#7a4d00;--warn-bg:#fff0c7;--err:#b3261e;--code:#f0f2f4}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e4e7ea;--muted:#9ba4ae;--line:#2d3137;--head:#1d2024;--link:#7db8ff;--focus:#8ab4ff;--ok:#86e3a5;--ok-bg:#133620;--warn:#ffd47f;--warn-bg:#3b2c07;--err:#ff8f85;--code:#25282d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header.site,nav,main{max-width:70rem;margin:0 auto;padding:0 1rem}
header.site{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding-top:.75rem;padding-bottom:.75rem;border-bottom:1px solid var(--line)}
main{padding-bottom:3rem}
a{color:var(--link)}
a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.brand{font-weight:700;font-size:1.2rem;color:var(--fg);text-decoration:none}
.search{display:flex;gap:.4rem;flex:1 1 18rem;max-width:34rem}
input,button{font:inherit;font-size:.9rem;padding:.35rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
input{flex:1;min-width:0}
button{background:var(--head);cursor:pointer}
.crumbs{list-style:none;display:flex;flex-wrap:wrap;margin:.75rem 0 0;padding:0;font-size:.9rem;color:var(--muted)}
.crumbs li{overflow-wrap:anywhere}
.crumbs li+li::before{content:"/";content:"/"/"";padding:0 .4rem}
h1{font-size:1.4rem;margin:1rem 0 .75rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{padding:.4rem .6rem;text-align:left;vertical-align:baseline;border-bottom:1px solid var(--line)}
th{font-size:.8rem;font-weight:600;color:var(--muted);background:var(--head)}
tbody tr:hover{background:var(--head)}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.name{overflow-wrap:anywhere;min-width:7rem}
time{white-space:nowrap}
code{overflow-wrap:anywhere}
pre{overflow-x:auto;background:var(--code);padding:.5rem;font-size:.85rem}
form p{display:flex;flex-wrap:wrap;gap:.25rem .75rem;margin:.5rem 0}form label{flex:0 0 12rem}
code,input{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
.sha{display:inline-block;max-width:100%;font-size:.78rem;line-height:1.4;word-break:break-all;user-select:all;-webkit-user-select:all;background:var(--code);padding:.1rem .3rem;border-radius:4px}
.sha.short{white-space:nowrap}
.change{white-space:normal}.change>*{white-space:nowrap}
.badge{display:inline-block;font-size:.75rem;font-weight:600;line-height:1.4;padding:0 .5rem;border:1px solid;border-radius:1rem}
.badge.sealed,.verdict.ok{color:var(--ok);background:var(--ok-bg)}
.badge.open,.verdict.diff{color:var(--warn);background:var(--warn-bg)}
.summary{line-height:1.9}
.muted,.empty{color:var(--muted)}
.error{color:var(--err);font-weight:600}
.verdict{padding:.6rem .8rem;border-radius:6px;font-weight:600}
details{margin:1.75rem 0}
summary{cursor:pointer;font-weight:600}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (min-width:40rem){.compare{table-layout:fixed}.compare th:nth-child(2){width:12rem}.compare th:nth-child(3){width:17rem}}
@media (min-width:64rem){.files .sha{white-space:nowrap}}
@media (max-width:40rem){.opt{display:none}th,td{padding:.35rem .4rem}h1{font-size:1.2rem}
.files thead,.mirror thead{display:none}.files tr,.mirror tr{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 1rem;padding:.3rem 0;border-bottom:1px solid var(--line)}.files td,.mirror td{border:0;padding:.15rem .4rem}.files .name,.files .hash,.mirror .name{flex:1 0 100%}.files .hash{order:1}.files td:empty,.mirror td:empty{display:none}}
`;
