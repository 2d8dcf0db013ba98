"""The org policies of DESIGN.md (focus: 2-4 key results per objective, 3-5 active objectives
per team and cycle) and the wording of their warnings, one home for the write side (warnings
returned by mutations, strict refusals) and the read side (warnings shown on views).

Pure: no I/O. The bounds are the organization's (`okr.domain.organization`).
"""

from __future__ import annotations

from okr.domain.base import plural
from okr.domain.organization import MAX_KEY_RESULTS, MAX_OBJECTIVES, MIN_KEY_RESULTS, MIN_OBJECTIVES


def key_results_in_range(n: int) -> bool:
    return MIN_KEY_RESULTS <= n <= MAX_KEY_RESULTS


def objectives_in_range(n: int) -> bool:
    return MIN_OBJECTIVES <= n <= MAX_OBJECTIVES


def key_result_count_warnings(driver: str, n: int) -> list[str]:
    """KEY_RESULT_COUNT: an objective that counts its key results (every driver but
    ALIGNED_OBJECTIVES) with fewer than 2 or more than 4 of them."""
    if driver == "ALIGNED_OBJECTIVES" or key_results_in_range(n):
        return []
    return [
        f"KEY_RESULT_COUNT: {plural(n, 'key result')}; {MIN_KEY_RESULTS}-{MAX_KEY_RESULTS}"
        " keep an objective focused"
    ]


def objective_count_warnings(team: str, n: int) -> list[str]:
    """OBJECTIVE_COUNT: a team with fewer than 3 or more than 5 active objectives in a cycle.
    `team` names the team as the message's subject ("team Support", "the team")."""
    if objectives_in_range(n):
        return []
    return [
        f"OBJECTIVE_COUNT: {team} has {plural(n, 'active objective')} in this cycle;"
        f" {MIN_OBJECTIVES}-{MAX_OBJECTIVES} keep a team focused"
    ]
