from mspan_pyg.nn.cross_scale_attention import CrossScaleAttention
from mspan_pyg.nn.question_encoder import QuestionEncoder
from mspan_pyg.nn.readout import QuestionReadout

__all__ = ["CrossScaleAttention", "QuestionEncoder", "QuestionReadout"]
