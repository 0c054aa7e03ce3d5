"""A missing sample corpus stops the test run instead of quietly skipping its tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kjda
import kjda_oasim
from kjda_oasim.testing.plugin import samples_problem


def test_missing_corpus_is_a_problem_by_default(tmp_path):
    problem = samples_problem(tmp_path / "nowhere", {})
    assert problem and "KJDA_SAMPLES_DIR" in problem and "KJDA_SAMPLES_OPTIONAL" in problem


def test_empty_corpus_folder_is_a_problem(tmp_path):
    assert samples_problem(tmp_path, {})


def test_opt_out_admits_a_missing_corpus_but_never_in_ci(tmp_path):
    assert samples_problem(tmp_path / "nowhere", {"KJDA_SAMPLES_OPTIONAL": "1"}) is None
    assert samples_problem(tmp_path / "nowhere",
                           {"KJDA_SAMPLES_OPTIONAL": "1", "CI": "true"})


def test_present_corpus_is_fine(tmp_path):
    (tmp_path / "a.ofd").write_bytes(b"x")
    assert samples_problem(tmp_path, {}) is None


def test_pytest_run_fails_loudly_without_the_corpus(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "KJDA_SAMPLES_OPTIONAL"}
    env["KJDA_SAMPLES_DIR"] = str(tmp_path / "nowhere")
    # the child runs in tmp_path: give it this run's kjda and kjda_oasim, wherever they came from
    env["PYTHONPATH"] = os.pathsep.join(str(Path(m.__file__).parents[1]) for m in (kjda, kjda_oasim))
    run = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django",
         "-p", "kjda_oasim.testing.plugin", "-c", "/dev/null", str(tmp_path / "test_x.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode != 0 and "sample corpus is missing" in run.stderr
