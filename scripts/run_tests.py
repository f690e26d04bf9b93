"""The whole test suite, as `make test` and CI run it: library tests, exercises against the solutions, notebooks in
smoke mode. pytest's exit code 5 ("no tests collected") counts as a failure here: a suite that ran nothing proves nothing.
"""

import os
import subprocess
import sys

# Two pytest workers on two cores: one torch thread each, or they fight over the cores.
env = dict(os.environ, MOSSLITE_EXERCISES="solutions", MOSSLITE_SMOKE="1", PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
cmd = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q", "--durations=15", "tests", "exercises"]
code = subprocess.call(cmd + sys.argv[1:], env=env)
sys.exit(1 if code == 5 else code)
