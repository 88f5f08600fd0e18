"""Data layer: annotation readers, vocabularies, GloVe, HDF5 features, dataset and loader, and the
dataset registry (:mod:`mspan_pyg.data.registry`)."""

from .annotations import (
    QARecord,
    normalize_text,
    read_tgif_csv,
    read_tgif_qa,
    read_videoqa_file,
    read_videoqa_json,
    split_by_video,
    tgif_key_map,
    tgif_path,
    tgif_vid_id_map,
    videoqa_question_type,
)
from .datasets import VideoQADataset, collate, default_qtype_names, make_loader
from .features import FeatureStore, convert_hcrn, convert_npy_folders, uniform_frame_indices
from .glove import load_glove
from .registry import DatasetSpec, dataset_names, get_dataset, register_dataset
from .text import PAD, UNK, AnswerVocabulary, Vocabulary, tokenize

__all__ = [
    "QARecord",
    "read_tgif_qa",
    "read_tgif_csv",
    "read_videoqa_json",
    "read_videoqa_file",
    "split_by_video",
    "normalize_text",
    "tgif_path",
    "tgif_key_map",
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
    "DatasetSpec",
    "register_dataset",
    "get_dataset",
    "dataset_names",
]
