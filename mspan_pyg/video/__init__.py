"""Raw videos in, features and answers out (the optional ``video`` extra: PyAV + torchvision).

- :mod:`~mspan_pyg.video.decode`: one streaming PyAV pass per video keeping only needed frames,
  or torchcodec seeking to them (the ``torchcodec`` extra; the same frames);
- :mod:`~mspan_pyg.video.sampling`: which frames (uniform: the paper's rule; fps; random
  segments; HCRN's clips);
- :mod:`~mspan_pyg.video.preprocess`: resize + normalisation presets (``--compat mspan|hcrn``);
- :mod:`~mspan_pyg.video.backbones`: ResNet / CLIP (the ``clip`` extra) / pixel appearance,
  Hara et al.'s 3D ResNeXt-101, torchvision video models and pixel motion;
- :mod:`~mspan_pyg.video.extract`: workers -> batched backbones -> HDF5 (resume, shards, merge);
- :mod:`~mspan_pyg.video.answer`: a trained checkpoint answers a question about one video.

Importing this package needs neither PyAV nor torchvision; the functions that do raise a
:class:`~mspan_pyg.errors.ConfigError` naming the extra when they are missing.
"""

from __future__ import annotations

from mspan_pyg.errors import ConfigError

EXTRA_HINT = 'pip install "mspan-pyg[video]"'


def require(module: str):
    """Imports ``av`` or ``torchvision`` (lazily: the core install has neither)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(
            f"video feature extraction needs the optional package {module!r} ({e}); install "
            f"the extra: {EXTRA_HINT}"
        ) from None
