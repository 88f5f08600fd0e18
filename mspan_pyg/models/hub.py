"""``MSPAN.save_pretrained`` / ``MSPAN.from_pretrained``: a model as a folder anyone can load.

    model.save_pretrained("mspan-frameqa")          # config.json, model.safetensors, run.json
    model = MSPAN.from_pretrained("mspan-frameqa")  # or a Hugging Face Hub repo id
    model.run_info["vocab"]                          # the vocabularies it was trained with

The folder:

    config.json        MSPAN's constructor arguments (``model.config``): ``MSPAN(**config)``
    model.safetensors  the weights (safetensors: no pickle, loads without running code)
    run.json           the run around the model (``run_info``): task, dataset, options,
                       vocabularies, question types, how the features were extracted
    README.md          a model card

It uses ``huggingface_hub``'s :class:`~huggingface_hub.PyTorchModelHubMixin` (the ``hub``
extra). PyG's ``PyGModelHubMixin`` was the other choice; it saves ``model.pth`` with
``torch.save`` (pickle, not safetensors), needs ``model_name`` / ``dataset_name`` constructor
arguments, and keeps only ``str`` / ``int`` / ``float`` arguments in the config, which would
drop MSPAN's booleans, ``None`` and list-valued ``clip_stride``.

The mixin is a base class of ``MSPAN``, so ``huggingface_hub`` is imported with the model when
it is installed (a small pure-Python package that loads no other ML framework). Local folders
never touch the network; a name that is not a folder is a Hub repo id, and
pushing (``push_to_hub=True``) is the caller's decision. Without the extra the methods raise an
error naming ``pip install "mspan-pyg[hub]"``; the rest of the library works as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from mspan_pyg.errors import CheckpointError, ConfigError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RUN_FILE = "run.json"
CARD_FILE = "README.md"
INSTALL_HINT = 'pip install "mspan-pyg[hub]"'
#: The model card's metadata (also what the Hub shows).
HUB_METADATA = dict(
    library_name="mspan-pyg",
    tags=["video-question-answering", "pytorch-geometric", "mspan"],
    paper_url="https://aclanthology.org/2021.acl-short.122/",
)

try:
    from huggingface_hub import PyTorchModelHubMixin as _HubMixin

    HUB_AVAILABLE = True
except ImportError:  # the `hub` extra is not installed: same methods, a clear error
    HUB_AVAILABLE = False

    class _HubMixin:  # type: ignore[no-redef]
        def __init_subclass__(cls, **metadata):  # swallows the Hub metadata keywords
            super().__init_subclass__()

        def save_pretrained(self, *args, **kwargs):
            raise ConfigError(f"save_pretrained needs huggingface_hub, safetensors: {INSTALL_HINT}")

        def push_to_hub(self, *args, **kwargs):
            raise ConfigError(f"push_to_hub needs huggingface_hub, safetensors: {INSTALL_HINT}")

        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            raise ConfigError(f"from_pretrained needs huggingface_hub, safetensors: {INSTALL_HINT}")


def _require_safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise ConfigError(f"model.safetensors files need safetensors: {INSTALL_HINT}") from None
    return safetensors.torch


# (a copy of the tags: the mixin appends its own to the list it is given)
class PretrainedMixin(_HubMixin, **{**HUB_METADATA, "tags": list(HUB_METADATA["tags"])}):
    """What :class:`~mspan_pyg.models.MSPAN` gets from the Hub mixin, with the folder above.

    ``run_info`` (a dict, or ``None``) travels with the model: :meth:`save_pretrained` writes it
    to ``run.json`` and :meth:`from_pretrained` sets it again."""

    run_info: Optional[Dict[str, Any]] = None

    def _save_pretrained(self, save_directory: Path) -> None:
        # Written here, not by the mixin, so that config.json is exactly `model.config` (the
        # mixin would store the constructor's arguments as given, e.g. an unresolved default).
        st = _require_safetensors()
        save_directory = Path(save_directory)
        st.save_model(self, str(save_directory / WEIGHTS_FILE))
        (save_directory / CONFIG_FILE).write_text(json.dumps(self.config, indent=2) + "\n")
        run = save_directory / RUN_FILE
        if self.run_info is not None:
            run.write_text(json.dumps(self.run_info, indent=1) + "\n")
        elif run.exists():  # a previous save's run.json would describe another model
            run.unlink()
        card = save_directory / CARD_FILE
        if card.exists():
            card.unlink()
        card.write_text(model_card(self.config, self.run_info))

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: Optional[str] = None,
        cache_dir=None,
        force_download: bool = False,
        local_files_only: bool = False,
        token=None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ):
        # Replaces the mixin's loader: strict by default (a missing weight is an error, not a
        # silently random layer), no print on stdout, and run.json read back.
        def fetch(name: str, required: bool = True) -> Optional[str]:
            if os.path.isdir(model_id):
                path = os.path.join(model_id, name)
                if not os.path.isfile(path):
                    if required:
                        raise CheckpointError(f"{model_id} is not a saved MSPAN: it has no {name}")
                    return None
                return path
            from huggingface_hub import hf_hub_download

            try:
                return hf_hub_download(
                    repo_id=model_id, filename=name, revision=revision, cache_dir=cache_dir,
                    force_download=force_download, token=token, local_files_only=local_files_only,
                )  # fmt: skip
            except Exception:
                if required:
                    raise
                return None

        try:
            model = cls(**model_kwargs)
        except (TypeError, ConfigError, ValueError) as e:
            raise CheckpointError(
                f"{model_id}: cannot rebuild MSPAN from its {CONFIG_FILE} ({e})"
            ) from None
        st = _require_safetensors()
        weights = fetch(WEIGHTS_FILE)
        try:
            st.load_model(model, weights, strict=strict, device=str(map_location))
        except Exception as e:  # safetensors raises RuntimeError, SafetensorError, OSError...
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"{weights} does not fit this model: {first}") from None
        run = fetch(RUN_FILE, required=False)
        if run is not None:
            model.run_info = read_json(run)
        return model.eval()


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not readable JSON ({e})") from None


def is_pretrained_folder(path: str) -> bool:
    """Whether ``path`` is a folder written by ``save_pretrained`` (it has ``config.json``)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG_FILE))


