"""``--quality Q`` (0–100, larger is better): a lightness error bound and a colour budget.

Each row of ``TABLE`` is a point of graycodec's rate–ΔE94 frontier measured on training
photos (benchmarks/quality_frontier.py, never Kodak); a quality Q uses the row with the
largest ``quality`` ≤ Q. ``bpp`` and ``de94`` are the means measured there, kept so a test can
check the table is monotone: more Q never costs fewer bits nor gives more error. The ΔE94
were measured with an untrained predictor (the L-guided upsampling of the thumbnail); a
trained model only lowers them.

Rows with ``half`` False keep the decoded lightness within ``max_error`` plane units (of 255;
L* error ≤ max_error / 2.55): the bound is stored in the file and checked by tests. Rows with
``half`` True (the low qualities) store the plane at half resolution (lplane mode 4): the
bound holds for that half-size plane, and the decoded plane has none (``lightness_bound`` is
None for them).
"""
from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):
    quality: int  # lowest Q that uses this row
    half: bool  # lightness stored at half resolution (lplane mode 4)
    max_error: int  # lightness bound D (plane units; of the half-size plane when ``half``)
    hints: str  # hint level F:S (1/F of each side, a/b step S)
    bpp: float  # measured on the training frontier (mean over images)
    de94: float  # measured likewise, untrained predictor


# python benchmarks/fit_quality_table.py (benchmarks/results/quality_frontier.json)
TABLE: tuple[Row, ...] = (
    Row(0, True, 3, "22:2", 0.516, 3.902),
    Row(10, True, 3, "16:1", 0.531, 3.631),
    Row(20, True, 3, "8:2", 0.573, 3.328),
    Row(30, True, 3, "4:2", 0.739, 3.092),
    Row(40, False, 11, "11:1", 1.141, 2.847),
    Row(50, False, 11, "6:1", 1.246, 2.557),
    Row(60, False, 8, "8:1", 1.389, 2.280),
    Row(70, False, 8, "4:2", 1.530, 2.045),
    Row(80, False, 6, "4:2", 1.735, 1.765),
    Row(90, False, 4, "4:2", 2.054, 1.506),
    Row(95, False, 2, "4:2", 2.630, 1.265),
    Row(100, False, 0, "4:1", 4.673, 0.980),
)


def setting(quality: int) -> Row:
    """The table row a quality 0..100 maps to; ValueError outside 0..100."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
        raise ValueError(f"quality must be an integer in 0..100, got {quality!r}")
    return [row for row in TABLE if row.quality <= quality][-1]


def lightness_bound(quality: int) -> int | None:
    """Largest |decoded − original| of the lightness plane a quality guarantees (None: no bound)."""
    row = setting(quality)
    return None if row.half else row.max_error
