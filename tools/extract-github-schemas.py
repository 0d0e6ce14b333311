#!/usr/bin/env python3
"""Extracts the response schemas of the GitHub endpoints ghstats uses from
GitHub's public OpenAPI description (npm package @octokit/openapi) into
libs/simulator/schemas/github-responses.json, converted from OpenAPI 3.0 to
plain JSON Schema (``nullable: true`` becomes a union with ``null``).

Usage: tools/extract-github-schemas.py [PATH-TO/api.github.com.deref.json]
Without a path it runs ``npm pack @octokit/openapi`` in a temporary folder.
"""
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile

# (key, path, method, status) of every response the simulator serves.
ENDPOINTS = [
    ("list_org_repos", "/orgs/{org}/repos", "get", "200"),
    ("list_commits", "/repos/{owner}/{repo}/commits", "get", "200"),
    ("get_commit", "/repos/{owner}/{repo}/commits/{ref}", "get", "200"),
    ("list_pulls", "/repos/{owner}/{repo}/pulls", "get", "200"),
    ("list_reviews", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "get", "200"),
    ("list_issue_comments", "/repos/{owner}/{repo}/issues/comments", "get", "200"),
    ("contributor_stats", "/repos/{owner}/{repo}/stats/contributors", "get", "200"),
    ("rate_limit", "/rate_limit", "get", "200"),
    ("create_installation_token", "/app/installations/{installation_id}/access_tokens", "post", "201"),
    ("list_app_hook_deliveries", "/app/hook/deliveries", "get", "200"),
    ("redeliver_app_hook_delivery", "/app/hook/deliveries/{delivery_id}/attempts", "post", "202"),
]


def to_json_schema(node):
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: to_json_schema(v) for k, v in node.items() if k not in ("example", "examples")}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = node["enum"] + [None]
        else:
            return {"anyOf": [node, {"type": "null"}]}
    return node


def load_description(arg):
    if arg:
        return json.load(open(arg))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "@octokit/openapi"], cwd=tmp, check=True, capture_output=True)
        tgz = next(pathlib.Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            member = tar.getmember("package/generated/api.github.com.deref.json")
            return json.load(tar.extractfile(member))


def main():
    spec = load_description(sys.argv[1] if len(sys.argv) > 1 else None)
    out = {"source": "@octokit/openapi api.github.com.deref.json (OpenAPI " + spec["openapi"] + ")", "schemas": {}}
    for key, path, method, status in ENDPOINTS:
        response = spec["paths"][path][method]["responses"][status]
        schema = response["content"]["application/json"]["schema"]
        out["schemas"][key] = to_json_schema(schema)
    target = pathlib.Path(__file__).resolve().parent.parent / "libs/simulator/schemas/github-responses.json"
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target} ({len(out['schemas'])} schemas)")


if __name__ == "__main__":
    main()
