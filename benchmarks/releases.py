"""Release commits per second: GitReleaseStore (pygit2) beside the git command line, in one run.

Both write the same documents as the same commits: ``agents/{slug}/releases/v{N}.yaml`` added,
``agents/{slug}/current.yaml`` rewritten, one commit per release on ``main``. The store runs as
shipped (fsync on, ``git gc --auto`` every 1,000 commits) and once more with fsync off; the
command line uses plumbing (``hash-object``, ``mktree`` per changed directory, ``commit-tree``,
``update-ref`` with the old value, i.e. a compare-and-swap as well), once with
``core.fsync=all`` and once with git's defaults (which do not fsync loose objects). Each result
is checked with ``git rev-list --count``.

    python benchmarks/releases.py            # a table
    python benchmarks/releases.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2

from agentfsm.releases import GitReleaseStore, dump_document
from agentfsm.releases._documents import build_release

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
AUTHOR = ("Release bot", "bot@example.com")


def _plan(count: int, slugs: int) -> list[tuple[str, int, datetime]]:
    """(slug, version, time) for each release, round-robin over ``slugs`` agents."""
    versions: dict[str, int] = {}
    out = []
    for n in range(count):
        slug = f"agent-{n % slugs:03d}"
        versions[slug] = versions.get(slug, 0) + 1
        out.append((slug, versions[slug], T0 + timedelta(seconds=n)))
    return out


def _config(n: int) -> dict[str, str]:
    return {"model": "gpt-4o", "strategy": "react", "tools": "search,calc", "revision": str(n)}


def run_store(repo: Path, plan: list[tuple[str, int, datetime]], *, fsync: bool) -> float:
    pygit2.settings.enable_fsync_gitdir(fsync)
    store = GitReleaseStore(repo, author=AUTHOR, fsync=fsync)
    started = time.perf_counter()
    for n, (slug, _version, at) in enumerate(plan):
        store.record_release(
            slug,
            event="AgentDeployed",
            image="ghcr.io/recif/corail:1.0",
            replicas=2,
            config=_config(n),
            at=at,
            key=f"bench-{n}",
        )
    return time.perf_counter() - started


def run_cli(repo: Path, plan: list[tuple[str, int, datetime]], *, fsync: bool) -> float:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    # core.fsync=all makes git flush loose objects and refs too, as libgit2's fsync option does.
    fsync_config = (
        {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsync", "GIT_CONFIG_VALUE_0": "all"}
        if fsync
        else {}
    )
    env = {
        **os.environ,
        **fsync_config,
        "GIT_AUTHOR_NAME": AUTHOR[0],
        "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0],
        "GIT_COMMITTER_EMAIL": AUTHOR[1],
    }

    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.strip()

    # The directory listings, kept here as git's mktree wants them in full.
    releases: dict[str, dict[str, str]] = {}
    slug_trees: dict[str, str] = {}
    parent: str | None = None
    started = time.perf_counter()
    for n, (slug, version, at) in enumerate(plan):
        doc = build_release(
            slug,
            version=version,
            event="AgentDeployed",
            image="ghcr.io/recif/corail:1.0",
            replicas=2,
            config=_config(n),
            changelog=None,
            at=at,
        )
        blob = git("hash-object", "-w", "--stdin", stdin=dump_document(doc))
        releases.setdefault(slug, {})[f"v{version}.yaml"] = blob
        listed = {name: ("blob", oid) for name, oid in releases[slug].items()}
        rel_tree = git("mktree", stdin=_listing(listed))
        slug_trees[slug] = git(
            "mktree",
            stdin=_listing({"current.yaml": ("blob", blob), "releases": ("tree", rel_tree)}),
        )
        agents = git("mktree", stdin=_listing({k: ("tree", v) for k, v in slug_trees.items()}))
        root = git("mktree", stdin=_listing({"agents": ("tree", agents)}))
        message = f"{slug}: release v{version} (AgentDeployed)\n\nIdempotency-Key: bench-{n}\n"
        args = ["commit-tree", root, "-m", message] + (["-p", parent] if parent else [])
        env["GIT_AUTHOR_DATE"] = at.isoformat()
        commit = git(*args)
        git("update-ref", "refs/heads/main", commit, parent or "")
        parent = commit
    return time.perf_counter() - started


def _listing(entries: dict[str, tuple[str, str]]) -> str:
    modes = {"blob": "100644", "tree": "040000"}
    return "".join(f"{modes[t]} {t} {oid}\t{name}\n" for name, (t, oid) in sorted(entries.items()))


def _check(repo: Path, count: int) -> None:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    if int(done.stdout) != count:
        raise SystemExit(f"{repo.name}: expected {count} commits, found {done.stdout.strip()}")


def _measure(name: str, run: Callable[[], float], repo: Path, count: int) -> dict[str, Any]:
    seconds = run()
    _check(repo, count)
    print(f"  {name}: {count / seconds:,.0f} commits/s", file=sys.stderr)
    return {"seconds": round(seconds, 3), "commits_per_second": round(count / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="releases per run")
    parser.add_argument("--slugs", type=int, default=100, help="agents the releases go to")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    plan = _plan(args.count, args.slugs)
    with tempfile.TemporaryDirectory(prefix="agentfsm-bench-") as tmp:
        base = Path(tmp)
        results = {
            "pygit2_fsync": _measure(
                "pygit2, fsync on",
                lambda: run_store(base / "a.git", plan, fsync=True),
                base / "a.git",
                args.count,
            ),
            "pygit2_no_fsync": _measure(
                "pygit2, fsync off",
                lambda: run_store(base / "b.git", plan, fsync=False),
                base / "b.git",
                args.count,
            ),
            "git_cli_fsync": _measure(
                "git CLI plumbing, core.fsync=all",
                lambda: run_cli(base / "c.git", plan, fsync=True),
                base / "c.git",
                args.count,
            ),
            "git_cli": _measure(
                "git CLI plumbing, git defaults",
                lambda: run_cli(base / "d.git", plan, fsync=False),
                base / "d.git",
                args.count,
            ),
        }
    cli = results["git_cli"]["commits_per_second"]
    cli_fsync = results["git_cli_fsync"]["commits_per_second"]
    report = {
        "benchmark": "release commits",
        "releases": args.count,
        "agents": args.slugs,
        "pygit2": pygit2.__version__,
        "libgit2": pygit2.LIBGIT2_VERSION,
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        "python": platform.python_version(),
        **results,
        "speedup_vs_cli": {
            "fsync_vs_cli_fsync": round(
                results["pygit2_fsync"]["commits_per_second"] / cli_fsync, 1
            ),
            "fsync_vs_cli_defaults": round(results["pygit2_fsync"]["commits_per_second"] / cli, 1),
            "no_fsync_vs_cli_defaults": round(
                results["pygit2_no_fsync"]["commits_per_second"] / cli, 1
            ),
        },
        "goal": ">= 10x the git CLI",
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
