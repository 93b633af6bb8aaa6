"""The networks: backbone registry, the paper's heads, CNN-RNN, peephole LSTM, weights;
the authors' published TF1 checkpoints as model folders (:mod:`pipeline.models.tf1_import`).

from pipeline.models import create_model, normalization_for
model = create_model(params.model, image_size=96, kind="cnn_rnn", seq_len=50)
"""

from pipeline.models.backbones import (
    BackboneSpec,
    build_backbone,
    get_backbone,
    list_backbones,
    normalization_for,
)
from pipeline.models.cells import PeepholeLSTMCell
from pipeline.models.factory import build_model, create_model, head_units, rnn_fc_units
from pipeline.models.layers import FoldTime
from pipeline.models.weights import (
    WeightsError,
    WeightsReport,
    freeze_backbone,
    initialize,
    load_weights_by_name,
    read_weights_file,
    transfer_cnn_weights,
    weight_layers,
)

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
