"""Static checks of the Dockerfile and its lock file (no Docker engine here to build it).

The lock file installing into a clean virtualenv, and the package running from it, is checked by
tests/integration/test_install_lock.py.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from modelfleet.render.templating import TEMPLATES_ENV

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
LOCK = REPO / "requirements.lock"
# An exact CPython release on Debian slim, optionally pinned by digest: python:3.11.15-slim-trixie@sha256:...
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$")
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|python3-dev|libc6-dev)\b")
NON_ROOT_UID = 65532


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, args = current.strip().partition(" ")
        logical.append((keyword.upper(), " ".join(args.split())))
        current = ""
    return logical


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the build stages, with ${ARG} in FROM resolved."""
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "ARG" and not found:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            found.append(Stage(base, words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        else:
            found[-1].instructions.append((keyword, rest))
    return args, found


ARGS, STAGES = stages(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def env_of(stage: Stage) -> dict[str, str]:
    env = {}
    for args in stage.all("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", args):
            env[key] = value
    return env


def test_image_is_multi_stage_on_one_exactly_pinned_python_slim_base() -> None:
    assert len(STAGES) >= 2
    assert {s.base for s in STAGES} == {FINAL.base}, "the venv built in the first stage must run in the last"
    assert PINNED_PYTHON.match(FINAL.base), FINAL.base


def test_nothing_floats_on_latest() -> None:
    text = DOCKERFILE.read_text()
    assert ":latest" not in text and not re.search(r"FROM\s+python\s", text)


def test_final_stage_runs_as_the_numeric_non_root_user_the_chart_expects() -> None:
    user = FINAL.last("USER")
    assert user.split(":")[0] == str(NON_ROOT_UID)
    deployment = (REPO / "charts" / "modelfleet" / "templates" / "deployment.yaml").read_text()
    assert f"runAsUser: {NON_ROOT_UID}" in deployment


def test_final_stage_installs_no_compilers_and_runs_no_package_manager() -> None:
    for run in FINAL.all("RUN"):
        assert not COMPILERS.search(run), run
        assert "apt-get install" not in run and "pip install" not in run, run


def test_dependencies_install_from_the_hashed_lock_only() -> None:
    builder = STAGES[0]
    runs = " ".join(builder.all("RUN"))
    assert "--require-hashes -r requirements.lock" in runs
    assert "--no-deps" in runs and "--no-build-isolation" in runs
    assert any("requirements.lock" in c for c in builder.all("COPY"))


def test_final_stage_copies_only_the_venv_which_carries_the_templates() -> None:
    """The renderer's templates are package data: the installed package finds them, no folder beside it."""
    env = env_of(FINAL)
    assert TEMPLATES_ENV not in env
    assert FINAL.all("COPY") == ["--from=builder /opt/modelfleet /opt/modelfleet"]
    assert env["PATH"].startswith("/opt/modelfleet/bin:")
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "render/templates/*.j2" in package_data["modelfleet"]
    assert "operator ./operator" in STAGES[0].all("COPY")


def test_entrypoint_is_modelfleet_and_default_arguments_run_the_operator() -> None:
    assert yaml.safe_load(FINAL.last("ENTRYPOINT")) == ["modelfleet"]
    assert yaml.safe_load(FINAL.last("CMD")) == ["run"]


def test_dockerignore_lets_in_every_path_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for stage in STAGES:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            for source in copy.split()[:-1]:
                assert source.rstrip("*") in allowed, f"COPY {source} is excluded by .dockerignore"


# ---- the lock file ------------------------------------------------------------------------------------


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    text = LOCK.read_text().replace("\\\n", " ")
    entries = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)\s*(.*)$", line)
        if match:
            entries[normalise(match.group(1))] = (match.group(2), match.group(3).count("--hash=sha256:"))
    return entries


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_pins_every_package_to_one_version_with_hashes() -> None:
    entries = locked()
    requirement_lines = [line for line in LOCK.read_text().splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(requirement_lines) == len(entries)
    assert all(hashes >= 1 for _, hashes in entries.values())


def test_lock_covers_every_runtime_dependency_and_the_build_backend() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    names = [re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0] for dep in project["project"]["dependencies"]]
    names += [re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0] for dep in project["build-system"]["requires"]]
    missing = {normalise(n) for n in names} - set(locked())
    assert missing == set(), f"regenerate requirements.lock (docs/install.md): {missing}"


def test_lock_was_compiled_for_the_images_python() -> None:
    header = LOCK.read_text().splitlines()[1]
    major_minor = re.match(r"python:(3\.\d+)", FINAL.base).group(1)  # type: ignore[union-attr]
    assert f"Python {major_minor}" in header
