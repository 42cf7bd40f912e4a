"""What ``import pbhno_bayes`` does to ``XLA_FLAGS`` (pbhno_bayes/__init__.py): adds the classic-emitter
flag on jaxlib 0.10 only, never overrides a user's own setting of it, and ``PBHNO_XLA_DEFAULTS=0``
turns it off. One child process: the import itself, then the same function under other environments."""

import json
import os
import subprocess
import sys

import jaxlib
import pytest

FLAG = "--xla_cpu_use_fusion_emitters=false"
CODE = """
import json, os
import pbhno_bayes
out = [os.environ.get("XLA_FLAGS", "")]
for env in ({"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"},
            {"XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true"},
            {"PBHNO_XLA_DEFAULTS": "0"}):
    os.environ.pop("XLA_FLAGS", None)
    os.environ.update(env)
    pbhno_bayes._xla_defaults()
    out.append(os.environ.get("XLA_FLAGS", ""))
    os.environ.pop("PBHNO_XLA_DEFAULTS", None)
print(json.dumps(out))
"""


@pytest.mark.skipif(not jaxlib.__version__.startswith("0.10."), reason="the flag is added on jaxlib 0.10 only")
def test_import_adds_the_flag_and_respects_the_user():
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PBHNO_XLA_DEFAULTS")}
    r = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    at_import, appended, user_value, switched_off = json.loads(r.stdout.strip().splitlines()[-1])
    assert at_import == FLAG
    assert appended == f"--xla_cpu_multi_thread_eigen=false {FLAG}"
    assert user_value == "--xla_cpu_use_fusion_emitters=true"  # the user's own value wins
    assert switched_off == ""
