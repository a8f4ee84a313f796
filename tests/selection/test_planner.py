"""The probe planner's forecast against the mean kept size of the certified search over
simulated draws of a world written here (lognormal losses, mislabelled ones shifted, 30%
noise), with a pilot of 300 annotated probes from the same world."""

import numpy as np
import pytest

from simulations.cli import main
from simulations.selection import bounds, planner


def _world(rng, size, shift):
    bad = rng.random(size) < 0.3
    return np.exp(rng.normal(np.where(bad, shift, 0.0), 1.0)), bad


def _realised(rng, n, R, shift, draws):
    kept = []
    for _ in range(draws):
        s, bad = _world(rng, n + R, shift)
        zeros = np.zeros(n + R, np.int64)
        counts = bounds.Counts(s[:n], zeros[:n], s[n:], bad[n:].astype(int), zeros[n:], 1)
        kept.append(counts.largest_global(0.9, 0.9)["mask"].sum())
    return float(np.mean(kept))


@pytest.mark.parametrize(("shift", "R"), [(3.0, 60), (3.0, 333), (1.5, 60), (1.5, 1_000)])
def test_the_forecast_is_within_a_quarter_of_the_search(shift, R):
    rng = np.random.default_rng(R)
    n = 4_000
    scores, bad = _world(rng, n + 300, shift)
    rows, model = planner.plan(scores[:n], 0.9, 0.9, bad[n:], probes=(R,))
    assert model == "pilot" and rows[0].probes == R
    realised = _realised(rng, n, R, shift, draws=400)
    assert realised > 0
    assert abs(rows[0].expected_kept - realised) <= 0.25 * realised, (rows[0], realised)


def test_more_probes_are_expected_to_keep_more_and_the_size_names_the_fewest():
    rng = np.random.default_rng(1)
    scores, bad = _world(rng, 4_300, 1.5)
    rows, _ = planner.plan(scores[:4_000], 0.9, 0.9, bad[4_000:])
    kept = [r.expected_kept for r in rows]
    assert kept[-1] > kept[0] and all(b >= 0.9 * a for a, b in zip(kept, kept[1:]))
    fewest = planner.probes_for(rows, kept[3])
    assert fewest == next(r.probes for r in rows if r.expected_kept >= kept[3])
    assert planner.probes_for(rows, 10 * 4_000) is None
    # no pilot: the mixture's own noise rate, which overlapping losses overstate
    alone, model = planner.plan(scores[:4_000], 0.9, 0.9)
    assert model == "mixture" and alone[0].mislabelled_probes > rows[0].mislabelled_probes


def test_the_command_plans_and_draws(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n, R = 2_000, 200
    scores, bad = _world(rng, n + R, 2.0)
    clean = rng.integers(0, 4, n + R)
    noisy = np.where(bad, (clean + 1) % 4, clean)
    probe = np.arange(n + R) >= n
    run = tmp_path / "run.npz"
    np.savez(
        run,
        noisy=noisy,
        losses=scores[:, None].astype(np.float32),
        probe=probe,
        clean=np.where(probe, clean, -1),
    )
    png = tmp_path / "plan.png"
    code = main(["probes", "plan", str(run), "--size", "500", "--plot", str(png), "--json"])
    assert code == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "pilot" and out["pilot_probes"] == R
    assert [r["probes"] for r in out["rows"]] == list(planner.PROBES)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["probes", "plan", str(run), "--count", "3"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
