"""The curl cookbook of docs/service.md ("### curl cookbook"), run line by line against a real
`facefuse serve` (tests/server/service_harness.py) in a temporary directory holding face.jpg and
photo.jpg: each line must succeed, and what the lines write is checked (the API version, a
complete event stream, the output file and its first KiB, the 400 of the error example)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(REPO, "tests", "server"))

import service_harness as h  # noqa: E402

SERVICE_MD = os.path.join(REPO, "docs", "service.md")
MARK = "@@cookbook-line-done@@"


def cookbook_lines():
    text = open(SERVICE_MD, encoding="utf-8").read()
    section = text.split("### curl cookbook", 1)
    assert len(section) == 2, "docs/service.md has no '### curl cookbook' section"
    block = re.search(r"```sh\n(.*?)```", section[1], re.S)
    assert block, "the curl cookbook has no ```sh block"
    return [l for l in block.group(1).splitlines() if l.strip() and not l.lstrip().startswith("#")]


class CurlCookbookTest(h.ServerTestCase):
    def test_every_line_runs_and_does_what_the_section_says(self):
        lines = cookbook_lines()
        self.assertGreaterEqual(len(lines), 10)
        work = tempfile.mkdtemp(prefix="facefuse-cookbook-")
        self.addCleanup(shutil.rmtree, work, True)
        shutil.copy(h.SOURCE_FACE, os.path.join(work, "face.jpg"))  # a PNG named .jpg: judged by content
        shutil.copy(h.TARGET_PHOTO, os.path.join(work, "photo.jpg"))
        # One shell, the lines in order: after each, its exit status decides (the shell stops at the
        # first failing line and names it) and a marker splits the output per line.
        script = ["set -o pipefail"]
        for n, line in enumerate(lines, 1):
            script.append(f"{line} || {{ echo 'cookbook line {n} failed (exit '$?'): {line.replace(chr(39), '')[:80]}' >&2; exit 1; }}")
            script.append(f"echo {MARK}")
        env = dict(os.environ, FACEFUSE_URL=self.server.url, FACEFUSE_API_KEY=self.server.admin_key)
        run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr + run.stdout[-2000:])
        outputs = run.stdout.split(MARK + "\n")[:-1]
        self.assertEqual(len(outputs), len(lines))
        by_line = dict(zip(lines, outputs))

        def output_of(fragment):
            matches = [out for line, out in by_line.items() if fragment in line]
            self.assertEqual(len(matches), 1, fragment)
            return matches[0]

        self.assertEqual(output_of("/api/v1/status").strip(), "1.4.0")
        events = output_of("text/event-stream")
        self.assertIn("id: 1", events)
        self.assertRegex(events, r'"status":\s*"completed"')
        self.assertIn("invalid_argument", output_of("limit=0"))
        self.assertTrue(output_of("limit=0").strip().endswith("400"))
        self.assertRegex(output_of("status=completed"), r"job_[A-Za-z0-9_]+")
        self.assertIn('"deleted":true', output_of("-X DELETE").replace(" ", ""))
        with open(os.path.join(work, "swap.jpg"), "rb") as f:
            swap = f.read()
        self.assertEqual(swap[:2], b"\xff\xd8", "a JPEG (the target's format)")
        with open(os.path.join(work, "first_kib.bin"), "rb") as f:
            self.assertEqual(f.read(), swap[:1024])


if __name__ == "__main__":
    h.main()
