"""``coverage.html``: one self-contained page (no CDN, no external files).

A colored matrix of model types x checks, per-family stacked bars, and a filter box
(vanilla JS) that filters rows by text and status.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from .coverage import STATUSES, VERDICT_SYMBOLS, VERDICTS, headline

COLORS = {
    "passed": "#2e9d4f",
    "failed": "#d64541",
    "known-issue": "#e07b30",
    "incomplete": "#8e5cc4",
    "skipped": "#e0b630",
    "nothing-ran": "#c4c4c4",
    "component": "#6c8ebf",
    "not-testable": "#a8a8a8",
    "not-run": "#dedede",
    # check verdicts (``VERDICTS``) that are not type statuses
    "not-covered": "#8e5cc4",
    "not-applicable": "#ececec",
    "no-device": "#d4d4d4",
}
LIGHT = frozenset({"not-run", "skipped", "nothing-ran", "not-applicable", "no-device"})

CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:16px 24px;background:#1f2937;color:#f9fafb}
header h1{margin:0 0 4px;font-size:20px}
header .meta{color:#cbd5e1;font-size:13px}
main{padding:16px 24px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}
.card span{color:#555;font-size:12px}
h2{font-size:16px;margin:20px 0 8px}
.fam{display:grid;grid-template-columns:160px 1fr 60px;gap:8px;align-items:center;margin:4px 0;max-width:1100px}
.fam .name{font-weight:600;text-align:right}
.bar{display:flex;height:20px;border-radius:4px;overflow:hidden;background:#eee;border:1px solid #ddd}
.bar div{height:100%;color:#fff;font-size:11px;text-align:center;line-height:20px;overflow:hidden;white-space:nowrap}
.fam .n{color:#555;font-size:12px}
.legend{display:flex;gap:14px;flex-wrap:wrap;margin:8px 0 4px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-2px}
.controls{display:flex;gap:10px;align-items:center;margin:8px 0 10px;flex-wrap:wrap}
.controls input{padding:6px 10px;font-size:14px;width:320px;border:1px solid #bbb;border-radius:6px}
.controls select{padding:5px;font-size:14px;border:1px solid #bbb;border-radius:6px}
#count{color:#555;font-size:13px}
.wrap{overflow:auto;max-height:75vh;border:1px solid #e5e7eb;border-radius:6px;background:#fff}
table{border-collapse:collapse;font-size:12px}
th,td{border-bottom:1px solid #eee;padding:3px 6px;white-space:nowrap}
thead th{position:sticky;top:0;background:#f3f4f6;z-index:1;text-align:left;border-bottom:1px solid #ccc}
th.chk{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;padding:6px 4px;height:175px;font-weight:600}
td.mt{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600}
td.c{text-align:center;width:26px;min-width:26px;color:#fff;font-weight:700;cursor:default}
td.st{font-weight:600}
td.reason{white-space:normal;min-width:320px;max-width:560px;color:#444}
td.reason details{font-size:11px;color:#555}
td.reason ul{margin:2px 0 0 14px;padding:0}
td.c.light{color:#555}
p.headline{font-size:15px;max-width:1100px;margin:4px 0 12px}
.pill{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:11px}
.pill.light{color:#333}
tr.hidden{display:none}
tbody tr:hover td{background-image:linear-gradient(rgba(0,0,0,.04),rgba(0,0,0,.04))}
footer{padding:12px 24px;color:#777;font-size:12px}
"""

