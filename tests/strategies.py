"""Hypothesis strategies shared by the test suites."""

from __future__ import annotations

from hypothesis import strategies as st

from okr.domain.formulas import Impact, KeyResultKind

finite = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
weights = st.floats(min_value=0.01, max_value=100.0, allow_nan=False)
numeric_kinds = st.sampled_from([KeyResultKind.NUMERIC, KeyResultKind.PERCENTAGE, KeyResultKind.CURRENCY])
impacts = st.sampled_from(list(Impact))


@st.composite
def start_target(draw: st.DrawFn) -> tuple[float, float]:
    """A numeric key result's start and target (different)."""
    start = draw(moderate)
    target = draw(moderate.filter(lambda t: t != start))
    return start, target


titles = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() != ""
)
