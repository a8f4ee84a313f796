"""The certificate sweep cell and its bench row: settings checked, shares that are shares,
the arms run on the same draws, and the bench's baseline walk is the same walk."""

import pytest

from simulations.experiments import certificate
from simulations.selection import bounds
from theory.errors import InputError


def test_a_cell_reports_every_arm_on_the_same_draws():
    row = certificate.certificate_cell({"n": 600, "probes": 200, "shift": 3.0, "draws": 8}, 0)
    for arm in certificate.ARMS:
        assert 0.0 <= row[f"valid_{arm}"] <= 1.0
        assert 0.0 <= row[f"kept_{arm}"] <= 600
    assert 0.0 <= row["fdr_mean"] <= 1.0 and row["oracle"] > 0
    # the design is the band or one of the knots the limit also chooses among: never past it
    # by more than the draws' noise, and the one-threshold bound searched keeps the most
    assert row["kept_pointwise"] >= row["kept_band"]
    assert row == certificate.certificate_cell(
        {"n": 600, "probes": 200, "shift": 3.0, "draws": 8}, 0
    )


@pytest.mark.parametrize(
    "bad", [{"nosuch": 1}, {"rate": 1.5}, {"probes": 0}, {"imbalance": 0.5}, {"n": "x"}]
)
def test_bad_settings_are_named(bad):
    with pytest.raises(InputError):
        certificate.certificate_inputs(bad)


def test_the_baseline_walk_is_the_same_walk():
    u = bounds.band(20_000, 500, 0.9, 0.9)
    p = 500 / 20_500
    assert certificate._crossing_by_fft(u, p) == pytest.approx(bounds._crossing(u, p), abs=1e-9)
    rows = certificate.bench_rows(n=20_000, R=500)
    assert len(rows) == 1 and rows[0][1] > 0 and rows[0][2] > 0
