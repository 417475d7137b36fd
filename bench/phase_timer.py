"""The phase timer the bench's child processes run (bench_round.py, second_run.py, collect_memory.py).

Each child is a script text run with ``python -c`` (in second_run.py, in another checkout's folder), so the timer is
given as text, put in each script before its phases are wrapped: ``timed(owner, name, label)`` replaces
``owner.name`` with a wrapper that adds its wall time to ``spent[label]``.
"""

TIMER = r"""
import time
from collections import defaultdict
spent = defaultdict(float)
def timed(owner, name, label):
    fn = getattr(owner, name)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[label] += time.perf_counter() - t
    setattr(owner, name, wrapper)
"""

#: ``around(owner, name, label)``: ``owner.name`` replaced with a wrapper that calls ``mark(label + ">")`` when it is
#: entered and ``mark(label + "<")`` when it is left (the script defines ``mark``: collect_timeline.py, second_timeline.py).
AROUND = r"""
def around(owner, name, label):
    fn = getattr(owner, name)
    def wrapper(*a, **k):
        mark(label + ">")
        try:
            return fn(*a, **k)
        finally:
            mark(label + "<")
    setattr(owner, name, wrapper)
"""