JS = """
(function(){
  var q=document.getElementById('q'), s=document.getElementById('status'),
      f=document.getElementById('family'), rows=[].slice.call(document.querySelectorAll('#matrix tbody tr')),
      count=document.getElementById('count');
  function apply(){
    var words=q.value.toLowerCase().split(/\\s+/).filter(Boolean), st=s.value, fa=f.value, n=0;
    rows.forEach(function(r){
      var txt=r.getAttribute('data-text');
      var ok=(!st||r.getAttribute('data-status')===st)&&(!fa||r.getAttribute('data-family')===fa)&&
        words.every(function(w){return txt.indexOf(w)>=0;});
      r.classList.toggle('hidden',!ok); if(ok) n++;
    });
    count.textContent=n+' of '+rows.length+' model types';
  }
  // The filter lives in the URL hash (#q=bert&status=failed&family=vision): links keep it.
  try {
    var h=new URLSearchParams(location.hash.slice(1));
    if(h.get('q')) q.value=h.get('q');
    if(h.get('status')) s.value=h.get('status');
    if(h.get('family')) f.value=h.get('family');
  } catch(e) {}
  function save(){
    var p=new URLSearchParams();
    if(q.value) p.set('q',q.value); if(s.value) p.set('status',s.value); if(f.value) p.set('family',f.value);
    var t=p.toString();
    try { history.replaceState(null,'',t?'#'+t:location.pathname+location.search); } catch(e) {}
  }
  function run(){ apply(); save(); }
  q.addEventListener('input',run); s.addEventListener('change',run); f.addEventListener('change',run);
  apply();
})();
"""


def _select(ident: str, everything: str, options: list[tuple[str, str]]) -> str:
    """A filter ``<select>``: the empty value (``everything``), then (value, label) options."""
    items = "".join(f"<option value='{escape(v)}'>{escape(label)}</option>" for v, label in options)
    return f"<select id='{ident}'><option value=''>{escape(everything)}</option>{items}</select>"


def _cell_title(mt: str, check: str, ch: dict[str, Any]) -> str:
    parts = [f"{mt} / {check}: {ch.get('verdict', ch['outcome'])} ({ch['duration_s']:.2f}s)"]
    for t in ch["tests"][:12]:
        label = t["param"] or check
        msg = f" - {t['message']}" if t.get("message") else ""
        parts.append(f"{label}: {t['outcome']}{msg}")
    if len(ch["tests"]) > 12:
        parts.append(f"... {len(ch['tests']) - 12} more")
    return "\n".join(parts)


def _detail(ty: dict[str, Any]) -> str:
    """A type's checks, expandable: what ran, and why the rest did not."""
    items = []
    for c, ch in ty.get("checks", {}).items():
        if "verdict" not in ch:
            continue
        ran = ch["ran"]
        bits = [f"{ch['verdict']}"]
        if any(ran.values()):
            bits.append(", ".join(f"{v} {k}" for k, v in ran.items() if v))
        for key, label in (
            ("not_covered", "not covered"),
            ("not_applicable", "n/a"),
            ("skipped", "skipped"),
        ):
            if ch.get(key):
                bits.append(f"{label}: " + "; ".join(ch[key]))
        if ch.get("no_device"):
            bits.append(f"{ch['no_device']} no device")
        items.append(f"<li><b>{escape(c)}</b>: {escape(' | '.join(bits))}</li>")
    if not items:
        return ""
    return f"<details><summary>checks</summary><ul>{''.join(items)}</ul></details>"


def _per_check(cov: dict[str, Any], w: Any) -> None:
    per = cov.get("per_check") or {}
    if not per:
        return
    w(
        "<h2>Per check</h2><p style='margin:0 0 6px;color:#555;font-size:12px'>Model types per "
        "check, by the check's verdict for the type.</p>"
    )
    w("<table id='per-check'><thead><tr><th>check</th><th>types</th>")
    for v in VERDICTS:
        w(
            f"<th><i style='display:inline-block;width:10px;height:10px;background:{COLORS[v]}'>"
            f"</i> {escape(v)}</th>"
        )
    w("</tr></thead><tbody>")
    for c, row in per.items():
        w(f"<tr><td>{escape(c)}</td><td>{row['types']}</td>")
        w("".join(f"<td>{row.get(v, 0)}</td>" for v in VERDICTS))
        w("</tr>")
    w("</tbody></table>")


