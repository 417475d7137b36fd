"""Issue 15's absolute rows for two (or more) source trees, alternately, with a fixed control in every round.

This machine's pace moves 15-45 % within minutes, so an absolute figure (``collect`` 10,000 ≤ 20 s, ``generate`` 1,000
≤ 10 s) taken once says as much about the hour as about the code. Here each round runs, for every tree in turn (the
order reversed every other round): ``generate`` of 1,000 national workbooks with a targets table and of 1,000 first-form
ones (bench.py's), and ``collect`` of the returns with ``--jobs 2``, roll-up included (bench.py's run_collect, with the
peaks of the main process and its workers); then the one-process pandas+calamine loop over the same returns, the
control. The medians follow, with collect's ratio to the loop's median.

    python bench/absolute_rows.py main=/path/to/frozen/main this=. --returns B/returns --roster B/roster.csv --rounds 3

Each tree runs as ``PYTHONPATH=TREE:TREE/bench`` with this interpreter (a frozen ``git worktree add --detach`` of each
commit; the interpreter needs the ``bench`` extra). Work files go to --work (default: a temporary folder, removed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _run(tree: str, code: str) -> object:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree}/bench", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree, env=env)
    if proc.returncode:
        raise SystemExit(f"{tree}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def generate_national(tree: str, work: Path) -> float:
    d = _fresh(work / "national")
    return float(_run(tree, f"import json, bench; from pathlib import Path; print(json.dumps(bench.generate_national(Path({str(d)!r}), 1000)))"))  # type: ignore[arg-type]


def generate_first(tree: str, work: Path) -> float:
    d = _fresh(work / "first")
    code = (f"import json, time, bench; from pathlib import Path; d = Path({str(d)!r})\n"
            "from xltemplate.distribute import distribute; from xltemplate.roster import read_roster\n"
            "spec = bench.load_spec(bench.SPEC_PATH); bench.write_roster(d / 'roster.csv', 1000)\n"
            "t = time.perf_counter(); distribute(spec, read_roster(d / 'roster.csv', spec), d / 'out')\n"
            "print(json.dumps(time.perf_counter() - t))")
    return float(_run(tree, code))  # type: ignore[arg-type]


def collect(tree: str, returns: Path, roster: Path, work: Path) -> dict:
    out = work / "rollup.xlsx"
    code = (f"import json, bench; from pathlib import Path; print(json.dumps(bench.run_collect(Path({str(returns)!r}), "
            f"Path({str(roster)!r}), Path({str(out)!r}), 2)))")
    got = _run(tree, code)
    assert isinstance(got, dict)
    return got


def pandas_loop(tree: str, returns: Path) -> float:
    code = f"import json, bench; from pathlib import Path; print(json.dumps(bench.pandas_loop(sorted(Path({str(returns)!r}).glob('*.xlsx')))))"
    return float(_run(tree, code))  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trees", nargs="+", help="NAME=TREE, two or more")
    ap.add_argument("--returns", type=Path, required=True, help="first-form returns (bench.py --dir D: D/returns)")
    ap.add_argument("--roster", type=Path, required=True, help="their roster (D/roster.csv)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-generate", action="store_true", help="collect and the control only")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    trees = [t.split("=", 1) for t in args.trees]
    work = args.work or Path(tempfile.mkdtemp(prefix="xlt-abs-"))
    got: dict[str, dict[str, list[float]]] = {n: {"national": [], "first": [], "collect": [], "main": [], "workers": []} for n, _ in trees}
    loops: list[float] = []
    try:
        for r in range(args.rounds):
            for name, tree in (trees if r % 2 == 0 else trees[::-1]):
                load = os.getloadavg()[0]
                g = got[name]
                nat = first = float("nan")
                if not args.no_generate:
                    nat = generate_national(tree, work)
                    first = generate_first(tree, work)
                    g["national"].append(nat)
                    g["first"].append(first)
                c = collect(tree, args.returns, args.roster, work)
                g["collect"].append(c["wall"])
                g["main"].append(c["main_kib"] / 1024)
                g["workers"].append(c["worker_kib"] / 1024)
                print(f"round {r + 1} {name:8s} generate national {nat:5.2f} s, first form {first:5.2f} s; collect --jobs 2 "
                      f"{c['wall']:5.2f} s (main {c['main_kib'] / 1024:.0f} MB, workers {c['worker_kib'] / 1024:.0f} MB); "
                      f"load before {load:.2f}", flush=True)
            loops.append(pandas_loop(trees[0][1], args.returns))
            print(f"round {r + 1} control: pandas+calamine loop {loops[-1]:5.2f} s; load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    loop = med(loops)
    print(f"medians of {args.rounds} rounds (the control {loop:.2f} s):")
    for name, _ in trees:
        g = got[name]
        print(f"  {name:8s} generate national {med(g['national']):5.2f} s, first form {med(g['first']):5.2f} s; "
              f"collect {med(g['collect']):5.2f} s = {med(g['collect']) / loop:.2f}x the loop; "
              f"main {max(g['main']):.0f} MB, workers {max(g['workers']):.0f} MB")


if __name__ == "__main__":
    main()
