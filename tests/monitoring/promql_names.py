"""PromQL expressions of the monitoring assets and the metric names in them.

expressions(rules_path, dashboard_path) lists (where, expr) for every alert
and recording rule of a Prometheus rule file and every query of a Grafana
dashboard (panel targets, rows' nested panels, query variables).

metric_names(expr) is a small tokenizer, not a PromQL parser: it drops
string literals ("...", '...', `...`) so label values never count, and
returns the identifiers beginning with wirescope_. Histogram series
suffixes are resolved by resolve(), which strips _bucket/_sum/_count only
when the remaining name is a histogram family of the scrape.
"""
import json
import re

import yaml

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr):
    text = _STRING.sub(" ", expr)
    return sorted({t for t in _IDENT.findall(text) if t.startswith("wirescope_")})


def resolve(name, families):
    """The family a series name belongs to, given families {name: type}."""
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and families.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return None


def scrape_families(text):
    """{family name: type} from the # TYPE lines of a /metrics text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                out[parts[2]] = parts[3]
    return out


def rule_expressions(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            what = r.get("alert") or r.get("record")
            out.append((f"{path}: {g.get('name')}/{what}", r["expr"]))
    return out


def _panels(panels):
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_expressions(path):
    with open(path) as f:
        dash = json.load(f)
    out = []
    for p in _panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((f"{path}: panel {p.get('title')!r} {t.get('refId')}", t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if q:
            out.append((f"{path}: variable ${v.get('name')}", q))
    return out


def expressions(rules_path, dashboard_path):
    return rule_expressions(rules_path) + dashboard_expressions(dashboard_path)


# Grafana's variables as a Prometheus server would see them after Grafana
# substituted them: every job and instance, a rate window, the range.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m", "${datasource}": "",
                '"$job"': '".*"', '"$instance"': '".*"'}


def substitute(expr):
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    return expr


def label_values_query(expr):
    """label_values(SELECTOR, LABEL) of a variable -> the selector as a query,
    or None when expr is not one."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", expr, re.S)
    return m.group(1) if m else None
