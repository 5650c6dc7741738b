"""Run the checks of `make test` (or `make check-all`), time every phase, print a summary.

    .venv/bin/python tools/run_test.py            # what `make test` runs
    .venv/bin/python tools/run_test.py --all      # `make check-all`: the same, then the slower extras
    .venv/bin/python tools/run_test.py --list     # the phases and their commands

The phases run in lanes. Phases in one lane run one after another; the lanes run side by side (two
lanes on a 2-core machine: each keeps about one core busy), then the final phases (if any) run alone. The
output of a phase is printed in one piece when it ends (with its time), so lanes do not interleave;
a heartbeat line names the running phases every minute. Any failing phase fails the run (exit 1)
after the other phases have run. The last lines are the timing summary, e.g.

    [test] total 512 s wall (check-nbs 2 s, notebooks 190 s, ...)

and then pytest's own final summary line, repeated so that it stays last.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CHROMIUM = "/usr/bin/chromium"
BROWSER = "1" if os.access(CHROMIUM, os.X_OK) else "0"
PYTEST = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"]

# (name, command, extra environment). Notebooks run once, in the documentation build (executed
# with nbdev_test's skip rules; that build is the notebook test), never a second time by nbdev_test.
# Lane 1 keeps two notebook kernels busy, then runs Sphinx and the browser test (one process each);
# lane 2 runs pytest, then the figure scripts two at a time, so that neither lane ends with a long
# single-process phase while the other core idles.
LANES = [
    [("check-nbs", ["bash", "tools/check_nbs.sh"], {}),
     ("notebooks+docs", ["bash", "docs/build.sh"], {"DOCS_NO_CACHE": "1", "DOCS_JOBS": "2"}),
     ("browser", PYTEST + ["tests/browser"], {"MMSOLD_BROWSER_TESTS": BROWSER, "MMSOLD_SCREENSHOTS": "first"})],
    [("pytest", PYTEST + ["tests", "--ignore=tests/browser"], {}),
     ("figures-fast", [PY, "paper_figs/make_all.py", "--fast", "--jobs", "2"], {})],
]
FINAL: list = []
# `make check-all`: the checks above, then the slower, fuller ones
EXTRA = [
    ("nbdev_test", [str(ROOT / ".venv" / "bin" / "nbdev_test"), "--n_workers", "2", "--timing"], {}),
]

_PYTEST_LAST = re.compile(r"^=*\s*(\d+ (passed|failed|error|errors|skipped|deselected)|no tests ran).*\bin [\d.]+s",
                          re.I)
_DOCS_SPLIT = re.compile(r"\[docs\] built .*: notebooks (\d+) s, sphinx\+checks (\d+) s")


class Phase:
    def __init__(self, name, cmd, env):
        self.name, self.cmd, self.env = name, cmd, env
        self.seconds = None
        self.rc = None
        self.output = ""
        self.started = None

    def run(self, logdir: Path):
        env = dict(os.environ, **self.env)
        log = logdir / f"{self.name}.log"
        self.started = time.time()
        with open(log, "w", encoding="utf-8") as f:
            self.rc = subprocess.call(self.cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        self.seconds = time.time() - self.started
        self.output = log.read_text(encoding="utf-8", errors="replace")
        return self.rc


class Runner:
    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.lock = threading.Lock()
        self.running: list[Phase] = []
        self.done: list[Phase] = []

    def _run(self, ph: Phase):
        with self.lock:
            self.running.append(ph)
        ph.run(self.logdir)
        with self.lock:
            self.running.remove(ph)
            self.done.append(ph)
            status = "ok" if ph.rc == 0 else f"FAILED (exit {ph.rc})"
            print(f"\n[test] ---- {ph.name}: {status} in {ph.seconds:.0f} s ----", flush=True)
            print(ph.output.rstrip(), flush=True)
            print(f"[test] ---- end of {ph.name} ----", flush=True)

    def lanes(self, lanes):
        def lane(phases):
            for ph in phases:
                self._run(ph)
        threads = [threading.Thread(target=lane, args=(ph,), daemon=True) for ph in lanes]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=60)
                if not t.is_alive():
                    continue
                with self.lock:
                    now = time.time()
                    busy = ", ".join(f"{p.name} {now - p.started:.0f} s" for p in self.running)
                print(f"[test] running: {busy}", flush=True)
                break


def summary(phases: list[Phase], wall: float) -> str:
    parts = []
    for ph in phases:
        if ph.seconds is None:
            continue
        m = _DOCS_SPLIT.search(ph.output) if ph.name.startswith("notebooks") else None
        if m:
            parts.append(f"{ph.name} {ph.seconds:.0f} s = notebooks {m.group(1)} s + sphinx {m.group(2)} s")
        else:
            parts.append(f"{ph.name} {ph.seconds:.0f} s")
    return f"total {wall:.0f} s wall ({', '.join(parts)})"


def pytest_last_lines(phases: list[Phase]) -> list[str]:
    out = []
    for ph in phases:
        lines = [l for l in ph.output.splitlines() if _PYTEST_LAST.search(l.strip())]
        if ph.cmd[:3] == PYTEST[:3] and lines:
            out.append(f"{lines[-1].strip()}  [{ph.name}]")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="also the slower extra checks (make check-all)")
    ap.add_argument("--extras-if-under", type=float, default=None, metavar="SECONDS",
                    help="run the extras too if the checks took less than SECONDS (CI: if time allows)")
    ap.add_argument("--list", action="store_true", help="print the phases and exit")
    a = ap.parse_args(argv)
    lanes = [[Phase(*p) for p in lane] for lane in LANES]
    final = [Phase(*p) for p in FINAL]
    extras = [Phase(*p) for p in EXTRA]
    if a.list:
        for i, lane in enumerate(lanes):
            for ph in lane:
                print(f"lane {i + 1}: {ph.name}: {' '.join(ph.cmd)} {ph.env or ''}")
        for ph in final:
            print(f"then: {ph.name}: {' '.join(ph.cmd)} {ph.env or ''}")
        for ph in extras:
            print(f"extra (--all): {ph.name}: {' '.join(ph.cmd)} {ph.env or ''}")
        return 0
    print("[test] lanes side by side: " + "; ".join(" -> ".join(p.name for p in lane) for lane in lanes)
          + (f"; then {', '.join(p.name for p in final)}" if final else ""), flush=True)
    if BROWSER != "1":
        print(f"[test] {CHROMIUM} missing (apt-get install -y chromium): the browser test is skipped", flush=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="mmsold-test-") as tmp:
        runner = Runner(Path(tmp))
        runner.lanes(lanes)
        for ph in final:
            runner._run(ph)
        wall = time.time() - t0
        run_extras = a.all or (a.extras_if_under is not None and wall < a.extras_if_under)
        if a.extras_if_under is not None and not a.all:
            print(f"[test] checks took {wall:.0f} s: the extras ({', '.join(p.name for p in extras)}) "
                  + ("run now" if run_extras else f"are left out (they run when the checks take < "
                     f"{a.extras_if_under:.0f} s; make check-all runs them)"), flush=True)
        if run_extras:
            for ph in extras:
                runner._run(ph)
    phases = [ph for lane in lanes for ph in lane] + final
    more = [ph for ph in extras if ph.seconds is not None]
    failed = [ph.name for ph in phases if ph.rc not in (0, None)]
    print("", flush=True)
    setup = os.environ.get("MMSOLD_SETUP_SECONDS")
    line = summary(phases, wall)
    if setup:
        line += f"; with the venv set-up ({float(setup):.0f} s): {wall + float(setup):.0f} s"
    print(f"[test] {line}", flush=True)
    if more:
        print(f"[test] extras: {summary(more, sum(p.seconds for p in more))}", flush=True)
    failed += [ph.name for ph in more if ph.rc != 0]
    if failed:
        print(f"[test] FAILED: {', '.join(failed)}", flush=True)
    for line in pytest_last_lines(phases):
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
