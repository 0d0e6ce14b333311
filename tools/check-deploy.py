#!/usr/bin/env python3
"""Checks the invariants of the rendered Kubernetes overlays and the
Grafana dashboards that schema validation cannot see.

usage: check-deploy.py NONPROD.yaml PROD.yaml DASHBOARD.json...
"""
import json
import re
import sys

import yaml

SERVICES = ("scheduler", "worker", "gateway")
SHUTDOWN_GRACE_SECONDS = 20
# Replicas per overlay as designed (prod workers and gateways also get HPAs).
REPLICAS = {
    "nonprod": {"scheduler": 1, "worker": 1, "gateway": 1},
    "prod": {"scheduler": 2, "worker": 3, "gateway": 3},
}
HPA = {"nonprod": set(), "prod": {"worker", "gateway"}}

problems = []


def fail(where, what):
    problems.append(f"{where}: {what}")


def by_kind(objects, kind):
    return [o for o in objects if o and o.get("kind") == kind]


def component(obj):
    return obj["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")


def check_deployment(overlay, d):
    name = f"{overlay}/{d['metadata']['name']}"
    pod = d["spec"]["template"]["spec"]
    sc = pod.get("securityContext", {})
    if not sc.get("runAsNonRoot"):
        fail(name, "pod securityContext must set runAsNonRoot")
    if pod.get("terminationGracePeriodSeconds", 30) <= SHUTDOWN_GRACE_SECONDS:
        fail(name, "terminationGracePeriodSeconds must exceed the shutdown grace period")
    for c in pod["containers"]:
        for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
            got = c.get(probe, {}).get("httpGet", {}).get("path")
            if got != path:
                fail(name, f"{probe} must GET {path}, has {got}")
        csc = c.get("securityContext", {})
        if csc.get("allowPrivilegeEscalation") is not False:
            fail(name, "allowPrivilegeEscalation must be false")
        if csc.get("readOnlyRootFilesystem") is not True:
            fail(name, "readOnlyRootFilesystem must be true")
        if "ALL" not in csc.get("capabilities", {}).get("drop", []):
            fail(name, "all capabilities must be dropped")
    comp = component(d)
    if comp in ("worker", "gateway") and pod.get("automountServiceAccountToken") is not False:
        fail(name, "needs no API access: automountServiceAccountToken must be false")


def check_overlay(overlay, objects):
    deployments = {component(d): d for d in by_kind(objects, "Deployment")}
    if set(deployments) != set(SERVICES):
        fail(overlay, f"expected Deployments of {SERVICES}, found {sorted(deployments)}")
    for d in deployments.values():
        check_deployment(overlay, d)
        want = REPLICAS[overlay][component(d)]
        if d["spec"]["replicas"] != want:
            fail(overlay, f"{component(d)} replicas {d['spec']['replicas']}, designed {want}")
    hpas = {h["spec"]["scaleTargetRef"]["name"].removeprefix("github-stats-") for h in by_kind(objects, "HorizontalPodAutoscaler")}
    if hpas != HPA[overlay]:
        fail(overlay, f"HPAs for {sorted(hpas)}, designed {sorted(HPA[overlay])}")
    pdbs = {p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") for p in by_kind(objects, "PodDisruptionBudget")}
    if not set(SERVICES) <= pdbs:
        fail(overlay, f"every service needs a PodDisruptionBudget, found {sorted(p for p in pdbs if p)}")
    metrics = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "github-stats-metrics"]
    if len(metrics) != 1:
        fail(overlay, "exactly one github-stats-metrics Service")
    elif metrics[0]["spec"]["selector"] != {"app.kubernetes.io/name": "github-stats", "app.kubernetes.io/component": "gateway"}:
        fail(overlay, f"github-stats-metrics must select only gateway pods: {metrics[0]['spec']['selector']}")
    for svc in ("scheduler", "worker"):
        headless = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == f"github-stats-{svc}-grpc"]
        if not headless or headless[0]["spec"].get("clusterIP") != "None":
            fail(overlay, f"headless gRPC Service for {svc} pods missing")
    for role in by_kind(objects, "Role"):
        for rule in role["rules"]:
            if rule.get("resources") != ["leases"] or rule.get("apiGroups") != ["coordination.k8s.io"]:
                fail(overlay, f"Role {role['metadata']['name']} may only manage leases: {rule}")
    check_lease(overlay, objects, deployments)
    if overlay == "prod":
        policies = {p["metadata"]["name"] for p in by_kind(objects, "NetworkPolicy")}
        if "default-deny" not in policies:
            fail(overlay, "prod needs a default-deny NetworkPolicy")
        config = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("github-stats-config")]
        store = yaml.safe_load(config[0]["data"]["config.yaml"])["store"] if config else {}
        if store.get("redis_mode") != "sentinel":
            fail(overlay, "prod store must use Redis Sentinel")
        sentinels = [s for s in by_kind(objects, "StatefulSet") if s["metadata"]["name"] == "redis"]
        if not sentinels or sentinels[0]["spec"]["replicas"] != 3:
            fail(overlay, "prod Redis needs 3 pods (3 sentinels)")


