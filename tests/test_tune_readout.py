"""benchmarks/tune_readout.py: which read-out ends are chosen, and on which set's floors."""
import pytest
from conftest import load_benchmark


@pytest.fixture
def tune(monkeypatch):
    return load_benchmark("tune_readout", monkeypatch)


def row(de2000, ratio):
    return {"de2000": de2000, "ratio": ratio}


def test_an_end_must_reach_the_colourfulness_floor_on_both_sets(tune):
    table = {"dull": row(9.0, 0.30), "a": row(10.0, 0.62), "b": row(10.4, 0.70), "loud": row(12.0, 0.90)}
    assert tune.choose(table, 0.60) == "a"  # least error at ratio >= 0.60
    floors = {"dull": row(0, 0.3), "a": row(0, 0.58), "b": row(0, 0.66), "loud": row(0, 0.9)}
    assert tune.choose(table, 0.60, floors) == "b"  # "a" misses the floor on the other set
    assert tune.choose(table, 0.95, floors) is None


def test_the_two_ends_share_the_distribution_and_differ_in_gain(tune):
    """Per shared (debias, T, exponent), each end takes its least-error gain above its floor;
    the shared part with the least summed error wins, even when another part has the best
    single end (whose pair would cross: a different distribution at each end)."""
    table = {
        (0.5, 0.3, 1.0, 0.0): row(10.0, 0.55), (0.5, 0.3, 2.0, 0.0): row(10.3, 0.65),
        (0.5, 0.3, 3.0, 0.0): row(11.5, 0.90),
        (0.75, 0.38, 1.0, 1.0): row(10.1, 0.61), (0.75, 0.38, 2.0, 1.0): row(10.9, 0.86),
        (1.0, 0.5, 1.0, 0.0): row(10.2, 0.62), (1.0, 0.5, 3.0, 0.0): row(10.8, 0.80),  # never 0.85
    }
    fidelity, vivid = tune.choose_ends(table, 0.60)
    assert (fidelity, vivid) == ((0.75, 0.38, 1.0, 1.0), (0.75, 0.38, 2.0, 1.0))  # 21.0 < 10.3 + 11.5
    assert fidelity[:2] + fidelity[3:] == vivid[:2] + vivid[3:]
    # No shared part reaches 0.85: the least-error read-out, and the loudest gain of its part.
    loud = {k: v for k, v in table.items() if v["ratio"] < 0.85}
    assert tune.choose_ends(loud, 0.60) == ((0.5, 0.3, 1.0, 0.0), (0.5, 0.3, 2.0, 0.0))
