"""MSPAN (Multi-Scale Progressive Attention Network, ACL 2021) for video question
answering, as a PyTorch Geometric extension."""

from mspan_pyg.graphs import build_multiscale_graph, build_video_graph
from mspan_pyg.models import MSPAN
from mspan_pyg.nn import CrossScaleAttention

__version__ = "0.1.0"
__all__ = [
    "MSPAN",
    "CrossScaleAttention",
    "build_multiscale_graph",
    "build_video_graph",
    "__version__",
]