def render_html(cov: dict[str, Any]) -> str:
    v = cov.get("versions", {})
    t = cov["totals"]
    checks = list(cov.get("checks", []))
    types = cov["types"]
    fams = cov.get("families", {})
    out: list[str] = []
    w = out.append
    title = f"hftestgen coverage - Transformers {v.get('transformers') or '?'}"
    w("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>")
    w("<meta name='viewport' content='width=device-width,initial-scale=1'>")
    w(f"<title>{escape(title)}</title><style>{CSS}</style></head><body>")
    w("<header><h1>hftestgen coverage</h1><div class='meta'>")
    w(
        escape(
            f"Transformers {v.get('transformers') or '?'} \u00b7 torch {v.get('torch') or 'not installed'}"
            f" \u00b7 Python {v.get('python')} \u00b7 hftestgen {v.get('hftestgen')}"
            f" \u00b7 generated {cov.get('generated_at')}"
        )
    )
    run = cov.get("run", {})
    if run.get("shard"):
        w(escape(f" \u00b7 shard {run['shard']}"))
    if run.get("merged_from"):
        w(escape(f" \u00b7 merged from {len(run['merged_from'])} folders"))
    if run.get("interrupted"):
        w(" \u00b7 <b>interrupted: partial results</b>")
    w("</div></header><main>")

    bs = t["by_status"]
    w(f"<p class='headline'>{escape(headline(cov))}</p>")
    w("<div class='cards'>")
    w(f"<div class='card'><b>{t['types']}</b><span>model types</span></div>")
    for s in STATUSES:
        w(
            f"<div class='card' style='border-top:4px solid {COLORS[s]}'><b>{bs.get(s, 0)}</b>"
            f"<span>{escape(s)}</span></div>"
        )
    w(
        f"<div class='card'><b>{t['coverage_pct']}%</b><span>passed of types run</span></div>"
        f"<div class='card'><b>{t['tests']['passed']}/{t['tests']['total']}</b>"
        f"<span>tests passed</span></div></div>"
    )

    w("<div class='legend'>")
    for s in STATUSES:
        w(f"<span><i style='background:{COLORS[s]}'></i>{escape(s)}</span>")
    w("</div>")

    w("<h2>Per family</h2>")
    for fam, c in fams.items():
        n = c.get("types", 0) or 1
        w(f"<div class='fam'><div class='name'>{escape(fam)}</div><div class='bar'>")
        for s in STATUSES:
            k = c.get(s, 0)
            if k:
                pct = 100.0 * k / n
                label = str(k) if pct >= 4 else ""
                w(
                    f"<div style='width:{pct:.3f}%;background:{COLORS[s]};"
                    f"color:{'#333' if s in LIGHT else '#fff'}' "
                    f"title='{escape(fam)}: {k} {escape(s)}'>{label}</div>"
                )
        k = c.get("types", 0)
        w(f"</div><div class='n'>{k} type{'' if k == 1 else 's'}</div></div>")

    _per_check(cov, w)

    w(
        "<h2>Model types \u00d7 checks</h2><p style='margin:0;color:#555;font-size:12px'>Failed first, then incomplete, known-issue, skipped, nothing-ran, passed, not run, components, not testable. Cells: a check's verdict for the type (hover for its tests); \u2713 passed, ! known-issue, ? not covered, \u2013 skipped, \u00b7 not applicable, \u25cb no device. Open <i>checks</i> in the reason column for the reasons.</p><div class='controls'>"
    )
    w("<input id='q' type='search' placeholder='filter: model type, family, reason...' autofocus>")
    w(_select("status", "all statuses", [(s, f"{s} ({bs.get(s, 0)})") for s in STATUSES]))
    w(_select("family", "all families", [(f, f) for f in fams]))
    w("<span id='count'></span></div>")

    w("<div class='wrap'><table id='matrix'><thead><tr><th>model type</th><th>family</th>")
    w("<th>status</th>")
    for c in checks:
        w(f"<th class='chk' title='{escape(c)}'>{escape(c)}</th>")
    w("<th>time</th><th>reason</th></tr></thead><tbody>")
    rank = {
        "failed": 0,
        "incomplete": 1,
        "known-issue": 2,
        "skipped": 3,
        "nothing-ran": 4,
        "passed": 5,
        "not-run": 6,
        "component": 7,
    }
    rows = sorted(types.items(), key=lambda kv: (rank.get(kv[1]["status"], 5), kv[0].lower()))
    for mt, ty in rows:
        st = ty["status"]
        light = " light" if st in LIGHT else ""
        text = " ".join([mt, ty["family"], st, ty.get("reason") or ""]).lower()
        w(
            f"<tr data-status='{escape(st)}' data-family='{escape(ty['family'])}' "
            f"data-text='{escape(text)}'><td class='mt'>{escape(mt)}</td>"
            f"<td>{escape(ty['family'])}</td><td class='st'><span class='pill{light}' "
            f"style='background:{COLORS.get(st, '#999')}'>{escape(st)}</span></td>"
        )
        for c in checks:
            ch = ty["checks"].get(c)
            if ch is None:
                bg = COLORS["not-run"] if st in ("passed", "failed", "skipped") else COLORS.get(st)
                w(
                    f"<td class='c' style='background:{bg};opacity:.45' title='{escape(mt)} / {escape(c)}: not run'></td>"
                )
            else:
                o = ch.get("verdict", ch["outcome"])
                w(
                    f"<td class='c{' light' if o in LIGHT else ''}' "
                    f"style='background:{COLORS.get(o, '#999')}' "
                    f"title='{escape(_cell_title(mt, c, ch))}'>{VERDICT_SYMBOLS.get(o, '')}</td>"
                )
        dur = ty.get("duration_s") or 0
        w(
            f"<td>{f'{dur:.1f}s' if dur else ''}</td><td class='reason'>"
            f"{escape(ty.get('reason') or '')}{_detail(ty)}</td></tr>"
        )
    w("</tbody></table></div>")
    w(render_matrix_html(cov))
    w("</main>")
    w(
        "<footer>Hover a cell for per-test results. Data: coverage.json "
        f"(schema {escape(cov.get('schema', ''))}).</footer>"
    )
    w(f"<script>{JS}</script>")
    w(f"<script type='application/json' id='totals'>{escape(json.dumps(t))}</script>")
    w("</body></html>\n")
    return "".join(out)


