"""Data layer: annotation readers, vocabularies, GloVe, HDF5 features, dataset and loader."""

from .annotations import (
    FRAMEQA_TYPES,
    TASK_KIND,
    TGIF_TASKS,
    VIDEOQA_TYPES,
    QARecord,
    normalize_text,
    read_tgif_csv,
    read_tgif_qa,
    read_videoqa_file,
    read_videoqa_json,
    split_by_video,
    tgif_path,
    tgif_vid_id_map,
    videoqa_question_type,
)
from .datasets import VideoQADataset, collate, default_qtype_names, make_loader
from .features import FeatureStore, convert_hcrn, convert_npy_folders, uniform_frame_indices
from .glove import load_glove
from .text import PAD, UNK, AnswerVocabulary, Vocabulary, tokenize

__all__ = [
    "QARecord",
    "TGIF_TASKS",
    "TASK_KIND",
    "FRAMEQA_TYPES",
    "VIDEOQA_TYPES",
    "read_tgif_qa",
    "read_tgif_csv",
    "read_videoqa_json",
    "read_videoqa_file",
    "split_by_video",
    "normalize_text",
    "tgif_path",
    "tgif_vid_id_map",
    "videoqa_question_type",
    "tokenize",
    "Vocabulary",
    "AnswerVocabulary",
    "PAD",
    "UNK",
    "load_glove",
    "FeatureStore",
    "convert_npy_folders",
    "convert_hcrn",
    "uniform_frame_indices",
    "VideoQADataset",
    "collate",
    "make_loader",
    "default_qtype_names",
]
