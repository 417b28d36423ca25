"""What the host sees of the Chromium processes a test started: uid, capabilities, seccomp,
PID namespace and environment, read from ``/proc`` while a browser is provably working."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.browser.chromium import find_chromium

# the harness's secrets a test plants as canaries: none may reach a browser
CANARIES = ("ANTHROPIC_API_KEY", "GITHUB_TOKEN", "FACTORY_MARKER_KEY")


@dataclass(frozen=True)
class Seen:
    pid: int
    kind: str  # browser, or Chromium's --type: renderer, zygote, gpu-process, utility …
    uid: int
    cap_eff: str
    seccomp: str
    no_new_privs: str
    own_pid_namespace: bool
    secrets: tuple[str, ...]  # the canaries found in its environment


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _look(pid: int, folder: Path, canaries: dict[str, str]) -> Seen | None:
    proc = Path(f"/proc/{pid}")
    try:
        if Path(os.readlink(proc / "exe")).parent != folder:
            return None
        status = dict(
            line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line
        )
        environ = (proc / "environ").read_bytes()
        command = (proc / "cmdline").read_bytes().decode(errors="replace")
        own_ns = os.readlink(proc / "ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:  # it ended meanwhile
        return None
    kinds = re.findall(r"--type=([\w-]+)", command)  # Chromium rewrites its command line
    return Seen(
        pid=pid,
        kind=kinds[0] if kinds else "browser",
        uid=int(status["Uid"].split()[1]),  # effective
        cap_eff=status["CapEff"].strip(),
        seccomp=status["Seccomp"].strip(),
        no_new_privs=status["NoNewPrivs"].strip(),
        own_pid_namespace=own_ns,
        secrets=tuple(name for name, value in canaries.items() if value.encode() in environ),
    )


@dataclass
class ChromiumWatch:
    """Samples every Chromium process descending from this test's process, by name of the
    moment it was taken (``sample(where)``)."""

    samples: dict[str, list[list[Seen]]] = field(default_factory=dict)

    def sample(self, where: str) -> None:
        folder = Path(os.path.realpath(find_chromium())).parent
        canaries = {name: os.environ[name] for name in CANARIES if os.environ.get(name)}
        assert set(canaries) == set(CANARIES), "plant every canary before sampling"
        seen = [_look(pid, folder, canaries) for pid in sorted(_descendants(os.getpid()))]
        self.samples.setdefault(where, []).append([s for s in seen if s is not None])

    def assert_confined(self, *moments: str) -> int:
        """Every sample of each moment saw Chromium rendering (a renderer among them), and
        every process it saw is confined. Returns how many processes were checked."""
        checked = 0
        for where in moments:
            assert self.samples.get(where), f"no sample taken during {where}"
            for seen in self.samples[where]:
                assert any(s.kind == "renderer" for s in seen), (where, seen)
                for s in seen:
                    assert s.uid != 0, s
                    assert int(s.cap_eff, 16) == 0, s
                    assert s.seccomp == "2" and s.no_new_privs == "1", s
                    assert s.own_pid_namespace, s
                    assert s.secrets == (), s
                    checked += 1
        return checked
