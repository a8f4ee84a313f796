"""Every model on every shape of data: a run, or one line on stderr with exit code 2, never a
traceback."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datafiles import write_cifar, write_mnist  # noqa: E402

from simulations.cli import main  # noqa: E402


def datasets(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 10
    vectors = tmp_path / "vectors.npz"  # unscaled float features
    np.savez(vectors, X=rng.normal(50, 20, (120, 12)), y=y)
    flat_images = tmp_path / "flat.npz"  # uint8 (n, h, w): flattened to vectors
    np.savez(flat_images, X=rng.integers(0, 256, (120, 8, 8), dtype=np.uint8), y=y)
    images = tmp_path / "images.npz"  # uint8 (n, c, h, w): images
    np.savez(images, X=rng.integers(0, 256, (120, 1, 8, 8), dtype=np.uint8), y=y)
    write_mnist(tmp_path / "mnist", n=240)
    return {
        "digits": ("digits", False),
        "vectors": (f"npz:{vectors}", False),
        "flat": (f"npz:{flat_images}", False),
        "images": (f"npz:{images}", True),
        "cifar10": (f"cifar10:{write_cifar(tmp_path / 'cifar', per_batch=30)}", True),
        "mnist": (f"mnist:{tmp_path / 'mnist'}", True),
    }


@pytest.mark.parametrize("model", ["auto", "mlp", "cnn", "resnet"])
def test_every_model_on_every_data_shape(model, tmp_path, capsys):
    for name, (spec, is_image) in datasets(tmp_path).items():
        argv = [
            "train",
            "--dataset",
            spec,
            "--noise",
            "symmetric",
            "--rate",
            "0.2",
            "--classes",
            "10",
            "--epochs",
            "1",
            "--stage2-epochs",
            "1",
            "--cv",
            "0",
            "--model",
            model,
            "--out",
            str(tmp_path / name / model),
            "--json",
        ]
        if name == "digits":
            argv += ["--train-fraction", "0.1"]
        code = main(argv)
        err = [line for line in capsys.readouterr().err.splitlines() if "warning" not in line]
        if model in ("cnn", "resnet") and not is_image:
            assert code == 2 and len(err) == 1 and "needs image data" in err[0], (name, err)
        else:
            assert code == 0 and not err, (name, model, err)
