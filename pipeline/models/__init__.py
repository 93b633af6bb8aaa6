"""The networks: backbone registry, the paper's heads, CNN-RNN, peephole LSTM, weights;
the authors' published TF1 checkpoints as model folders (:mod:`pipeline.models.tf1_import`).

from pipeline.models import create_model, normalization_for
model = create_model(params.model, image_size=96, kind="cnn_rnn", seq_len=50)
"""

import importlib

# name -> the submodule defining it; imported on first use (PEP 562), so that reading the
# backbone registry (pipeline.models.backbones, light) when params.yaml is validated does
# not load Keras.
_SOURCES = {
    "BackboneSpec": "backbones",
    "build_backbone": "backbones",
    "get_backbone": "backbones",
    "list_backbones": "backbones",
    "normalization_for": "backbones",
    "PeepholeLSTMCell": "cells",
    "build_model": "factory",
    "create_model": "factory",
    "head_units": "factory",
    "rnn_fc_units": "factory",
    "FoldTime": "layers",
    "WeightsError": "weights",
    "WeightsReport": "weights",
    "freeze_backbone": "weights",
    "initialize": "weights",
    "load_weights_by_name": "weights",
    "read_weights_file": "weights",
    "transfer_cnn_weights": "weights",
    "weight_layers": "weights",
}


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module 'pipeline.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pipeline.models.{_SOURCES[name]}"), name)


__all__ = [
    "BackboneSpec",
    "FoldTime",
    "PeepholeLSTMCell",
    "WeightsError",
    "WeightsReport",
    "build_backbone",
    "build_model",
    "create_model",
    "freeze_backbone",
    "get_backbone",
    "head_units",
    "initialize",
    "list_backbones",
    "load_weights_by_name",
    "normalization_for",
    "read_weights_file",
    "rnn_fc_units",
    "transfer_cnn_weights",
    "weight_layers",
]