MATRIX_COLORS = {
    "pass": "#2e7d32",
    "mismatch": "#ef6c00",
    "fails-to-run": "#c62828",
    "known-bug": "#6a1b9a",
    "not-applicable": "#e0e0e0",
    "missing-package": "#bdbdbd",
    "no-device": "#eeeeee",
}

MATRIX_JS = """
(function(){
  var f=document.getElementById('bfam'), b=document.getElementById('bbackend'),
      s=document.getElementById('bstatus'), count=document.getElementById('bcount'),
      rows=[].slice.call(document.querySelectorAll('#backends tbody tr'));
  function apply(){
    var n=0;
    rows.forEach(function(r){
      var ok=!f.value||r.getAttribute('data-family')===f.value;
      if(ok&&s.value){
        var cells=b.value?[r.getAttribute('data-'+b.value)]:
          [].slice.call(r.querySelectorAll('td.c')).map(function(c){return c.getAttribute('data-status');});
        ok=cells.indexOf(s.value)>=0;
      }
      r.classList.toggle('hidden',!ok); if(ok) n++;
    });
    count.textContent=n+' of '+rows.length+' model types';
  }
  [f,b,s].forEach(function(e){e.addEventListener('change',apply);}); apply();
})();
"""


def _matrix_title(mt: str, be: str, e: dict[str, Any]) -> str:
    parts = [f"{mt} / {be}: {e['status']}"]
    if e.get("max_rel_diff") is not None:
        parts.append(f"max move {e['max_rel_diff']:.3g} of max|plain|")
    if e.get("category"):
        parts.append(f"category {e['category']}")
    if e.get("graph_breaks") is not None:
        parts.append(f"graph breaks {e['graph_breaks']}")
    parts.append(f"{e.get('duration_s', 0):.2f}s")
    for cls, c in (e.get("classes") or {}).items():
        line = f"{cls}: {c.get('status')}"
        if c.get("reason"):
            line += f" - {str(c['reason'])[:160]}"
        parts.append(line)
    return "\n".join(parts)


