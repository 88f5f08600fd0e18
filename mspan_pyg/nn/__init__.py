from mspan_pyg.nn.candidate_query import MC_QUERIES, join_question_candidates
from mspan_pyg.nn.cross_scale_attention import CrossScaleAttention
from mspan_pyg.nn.question_encoder import QuestionEncoder
from mspan_pyg.nn.readout import QuestionReadout

__all__ = [
    "CrossScaleAttention",
    "MC_QUERIES",
    "QuestionEncoder",
    "QuestionReadout",
    "join_question_candidates",
]