def check_lease(overlay, objects, deployments):
    """With the Kubernetes lease, the scheduler's ServiceAccount is bound to
    a Role that may get, create and update Leases, its pods mount the token,
    and a NetworkPolicy lets them reach the API server (443 or 6443)."""
    config = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("github-stats-config")]
    election = yaml.safe_load(config[0]["data"]["config.yaml"]).get("leader_election", {}) if config else {}
    if election.get("backend") != "kubernetes":
        fail(overlay, f"the overlays elect over a coordination.k8s.io Lease, found {election.get('backend')!r}")
        return
    pod = deployments["scheduler"]["spec"]["template"]["spec"]
    account = pod.get("serviceAccountName")
    if not account or pod.get("automountServiceAccountToken") is False:
        fail(overlay, "the scheduler needs its ServiceAccount token for the Lease")
    roles = {r["metadata"]["name"]: r for r in by_kind(objects, "Role")}
    granted = set()
    for binding in by_kind(objects, "RoleBinding"):
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account for s in binding.get("subjects", [])):
            continue
        for rule in roles.get(binding["roleRef"]["name"], {}).get("rules", []):
            if "leases" in rule.get("resources", []) and "coordination.k8s.io" in rule.get("apiGroups", []):
                granted |= set(rule.get("verbs", []))
    missing = {"get", "create", "update"} - granted
    if missing:
        fail(overlay, f"ServiceAccount {account} may not {sorted(missing)} Leases")
    policies = by_kind(objects, "NetworkPolicy")
    if any(p["spec"].get("podSelector") == {} and "Egress" in p["spec"].get("policyTypes", []) and not p["spec"].get("egress") for p in policies):
        reaches = any(
            p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == "scheduler"
            and any(port.get("port") in (443, 6443) for rule in p["spec"].get("egress", []) for port in rule.get("ports", []))
            for p in policies
        )
        if not reaches:
            fail(overlay, "default-deny egress: schedulers need a NetworkPolicy to the API server (443/6443)")


RULES = "deploy/prometheus/rules/ghstats.rules.yml"


def recorded_names():
    """The series the recording rules produce."""
    groups = yaml.safe_load(open(RULES))["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def check_dashboard(path):
    board = json.load(open(path))
    if not board.get("uid") or not board.get("panels"):
        fail(path, "a dashboard needs a uid and panels")
    recorded = recorded_names()
    for p in board.get("panels", []):
        for t in p.get("targets", []):
            if not t.get("expr"):
                fail(path, f"panel {p.get('title')} has an empty query")
            # A recorded series (level:metric:operation) must have its rule.
            for name in re.findall(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", t.get("expr", "")):
                if name not in recorded:
                    fail(path, f"panel {p.get('title')} reads {name}, which no rule in {RULES} records")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    overlays = {"nonprod": sys.argv[1], "prod": sys.argv[2]}
    for overlay, path in overlays.items():
        check_overlay(overlay, list(yaml.safe_load_all(open(path))))
    for path in sys.argv[3:]:
        check_dashboard(path)
    for p in problems:
        print(f"check-deploy: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-deploy: {len(overlays)} overlays and {len(sys.argv) - 3} dashboards hold their invariants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
