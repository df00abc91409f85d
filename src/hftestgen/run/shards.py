"""``-n`` / ``--shard`` parsing and the split of model types into balanced shards.

``--shard K/N`` splits the selected types into N parts by greedy longest-processing-time on
per-type weights: the latest recorded duration from the history database when there is one,
else the number of model classes. The split is deterministic for the same inputs, so every CI
shard job must see the same history file (or none); ``hftestgen report --merge`` warns when
selected types have no results in any shard folder.
"""

from __future__ import annotations

from ..errors import UsageError


def parse_workers(value: str | int | None) -> str:
    """'auto', or a non-negative integer as a string; anything else is a usage error."""
    if value is None:
        return "auto"
    s = str(value).strip().lower()
    if s in ("auto", "logical"):
        return s
    try:
        n = int(s)
    except ValueError:
        raise UsageError(f"-n must be a number of workers or 'auto', not {value!r}") from None
    if n < 0:
        raise UsageError(f"-n must be 0 or more, not {n}")
    return str(n)


def parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        k_s, n_s = value.split("/")
        k, n = int(k_s), int(n_s)
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/4), not {value!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard {value}: need 1 <= K <= N")
    return k, n


def shard_weights(
    classes: dict[str, int], durations: dict[str, float] | None = None
) -> dict[str, float]:
    """Weight per model type: its recorded duration when known, else an estimate.

    With no durations at all, the weight is the number of model classes (tests scale with it).
    When only some types have durations, the others get (mean seconds per class) x classes.
    """
    durations = {k: v for k, v in (durations or {}).items() if k in classes and v and v > 0}
    if not durations:
        return {mt: float(max(1, c)) for mt, c in classes.items()}
    per_class = sum(durations.values()) / max(1, sum(max(1, classes[m]) for m in durations))
    return {mt: durations.get(mt, per_class * max(1, c)) for mt, c in classes.items()}


def plan_shards(weights: dict[str, float], n: int) -> list[list[str]]:
    """Split types into ``n`` parts by greedy longest-processing-time: deterministic, balanced.

    Every type lands in exactly one part; each part is sorted by name.
    """
    if n < 1:
        raise UsageError("number of shards must be at least 1")
    loads = [0.0] * n
    parts: list[list[str]] = [[] for _ in range(n)]
    for mt in sorted(weights, key=lambda m: (-round(weights[m], 6), m)):
        i = min(range(n), key=lambda j: (round(loads[j], 6), j))
        parts[i].append(mt)
        loads[i] += weights[mt]
    return [sorted(p) for p in parts]
