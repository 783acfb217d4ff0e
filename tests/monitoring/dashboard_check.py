"""The Grafana assets without a Grafana server: the dashboard JSON and the
provisioning files are what Grafana's file provisioner accepts, and every
query follows the dashboard's conventions.

  - dashboard: a uid, a title, schemaVersion 36 or later; the variables
    datasource (type datasource, prometheus), job and instance (query
    variables on that data source, multi-value with an All of .*);
  - panels: unique ids; gridPos inside the 24-column grid, not overlapping;
    every non-row panel and every target uses the data source by the
    ${datasource} uid; targets have unique refIds and an expr;
  - every series selector of a wirescope_ metric in a panel query is
    restricted by job=~"$job" and instance=~"$instance" (else a panel
    silently mixes agents the viewer did not pick);
  - the rows asked for are there: Traffic, Drops, Flows, Alerts and rules,
    Export, QoS, GNS3;
  - provisioning: the datasource file declares a prometheus data source
    with a uid; the dashboard provider is a file provider with a path.

argv: DASHBOARD_JSON DATASOURCES_YAML DASHBOARDS_PROVIDER_YAML
"""
import json
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promql_names  # noqa: E402

DS_UID = "${datasource}"
ROWS = ["Traffic", "Drops", "Flows", "Alerts and rules", "Export", "QoS", "GNS3"]


def selectors(expr):
    """(metric, label matchers text) for every wirescope_ selector of expr."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: "S" * len(m.group(0)), expr)  # same offsets, no braces inside
    out = []
    for m in re.finditer(r"\b(wirescope_[A-Za-z0-9_]*)\s*(\{)?", text):
        if m.group(2):
            end = text.index("}", m.end())
            out.append((m.group(1), expr[m.end():end]))
        else:
            out.append((m.group(1), ""))
    return out


def check(dash_path, ds_path, prov_path):
    errors = []
    with open(dash_path) as f:
        try:
            dash = json.load(f)
        except ValueError as e:
            return [f"{dash_path}: not JSON: {e}"]
    if not dash.get("uid") or not dash.get("title"):
        errors.append(f"{dash_path}: uid and title are required")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        errors.append(f"{dash_path}: schemaVersion {dash.get('schemaVersion')!r}, want 36 or later")
    if dash.get("id") is not None:
        errors.append(f"{dash_path}: id must be null (Grafana assigns it)")

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        errors.append(f"{dash_path}: variable datasource must be of type datasource, query prometheus: {ds}")
    for name in ("job", "instance"):
        v = variables.get(name)
        if not v:
            errors.append(f"{dash_path}: no ${name} variable")
            continue
        if v.get("type") != "query" or v.get("datasource", {}).get("uid") != DS_UID:
            errors.append(f"{dash_path}: ${name} must be a query variable on ${{datasource}}")
        if not (v.get("multi") and v.get("includeAll") and v.get("allValue") == ".*"):
            errors.append(f"{dash_path}: ${name} must be multi-value with All = .*")
    q = variables.get("instance", {}).get("query", {})
    q = q.get("query") if isinstance(q, dict) else q
    if q and "$job" not in q:
        errors.append(f"{dash_path}: $instance does not follow $job: {q}")

    ids, cells, rows = set(), {}, []
    for p in promql_names._panels(dash.get("panels", [])):
        where = f"{dash_path}: panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            errors.append(f"{where}: duplicate id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            errors.append(f"{where}: gridPos needs integer x, y, w, h: {g}")
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            errors.append(f"{where}: gridPos outside the 24-column grid: {g}")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"{where}: overlaps panel {cells[(x, y)]} at column {x}, row {y}")
                    break
                cells[(x, y)] = p.get("id")
            else:
                continue
            break
        if p.get("type") == "row":
            rows.append(p.get("title", ""))
            continue
        if p.get("datasource", {}).get("uid") != DS_UID:
            errors.append(f"{where}: datasource {p.get('datasource')}, want uid {DS_UID}")
        targets = p.get("targets", [])
        if not targets:
            errors.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            errors.append(f"{where}: refIds must be unique and set: {refs}")
        for t in targets:
            if t.get("datasource", {}).get("uid") != DS_UID:
                errors.append(f"{where} {t.get('refId')}: target datasource {t.get('datasource')}")
            expr = t.get("expr", "")
            if not expr.strip():
                errors.append(f"{where} {t.get('refId')}: empty expr")
            if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                errors.append(f"{where} {t.get('refId')}: unbalanced brackets: {expr}")
            for metric, matchers in selectors(expr):
                if 'job=~"$job"' not in matchers or 'instance=~"$instance"' not in matchers:
                    errors.append(f"{where} {t.get('refId')}: {metric} is not restricted to $job and $instance: {expr}")
    for r in ROWS:
        if not any(title.startswith(r) for title in rows):
            errors.append(f"{dash_path}: no row {r!r} (rows: {rows})")

    with open(ds_path) as f:
        d = yaml.safe_load(f)
    srcs = d.get("datasources", []) if isinstance(d, dict) else []
    if d.get("apiVersion") != 1 or not any(s.get("type") == "prometheus" and s.get("uid") and s.get("url")
                                           for s in srcs):
        errors.append(f"{ds_path}: want apiVersion 1 and a prometheus data source with uid and url: {d}")
    with open(prov_path) as f:
        d = yaml.safe_load(f)
    provs = d.get("providers", []) if isinstance(d, dict) else []
    if d.get("apiVersion") != 1 or not any(p.get("type") == "file" and p.get("options", {}).get("path")
                                           for p in provs):
        errors.append(f"{prov_path}: want apiVersion 1 and a file provider with options.path: {d}")
    return errors


def main():
    if len(sys.argv) != 4:
        print("usage: dashboard_check.py DASHBOARD_JSON DATASOURCES_YAML DASHBOARDS_PROVIDER_YAML", file=sys.stderr)
        return 2
    errors = check(*sys.argv[1:])
    for e in errors:
        print("FAIL:", e)
    if not errors:
        n = len(promql_names.dashboard_expressions(sys.argv[1]))
        print(f"dashboard and provisioning: ok ({n} queries)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
