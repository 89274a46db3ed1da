"""The environment fingerprint's parts on real folders and packages: the git commit of a real
repository (and None outside one or without git), package versions, and the comparison key."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from perf_tasks.monitor.fingerprint import comparable_env, fingerprint, git_sha, package_versions


def test_git_sha_is_the_head_of_a_real_repository_and_none_elsewhere(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    assert git_sha(repo) is None  # no commit yet: HEAD does not resolve
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=env)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert git_sha(repo) == head and len(head) == 40
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_sha(plain) is None


def test_git_sha_is_none_when_git_cannot_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the PATH
    assert git_sha(tmp_path) is None


def test_package_versions_list_installed_packages_only():
    versions = package_versions(("numpy", "no-such-package-perf-tasks"))
    assert set(versions) == {"numpy"} and versions["numpy"][0].isdigit()


def test_the_comparison_key_is_strings_with_a_dash_for_what_is_absent():
    env = comparable_env({"cpu_model": "EPYC", "cpu_count_logical": 8, "python": None,
                          "packages": {"numpy": "2.1.0"}})
    assert env == {"cpu_model": "EPYC", "cpu_count_logical": "8", "python": "-", "numpy": "2.1.0", "torch": "-"}
    assert comparable_env({}) == {"cpu_model": "-", "cpu_count_logical": "-", "python": "-", "numpy": "-",
                                  "torch": "-"}


def test_a_fingerprint_of_a_folder_outside_git_has_no_sha(tmp_path: Path):
    fp = fingerprint(tmp_path)
    assert fp["code_path"] == str(tmp_path) and fp["git_sha"] is None
    assert fp["cpu_count_logical"] >= 1 and fp["memory_total_bytes"] > 0 and len(fp["load_avg"]) == 3
