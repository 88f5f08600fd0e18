from mspan_pyg.graphs.intervals import interval_edges, resolve_strides
from mspan_pyg.graphs.multiscale import (
    MultiScaleGraph,
    build_multiscale_graph,
    build_video_graph,
    multiscale_graph,
)

__all__ = [
    "build_multiscale_graph",
    "build_video_graph",
    "multiscale_graph",
    "MultiScaleGraph",
    "interval_edges",
    "resolve_strides",
]
