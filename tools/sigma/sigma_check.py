#!/usr/bin/env python3
"""Load every Sigma rule of the detection pack with pySigma, convert it with
pysigma-backend-clickhouse, and (with --url) check that each converted query
returns the same events as the hand-written SQL detection of the same name.

NOT run in CI: PyPI is not reachable from the project's machines, so this
script has never been executed. The executable check of the rules today is
e2e/clickhouse/sigma_test.go (sigma-go). See detections/sigma/README.md.

Usage:
  python3 -m venv .venv && . .venv/bin/activate
  pip install -r tools/sigma/requirements.txt
  python3 tools/sigma/sigma_check.py                      # load + convert, print the SQL
  python3 tools/sigma/sigma_check.py --url http://localhost:8123 --database otel \\
      --organization my-org --from "2026-09-01 00:00:00" --to "2026-10-01 00:00:00" \\
      --collector-token-last4 abcd                       # + agreement with the SQL pack

The rules name fields as in the Hub's event (type, author.user, ip,
token.last4, data.*). The processing pipeline maps the top-level ones to
huggingface_logs columns; data.* paths have no column, so the script creates a
view, huggingface_sigma, that adds one Nullable column per data path the rules
use (data.sso.enabled -> data__sso__enabled, extracted from rawLog).
"""

import argparse
import json
import pathlib
import sys
import urllib.parse
import urllib.request

import yaml
from sigma.backends.clickhouse import ClickhouseBackend
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    FieldMappingTransformation,
    ValueListPlaceholderTransformation,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "detections" / "sigma"
VIEW = "huggingface_sigma"

# Hub event field -> huggingface_logs column (clickhouse/README.md).
COLUMNS = {
    "_id": "id",
    "type": "eventName",
    "message": "message",
    "ip": "actorIP",
    "userAgent": "tags['user_agent']",
    "author._id": "authorID",
    "author.user": "authorUser",
    "author.type": "authorType",
    "token.id": "tokenID",
    "token.role": "tokenRole",
    "token.last4": "tokenLast4",
    "location.country": "locationCountry",
}


def data_fields(docs):
    """Every data.* field the rules use, with the ClickHouse type of its values."""
    out = {}
    for doc in docs:
        for name, search in doc["detection"].items():
            if name == "condition":
                continue
            for matcher in search if isinstance(search, list) else [search]:
                for key, value in matcher.items():
                    field = key.split("|")[0]
                    if not field.startswith("data."):
                        continue
                    values = value if isinstance(value, list) else [value]
                    if all(v is None for v in values):
                        typ = "raw"  # only tested for presence: any JSON value
                    elif all(isinstance(v, bool) for v in values):
                        typ = "Nullable(Bool)"
                    else:
                        typ = "Nullable(String)"
                    out[field] = typ
    return out


def column_for(field):
    return field.replace(".", "__")


def extract(field, typ):
    path = ", ".join("'%s'" % p for p in field.split("."))
    if typ == "raw":  # absent or JSON null -> NULL, anything else -> its JSON text
        return f"nullIf(nullIf(JSONExtractRaw(rawLog, {path}), ''), 'null')"
    return f"JSONExtract(rawLog, {path}, '{typ}')"


def view_sql(database, fields):
    cols = ",\n    ".join(f"{extract(f, typ)} AS {column_for(f)}" for f, typ in sorted(fields.items()))
    return (
        f"CREATE OR REPLACE VIEW `{database}`.{VIEW} AS\nSELECT *,\n    {cols}\n"
        f"FROM `{database}`.huggingface_logs FINAL"
    )


def pipeline(fields, placeholders):
    mapping = dict(COLUMNS)
    mapping.update({f: column_for(f) for f in fields})
    return ProcessingPipeline(
        name="huggingface_logs",
        priority=20,
        items=[
            ProcessingItem(identifier="hf_placeholders", transformation=ValueListPlaceholderTransformation()),
            ProcessingItem(identifier="hf_columns", transformation=FieldMappingTransformation(mapping)),
        ],
        vars=placeholders,
    )


def post(url, sql, params=None):
    q = {"default_format": "JSONEachRow"}
    q.update({"param_" + k: v for k, v in (params or {}).items()})
    req = urllib.request.Request(url + "/?" + urllib.parse.urlencode(q), data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="ClickHouse HTTP URL; without it, only load and convert")
    ap.add_argument("--database", default="otel")
    ap.add_argument("--organization", default="")
    ap.add_argument("--from", dest="from_", default="1970-01-01 00:00:00")
    ap.add_argument("--to", default="2100-01-01 00:00:00")
    ap.add_argument("--collector-token-last4", default="")
    args = ap.parse_args()

    files = sorted(RULES.glob("*.yml"))
    docs = [yaml.safe_load(f.read_text()) for f in files]
    collection = SigmaCollection.from_yaml("\n---\n".join(f.read_text() for f in files), collect_errors=True)
    errors = [e for rule in collection.rules for e in rule.errors]
    if errors or len(collection.rules) != len(files):
        for e in errors:
            print("load error:", e, file=sys.stderr)
        return 1
    print(f"loaded {len(files)} rules")

    fields = data_fields(docs)
    placeholders = {
        "organization_repo_prefix": [args.organization + "/"],
        "collector_token_last4": [args.collector_token_last4],
    }
    backend = ClickhouseBackend(pipeline(fields, placeholders), table_name=f"`{args.database}`.{VIEW}")
    view = view_sql(args.database, fields)
    print(view + ";\n")
    queries = {}
    for f, rule in zip(files, collection.rules):
        (query,) = backend.convert_rule(rule)
        queries[f.stem] = query
        print(f"-- {f.stem}\n{query};\n")

    if not args.url:
        return 0
    post(args.url, view)
    failed = 0
    for name, query in queries.items():
        scope = (
            f"SELECT id FROM ({query}) WHERE workspaceID = {{org:String}}"
            " AND eventTime >= {from:DateTime} AND eventTime < {to:DateTime}"
        )
        params = {"org": args.organization, "from": args.from_, "to": args.to}
        sigma_ids = sorted(r["id"] for r in post(args.url, scope, params))
        meta = yaml.safe_load((ROOT / "detections" / f"{name}.yaml").read_text())
        sql = (ROOT / "detections" / meta["file"]).read_text()
        dparams = {k: str(v["default"] if isinstance(v, dict) else v) for k, v in (meta.get("parameters") or {}).items()}
        dparams.update({"from": args.from_, "to": args.to})
        rows = post_db(args, sql, dparams)
        sql_ids = sorted(i for r in rows if r["organization"] == args.organization for i in r["event_ids"])
        ok = sigma_ids == sql_ids
        failed += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {name}: sigma {len(sigma_ids)} events, SQL {len(sql_ids)} events")
    return 1 if failed else 0


def post_db(args, sql, params):
    q = {"database": args.database, "default_format": "JSONEachRow"}
    q.update({"param_" + k: v for k, v in params.items()})
    req = urllib.request.Request(args.url + "/?" + urllib.parse.urlencode(q), data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


if __name__ == "__main__":
    sys.exit(main())
