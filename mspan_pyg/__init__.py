"""MSPAN (Multi-Scale Progressive Attention Network, ACL 2021) for video question
answering, as a PyTorch Geometric extension."""

import warnings

# PyG 2.8 still decorates a few helpers with torch.jit.script, which torch >= 2.14 reports as
# deprecated at import; the notice is PyG's, so it is silenced here for this import only
# (the caller's warning filters are left as they were).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    import torch_geometric  # noqa: F401

from mspan_pyg.graphs import build_multiscale_graph, build_video_graph  # noqa: E402
from mspan_pyg.models import MSPAN  # noqa: E402
from mspan_pyg.nn import CrossScaleAttention  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "MSPAN",
    "CrossScaleAttention",
    "build_multiscale_graph",
    "build_video_graph",
    "__version__",
]
