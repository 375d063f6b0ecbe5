"""Monitoring files of deploy/monitoring (issue 14): the alert rules pass `promtool check rules`
and their unit tests (`promtool test rules`: each alert fires on the series that should trigger it
and stays silent on healthy ones); every Grafana panel query parses as PromQL (promtool, through a
generated rule file) and uses only metric names /metrics exports (src/facefuse/server/metrics.cpp);
the compose Prometheus configuration passes `promtool check config`. A broken query must fail.

Environment: FACEFUSE_SOURCE_DIR.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE_DIR = os.environ.get("FACEFUSE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MONITORING = os.path.join(SOURCE_DIR, "deploy", "monitoring")
# PromQL functions, keywords and Grafana variables: not metric names.
NOT_METRICS = {"sum", "rate", "max", "min", "by", "le", "histogram_quantile", "clamp_min", "and", "or", "absent",
               "status", "route", "state", "job", "instance", "gpu", "__rate_interval", "m", "e"}


def exported_metrics():
    with open(os.path.join(SOURCE_DIR, "src", "facefuse", "server", "metrics.cpp")) as f:
        names = set(re.findall(r'\.Name\("([a-z_]+)"\)', f.read()))
    histograms = {"http_request_duration_seconds", "job_queue_wait_seconds", "job_processing_seconds"}
    assert histograms <= names, names
    return names | {f"{h}_{s}" for h in histograms for s in ("bucket", "sum", "count")} | {"up"}


def promtool(*args, cwd=None):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def queries_as_rules(exprs):
    """A rule file with one recording rule per query ($__rate_interval → 5m), for promtool to parse."""
    rules = [{"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")} for i, e in enumerate(exprs)]
    return json.dumps({"groups": [{"name": "dashboard", "rules": rules}]})  # JSON is YAML


class Monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="facefuse-monitoring-test-")
        with open(os.path.join(MONITORING, "grafana-dashboard.json")) as f:
            cls.dashboard = json.load(f)
        cls.exprs = [t["expr"] for p in cls.dashboard["panels"] for t in p["targets"]]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_queries(self, exprs):
        path = os.path.join(self.tmp, "dashboard_rules.yml")
        with open(path, "w") as f:
            f.write(queries_as_rules(exprs))
        return promtool("check", "rules", path)

    def test_alert_rules_check_and_unit_tests(self):
        r = promtool("check", "rules", "alerts.yml", cwd=MONITORING)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = promtool("test", "rules", "alerts_test.yml", cwd=MONITORING)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_dashboard_queries_parse_and_use_exported_metrics(self):
        self.assertGreaterEqual(len(self.dashboard["panels"]), 10)
        r = self.check_queries(self.exprs)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        exported = exported_metrics()
        with open(os.path.join(MONITORING, "alerts.yml")) as f:
            alert_exprs = re.findall(r"expr: \|?\s*\n?((?:.+\n)+?)\s+for:", f.read())
        for expr in self.exprs + alert_exprs:
            without_strings = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]', " ", expr)
            for name in re.findall(r"[a-z_][a-z0-9_]*", without_strings):
                if name not in NOT_METRICS and not name.startswith("__"):
                    self.assertIn(name, exported, f"'{name}' in {expr!r} is not exported by /metrics")
        titles = " ".join(p["title"].lower() for p in self.dashboard["panels"])
        for topic in ("request rate", "latency", "status", "queue depth", "processing", "workers", "gpu"):
            self.assertIn(topic, titles)

    def test_a_broken_query_fails(self):
        r = self.check_queries(["sum(rate(http_requests_total[5m])"])
        self.assertNotEqual(r.returncode, 0)

    def test_compose_prometheus_config(self):
        config_dir = os.path.join(self.tmp, "prometheus")
        os.makedirs(config_dir, exist_ok=True)
        with open(os.path.join(MONITORING, "prometheus.yml")) as f:
            config = f.read().replace("/etc/prometheus/facefuse-alerts.yml", os.path.join(MONITORING, "alerts.yml"))
        path = os.path.join(config_dir, "prometheus.yml")
        with open(path, "w") as f:
            f.write(config)
        r = promtool("check", "config", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
