"""Kubernetes manifests checked offline (issue 14): both overlays render (deploy/k8s/render.py) and
every object passes the schema and unknown-field check of deploy/k8s/validate/validate.mjs
(npm kubernetes-models, locked in deploy/k8s/validate/package-lock.json, installed by
scripts/setup with `npm ci`). Deliberately broken objects must fail it. The properties the
rollout depends on are asserted on the rendered objects (probes, maxUnavailable 0, grace period
longer than a chunk, GPU scheduling only in the gpu overlay, workers without inbound traffic).

Environment: FACEFUSE_SOURCE_DIR.
"""
import copy
import json
import os
import subprocess
import unittest

SOURCE_DIR = os.environ.get("FACEFUSE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(SOURCE_DIR, "deploy", "k8s")
CHUNK_SECONDS_OF_WORK = 60  # one 10 s chunk of 1080p video on a CPU node, docs/deploy.md


def render(overlay):
    out = subprocess.run(["/usr/bin/python3", os.path.join(K8S, "render.py"), os.path.join(K8S, "overlays", overlay),
                          "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def validate(objects):
    """(exit code, problem lines) of validate.mjs on the objects."""
    r = subprocess.run(["node", os.path.join(K8S, "validate", "validate.mjs")], input=json.dumps(objects),
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout.splitlines()


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


class Overlays(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cpu = render("cpu")
        cls.gpu = render("gpu")

    def test_every_object_passes_schema_and_unknown_field_checks(self):
        for name, objects in (("cpu", self.cpu), ("gpu", self.gpu)):
            code, problems = validate(objects)
            self.assertEqual(code, 0, f"{name}: {problems}")
            kinds = {o["kind"] for o in objects}
            self.assertTrue({"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "ScaledObject",
                             "PodDisruptionBudget", "NetworkPolicy", "ConfigMap", "Job"} <= kinds, kinds)

    def test_broken_manifests_fail(self):
        breakages = {
            "misspelt field": lambda o: find(o, "Deployment", "facefuse-api")["spec"].update(replica=2),
            "wrong type": lambda o: find(o, "Deployment", "facefuse-api")["spec"].update(replicas="two"),
            "missing required": lambda o: find(o, "Deployment", "facefuse-worker")["spec"]["template"]["spec"]
            .pop("containers"),
            "bad enum": lambda o: find(o, "Deployment", "facefuse-api")["spec"]["strategy"].update(type="Sideways"),
            "unknown probe field": lambda o: find(o, "Deployment", "facefuse-api")["spec"]["template"]["spec"]
            ["containers"][0]["readinessProbe"].update(httpGett={"path": "/readyz"}),
            "scaledobject typo": lambda o: find(o, "ScaledObject", "facefuse-worker")["spec"].update(maxReplicas=3),
            "unknown kind": lambda o: o.append({"apiVersion": "v1", "kind": "Pood", "metadata": {"name": "x"}}),
        }
        for what, breaking in breakages.items():
            objects = copy.deepcopy(self.cpu)
            breaking(objects)
            code, problems = validate(objects)
            self.assertEqual(code, 1, f"{what}: passed the check")
            self.assertTrue(problems, what)

    def test_api_rollout_properties(self):
        api = find(self.cpu, "Deployment", "facefuse-api")
        self.assertEqual(api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        container = api["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertIn("startupProbe", container)
        self.assertIn("preStop", container["lifecycle"])
        self.assertTrue(api["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"])
        for c in (container, find(self.cpu, "Deployment", "facefuse-worker")["spec"]["template"]["spec"]["containers"][0]):
            self.assertTrue({"cpu", "memory"} <= set(c["resources"]["requests"]), c["name"])
            self.assertTrue({"cpu", "memory"} <= set(c["resources"]["limits"]), c["name"])
            refs = [e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if "valueFrom" in e]
            self.assertIn("database-url", refs)

    def test_workers_drain_longer_than_a_chunk_and_take_no_inbound_traffic(self):
        for objects in (self.cpu, self.gpu):
            pod = find(objects, "Deployment", "facefuse-worker")["spec"]["template"]["spec"]
            self.assertGreater(pod["terminationGracePeriodSeconds"], CHUNK_SECONDS_OF_WORK)
            args = pod["containers"][0]["args"]
            self.assertEqual(args[0], "worker")
            grace = int(args[args.index("--grace-seconds") + 1])
            self.assertLess(grace, pod["terminationGracePeriodSeconds"])  # drains before the kubelet kills
            policy = find(objects, "NetworkPolicy", "facefuse-worker-no-ingress")["spec"]
            self.assertEqual(policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"], "worker")
            self.assertEqual([p["port"] for rule in policy["ingress"] for p in rule["ports"]], [9090])

    def test_gpu_scheduling_only_in_the_gpu_overlay(self):
        gpu = find(self.gpu, "Deployment", "facefuse-worker")["spec"]["template"]["spec"]
        self.assertEqual(gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], "1")
        self.assertTrue(any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"]))
        self.assertIn("preferredDuringSchedulingIgnoredDuringExecution", gpu["affinity"]["nodeAffinity"])
        self.assertTrue(gpu["containers"][0]["image"].endswith("-cuda"))
        self.assertFalse(find(self.gpu, "Deployment", "facefuse-api")["spec"]["template"]["spec"]["containers"][0]
                         ["image"].endswith("-cuda"))
        cpu = find(self.cpu, "Deployment", "facefuse-worker")["spec"]["template"]["spec"]
        self.assertNotIn("nvidia.com/gpu", cpu["containers"][0]["resources"]["limits"])
        self.assertNotIn("tolerations", cpu)

    def test_keda_scales_workers_on_the_exported_queue_depth(self):
        scaled = find(self.cpu, "ScaledObject", "facefuse-worker")["spec"]
        self.assertEqual(scaled["scaleTargetRef"]["name"], "facefuse-worker")
        query = scaled["triggers"][0]["metadata"]["query"]
        # The metric name is the one /metrics exports (src/facefuse/server/metrics.cpp).
        with open(os.path.join(SOURCE_DIR, "src", "facefuse", "server", "metrics.cpp")) as f:
            self.assertIn('.Name("queue_depth")', f.read())
        self.assertIn("queue_depth", query)


if __name__ == "__main__":
    unittest.main(verbosity=2)
