"""The landing page at ``/``: the node's name and where its APIs are."""

from __future__ import annotations

from html import escape
from typing import Any


def landing_page(facts: dict[str, Any]) -> bytes:
    node = facts["node"]
    roots = "".join(
        f"<li><code>/taxii2/{escape(r.path)}/</code> — {escape(r.title)}</li>"
        for r in facts["roots"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(node.name)} — Bayanihan node</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem;
       color: #1d2a33; line-height: 1.5; }}
h1 {{ margin-bottom: .2rem; }} .muted {{ color: #5b6b75; }}
code {{ background: #eef2f4; padding: .1rem .3rem; border-radius: 3px; }}
</style></head>
<body>
<h1>{escape(node.name)}</h1>
<p class="muted">Bayanihan node · {escape(node.country)} · node identity
<code>{escape(node.identity_id)}</code></p>
<h2>Share with this node</h2>
<ul>
<li><a href="/taxii2/">TAXII 2.1 discovery</a> (<code>/taxii2/</code>), for TAXII clients,
SIEMs, MISP and OpenCTI. API roots:<ul>{roots}</ul></li>
<li><a href="/api/v1/docs">REST API documentation</a> and the
<a href="/api/v1/openapi.json">OpenAPI document</a>.</li>
</ul>
<p>Every API needs a key: <code>Authorization: Bearer KEY</code>, or HTTP Basic with any user name
and the key as password. An administrator creates keys with <code>bayanihan key add</code>.</p>
<p class="muted">{facts["orgs"]} organisations registered ·
{facts["public_objects"]} TLP:CLEAR objects.</p>
</body></html>
""".encode()