def model_card(config: Dict[str, Any], run_info: Optional[Dict[str, Any]]) -> str:
    """A short model card: the Hub's metadata header, what the model answers, how to load it."""
    tags = "\n".join(f"- {t}" for t in HUB_METADATA["tags"])
    run = run_info or {}
    what = f"task `{run.get('task', config['task'])}`"
    if run.get("dataset"):
        what += f" of dataset `{run['dataset']}`"
    best = run.get("best") or {}
    scores = ""
    if isinstance(best.get("val"), dict):
        shown = {k: v for k, v in best["val"].items() if isinstance(v, (int, float))}
        scores = "\nValidation (selected epoch {}): {}\n".format(
            best.get("epoch"), ", ".join(f"{k} {v:.4f}" for k, v in shown.items())
        )
    return (
        f"---\nlibrary_name: {HUB_METADATA['library_name']}\nlicense: mit\ntags:\n{tags}\n---\n\n"
        f"# MSPAN ({what})\n\n"
        "The Multi-Scale Progressive Attention Network for video question answering "
        f"([Guo et al., ACL 2021]({HUB_METADATA['paper_url']})), trained with mspan-pyg: "
        f"{config['num_scales']} scales, {config['num_iterations']} iterations, "
        f"{config['task']} answer head.\n{scores}\n"
        "```python\nfrom mspan_pyg import MSPAN\n\n"
        "model = MSPAN.from_pretrained(PATH_OR_REPO)\n```\n\n"
        "```bash\nmspan-pyg answer PATH --video my.mp4 --question 'what is the man doing ?'\n"
        "```\n"
    )