def render_matrix_html(cov: dict[str, Any]) -> str:
    """The backend matrix section (types x backends), empty without backend cells."""
    from .coverage import CELL_STATUSES, CELL_SYMBOLS, top_categories

    matrix = cov.get("backends") or {}
    if not matrix:
        return ""
    summary = (cov.get("backend_summary") or {}).get("backends") or {}
    names = list(summary)
    types = cov.get("types", {})
    out: list[str] = []
    w = out.append
    w(
        "<h2>Backend matrix</h2><p style='margin:0;color:#555;font-size:12px'>Each cell: the "
        "type's classes run through the backend vs. the plain model (eager, float32, CPU) at "
        "real positions; the worst class decides. \u2713 pass, \u2260 mismatch, \u2717 fails to "
        "run, \u00b7 not applicable, \u2013 missing package, \u25cb no device. Not counted in the "
        "type's status. Hover a cell for the move, category and per-class reasons.</p>"
    )
    w("<table style='margin:6px 0'><thead><tr><th>backend</th>")
    for s in CELL_STATUSES:
        w(f"<th>{escape(s)}</th>")
    w("<th>time</th><th>top failure categories</th></tr></thead><tbody>")
    for be, row in summary.items():
        cats = top_categories(row)
        w(f"<tr><td class='mt'>{escape(be)}</td>")
        for s in CELL_STATUSES:
            w(f"<td>{row.get(s, 0)}</td>")
        w(f"<td>{row.get('duration_s', 0):.0f}s</td><td>{escape(cats[:200])}</td></tr>")
    w("</tbody></table><div class='controls'>")
    families = sorted({types.get(mt, {}).get("family", "other") for mt in matrix})
    w(_select("bfam", "all families", [(f, f) for f in families]))
    w(_select("bbackend", "any backend", [(b, b) for b in names]))
    w(_select("bstatus", "any status", [(s, s) for s in CELL_STATUSES]))
    w("<span id='bcount'></span></div>")
    w("<div class='wrap'><table id='backends'><thead><tr><th>model type</th><th>family</th>")
    for be in names:
        w(f"<th class='chk'>{escape(be)}</th>")
    w("</tr></thead><tbody>")
    for mt in sorted(matrix):
        row = matrix[mt]
        fam = types.get(mt, {}).get("family", "other")
        attrs = " ".join(
            f"data-{escape(be)}='{escape(row[be]['status'])}'" for be in names if be in row
        )
        w(f"<tr data-family='{escape(fam)}' {attrs}><td class='mt'>{escape(mt)}</td>")
        w(f"<td>{escape(fam)}</td>")
        for be in names:
            e = row.get(be)
            if e is None:
                w("<td class='c' data-status=''></td>")
                continue
            st = e["status"]
            light = " light" if st in ("not-applicable", "missing-package", "no-device") else ""
            w(
                f"<td class='c{light}' data-status='{escape(st)}' "
                f"style='background:{MATRIX_COLORS.get(st, '#999')}' "
                f"title='{escape(_matrix_title(mt, be, e))}'>{CELL_SYMBOLS.get(st, '')}</td>"
            )
        w("</tr>")
    w("</tbody></table></div>")
    w(f"<script>{MATRIX_JS}</script>")
    return "".join(out)
