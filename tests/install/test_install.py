"""The installed tree (issue 11 item 5): `cmake --install` into a temporary prefix, moved elsewhere
(relocatable), then `facefuse run` and `facefuse serve` as an unprivileged user (nobody) with a
fresh HOME. The build-tree binary's RUNPATH points into root's 0700 cache and fails for any other
user with "libonnxruntime.so.1: cannot open shared object file"; the installed one must not.

Environment (tests/CMakeLists.txt): FACEFUSE_BUILD_DIR, CMAKE_COMMAND, FACEFUSE_TESTDATA.
Run as root to test another user (otherwise the current user runs the installed tree).
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

BUILD_DIR = os.environ["FACEFUSE_BUILD_DIR"]
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")
TESTDATA = os.environ.get("FACEFUSE_TESTDATA", os.path.expanduser("~/.cache/facefuse/testdata"))
AS_NOBODY = os.geteuid() == 0


class InstalledTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="facefuse-install-test-")
        os.chmod(cls.root, 0o755)  # nobody must be able to reach the prefix
        staging = os.path.join(cls.root, "staging")
        subprocess.run([CMAKE, "--install", BUILD_DIR, "--prefix", staging], check=True, stdout=subprocess.DEVNULL)
        # Relocatable: the tree works wherever it is moved to.
        cls.prefix = os.path.join(cls.root, "opt", "facefuse")
        os.makedirs(os.path.dirname(cls.prefix))
        shutil.move(staging, cls.prefix)
        cls.binary = os.path.join(cls.prefix, "bin", "facefuse")
        # Inputs readable by the other user (the test data cache lives under root's home).
        cls.inputs = os.path.join(cls.root, "inputs")
        os.makedirs(cls.inputs)
        for name in ("photos/astronaut.png", "dlib_faces/Tom_Cruise_avp_2014_4.jpg"):
            shutil.copy(os.path.join(TESTDATA, name), cls.inputs)
        cls.user = pwd.getpwnam("nobody") if AS_NOBODY else pwd.getpwuid(os.geteuid())
        cls.home = os.path.join(cls.root, "home")
        cls.work = os.path.join(cls.root, "work")
        for d in (cls.home, cls.work):
            os.makedirs(d)
            os.chown(d, cls.user.pw_uid, cls.user.pw_gid)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def command(self, *args):
        """facefuse ARGS as the test user, with only the environment a fresh login would have."""
        prefix = []
        if AS_NOBODY:
            prefix = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--clear-groups"]
        return prefix + ["env", "-i", f"HOME={self.home}", "PATH=/usr/bin:/bin", f"TMPDIR={self.work}",
                         self.binary] + list(args)

    def test_layout_and_runpath(self):
        for path in ("bin/facefuse", "lib/facefuse/libonnxruntime.so.1", "lib/facefuse/libonnxruntime_providers_shared.so",
                     "share/facefuse/models/blazeface_back_256.onnx", "share/facefuse/models/dlib_shape_predictor_68.dat",
                     "share/doc/facefuse/THIRD_PARTY.md", "share/doc/facefuse/onnxruntime-LICENSE"):
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, path)), path)
        dynamic = subprocess.run(["readelf", "-d", self.binary], check=True, capture_output=True, text=True).stdout
        self.assertIn("[$ORIGIN/../lib/facefuse]", dynamic)
        self.assertNotIn("/root/", dynamic)
        ldd = subprocess.run(["ldd", self.binary], check=True, capture_output=True, text=True).stdout
        ort = re.search(r"libonnxruntime\.so\.1 => (\S+)", ldd)
        self.assertTrue(ort, "libonnxruntime.so.1 not resolved")
        self.assertEqual(os.path.realpath(ort.group(1)),
                         os.path.realpath(os.path.join(self.prefix, "lib/facefuse/libonnxruntime.so.1")))

    def test_run_as_another_user_uses_the_installed_models(self):
        out = os.path.join(self.work, "swap.jpg")
        r = subprocess.run(self.command("run", "-s", os.path.join(self.inputs, "astronaut.png"), "-t",
                                        os.path.join(self.inputs, "Tom_Cruise_avp_2014_4.jpg"), "-o", out),
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        processed = re.search(r"\((\d+) of (\d+) target face\(s\) processed\)", r.stderr)
        self.assertTrue(processed and int(processed.group(1)) >= 1, r.stderr)
        self.assertGreater(os.path.getsize(out), 10000)
        self.assertEqual(os.stat(out).st_uid, self.user.pw_uid)
        os.remove(out)
        self.assertEqual(os.listdir(self.work), [], "nothing else in TMPDIR/the working directory")
        self.assertEqual(os.listdir(self.home), [], "a run writes nothing into HOME")
        listed = subprocess.run(self.command("models", "list", "--json"), capture_output=True, text=True, timeout=60)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertEqual(json.loads(listed.stdout)["models_dir"], os.path.join(self.prefix, "share/facefuse/models"))

    def test_serve_as_another_user_and_sighup_drains(self):
        process = subprocess.Popen(self.command("serve", "--listen", "127.0.0.1:0"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            url = key = None
            deadline = time.time() + 60
            while time.time() < deadline and url is None:
                line = process.stdout.readline()
                if not line:
                    self.fail(f"serve exited with {process.wait()}: {process.stderr.read()}")
                if "admin API key" in line:
                    key = line.split()[-1]
                if "serving on" in line:
                    url = line.split("serving on ")[1].split()[0]
            self.assertIsNotNone(url)
            self.assertTrue(key and key.startswith("ff_"), "a first start prints the admin key")
            with urllib.request.urlopen(url + "healthz", timeout=10) as response:
                self.assertEqual(response.status, 200)
            request = urllib.request.Request(url + "api/v1/models", headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                self.assertEqual(response.status, 200)
            data = os.path.join(self.home, ".local/share/facefuse/service")
            self.assertEqual(os.stat(data).st_uid, self.user.pw_uid)
            self.assertEqual(os.stat(data).st_mode & 0o777, 0o700)
            process.send_signal(signal.SIGHUP)
            self.assertEqual(process.wait(timeout=60), 0, "SIGHUP drains serve and exits 0")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
