"""Training curves from OUT/log.jsonl."""

import json

import pytest

from mspan_pyg.analysis.plots import have_matplotlib, plot_training_curves, read_log
from mspan_pyg.errors import ConfigError


def write_log(folder, metric="accuracy"):
    with open(folder / "log.jsonl", "w") as f:
        for e in range(1, 4):
            f.write(
                json.dumps(
                    {
                        "epoch": e,
                        "train": {"loss": 1.0 / e, metric: 0.2 * e},
                        "val": {"loss": 1.2 / e, metric: 0.15 * e},
                        "best_epoch": e,
                    }
                )
                + "\n"
            )
        f.write('{"epoch": 4, "train"')  # a line cut by a kill


def test_read_log_skips_a_cut_line(tmp_path):
    write_log(tmp_path)
    assert [r["epoch"] for r in read_log(str(tmp_path))] == [1, 2, 3]
    with pytest.raises(ConfigError, match="log.jsonl does not exist"):
        read_log(str(tmp_path / "missing"))


@pytest.mark.skipif(not have_matplotlib(), reason="matplotlib not installed")
@pytest.mark.parametrize("metric", ["accuracy", "mse"])
def test_training_curves_png(tmp_path, metric):
    write_log(tmp_path, metric)
    path = plot_training_curves(str(tmp_path))
    assert path == str(tmp_path / "training_curves.png")
    data = (tmp_path / "training_curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
