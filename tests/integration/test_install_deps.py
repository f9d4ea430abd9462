"""scripts/install-deps.sh against fake package tools (issue 14.8): `make test` used to stop the
user's postfix, unbound, nsd and opendkim (pkill -x, systemctl disable --now) after installing.

The fakes on PATH record every call: apt-get records whether a policy-rc.d forbidding starts
(exit 101) is in place while it installs. The script is pointed at a policy-rc.d path in a temp
dir (TERN_POLICY_RC_D), so nothing on this machine is touched and no package is installed.
"""
import os
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "install-deps.sh")

FAKES = {
    # Every queried package is "not installed" except those listed in $FAKE_INSTALLED.
    "dpkg-query": """for p in $FAKE_INSTALLED; do [ "$p" = "${@: -1}" ] && { echo "install ok installed"; exit 0; }; done
exit 1""",
    "apt-get": """echo "apt-get $*" >> "$FAKE_LOG"
if [ "$1" = install ]; then
  if [ -x "$TERN_POLICY_RC_D" ]; then "$TERN_POLICY_RC_D" postfix start; echo "policy-rc.d: $?" >> "$FAKE_LOG"
  else echo "policy-rc.d: none" >> "$FAKE_LOG"; fi
  [ -n "$FAKE_APT_FAIL" ] && exit 100
fi
exit 0""",
    "debconf-set-selections": "cat >/dev/null",
    "sudo": 'exec "$@"',
    "pkill": 'echo "pkill $*" >> "$FAKE_LOG"',
    "killall": 'echo "killall $*" >> "$FAKE_LOG"',
    "systemctl": 'echo "systemctl $*" >> "$FAKE_LOG"',
    "service": 'echo "service $*" >> "$FAKE_LOG"',
}


class InstallDepsTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="tern-install-deps-")
        self.addCleanup(self.tmp.cleanup)
        self.bin = os.path.join(self.tmp.name, "bin")
        os.makedirs(self.bin)
        for name, body in FAKES.items():
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write("#!/bin/bash\n" + body + "\n")
            os.chmod(path, 0o755)
        self.log = os.path.join(self.tmp.name, "calls.log")
        self.policy = os.path.join(self.tmp.name, "policy-rc.d")

    def run_script(self, installed="", apt_fail=False):
        env = {"PATH": self.bin + ":/usr/bin:/bin", "FAKE_LOG": self.log,
               "FAKE_INSTALLED": installed, "TERN_POLICY_RC_D": self.policy,
               "FAKE_APT_FAIL": "1" if apt_fail else "", "HOME": self.tmp.name}
        r = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        calls = []
        if os.path.exists(self.log):
            with open(self.log) as f:
                calls = f.read().splitlines()
        return r, calls

    def test_installs_with_starts_forbidden_and_stops_nothing(self):
        r, calls = self.run_script(installed="postfix")  # the user's postfix: already there
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("policy-rc.d: 101", calls, calls)
        install = [c for c in calls if c.startswith("apt-get install")]
        self.assertEqual(len(install), 1, calls)
        self.assertNotIn(" postfix ", install[0] + " ")
        self.assertFalse([c for c in calls if c.startswith(("pkill", "killall", "service"))], calls)
        self.assertFalse([c for c in calls if "--now" in c or " stop" in c], calls)
        # only the daemons installed now are disabled for the next boot; postfix is not touched
        disabled = sorted(c.split()[-1] for c in calls if c.startswith("systemctl disable"))
        self.assertEqual(disabled, ["nsd", "opendkim", "postgresql", "unbound"], calls)
        self.assertFalse(os.path.exists(self.policy), "our policy-rc.d was left behind")

    def test_existing_policy_is_kept_and_removed_never(self):
        with open(self.policy, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")  # the machine's own policy
        os.chmod(self.policy, 0o755)
        r, calls = self.run_script()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("policy-rc.d: 0", calls)
        with open(self.policy) as f:
            self.assertEqual(f.read(), "#!/bin/sh\nexit 0\n")

    def test_policy_removed_when_the_install_fails(self):
        r, calls = self.run_script(apt_fail=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("policy-rc.d: 101", calls)
        self.assertFalse(os.path.exists(self.policy), "our policy-rc.d outlived a failed install")
        self.assertFalse([c for c in calls if c.startswith(("pkill", "systemctl"))], calls)

    def test_nothing_missing_runs_nothing(self):
        everything = subprocess.run(
            ["bash", "-c", f"grep -oE '^  [a-z0-9 .+-]+$' {SCRIPT} | tr '\\n' ' '"],
            capture_output=True, text=True).stdout
        r, calls = self.run_script(installed=everything)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(calls, [])


if __name__ == "__main__":
    unittest.main()
