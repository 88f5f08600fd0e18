"""``mspan-pyg demo``: a local web page where a trained model answers questions about videos
(the ``demo`` extra: Gradio). :mod:`mspan_pyg.demo.app` builds it; importing this package does
not import Gradio."""
