"""Recurrent layers of the paper's CNN-RNN: the GRU in its two variants, and the LSTM with
peephole connections that Keras 3 does not ship.

**GRU** (:func:`gru_layer`, ``model.gru``). ``keras``: Keras' default
``GRU(reset_after=True)``, the reset gate applied after the recurrent matmul,
``r ⊙ (U_h h_{t-1} + b_rh)`` (cuDNN's form; two bias vectors). ``tf1``: TensorFlow 1's
``GRUCell``, which the paper's code used (Section 3: "implemented in the Tensorflow
platform"), ``U_h (r ⊙ h_{t-1})`` — the reset gate multiplies the state before the matmul
(Keras ``GRU(reset_after=False)``, one bias vector; no cuDNN kernel on a GPU). The authors'
released checkpoints hold this cell (:mod:`pipeline.models.tf1_import` builds it here).

**Peephole LSTM** (:class:`PeepholeLSTMCell`).

Gers & Schmidhuber (2000), with diagonal peephole weights ``w_i, w_f, w_o`` (one per unit):

    i_t = σ(W_i x_t + U_i h_{t-1} + w_i ⊙ c_{t-1} + b_i)
    f_t = σ(W_f x_t + U_f h_{t-1} + w_f ⊙ c_{t-1} + b_f)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ tanh(W_c x_t + U_c h_{t-1} + b_c)
    o_t = σ(W_o x_t + U_o h_{t-1} + w_o ⊙ c_t + b_o)
    h_t = o_t ⊙ tanh(c_t)

(σ is the cell's ``recurrent_activation``, tanh its ``activation``.) This is what
``tf.compat.v1.nn.rnn_cell.LSTMCell(use_peepholes=True)`` and TF 2's former
``tf.keras.experimental.PeepholeLSTMCell`` computed. The paper names TensorFlow and an LSTM
"allowing peephole connections" (Sections 3, 3.2); that it used the TF 1 cell is our reading.
Wrap the cell in ``keras.layers.RNN``.
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import ops

# model.gru -> Keras GRU's reset_after (see the module docstring)
GRU_RESET_AFTER = {"keras": True, "tf1": False}


def gru_layer(
    units: int, variant: Literal["keras", "tf1"], name: str, return_sequences: bool = True
) -> keras.layers.GRU:
    """A GRU layer of ``units`` in the ``variant`` of the module docstring."""
    if variant not in GRU_RESET_AFTER:
        raise ValueError(f"GRU variant {variant!r} (allowed: {', '.join(GRU_RESET_AFTER)})")
    return keras.layers.GRU(
        units,
        reset_after=GRU_RESET_AFTER[variant],
        return_sequences=return_sequences,
        name=name,
    )


@keras.saving.register_keras_serializable(package="affwild")
class PeepholeLSTMCell(keras.layers.LSTMCell):
    """``keras.layers.LSTMCell`` plus diagonal peephole connections (see the module doc)."""

    def build(self, input_shape):
        super().build(input_shape)
        init = keras.initializers.get(self.kernel_initializer)
        self.input_gate_peephole_weights = self.add_weight(
            shape=(self.units,), name="input_gate_peephole_weights", initializer=init
        )
        self.forget_gate_peephole_weights = self.add_weight(
            shape=(self.units,), name="forget_gate_peephole_weights", initializer=init
        )
        self.output_gate_peephole_weights = self.add_weight(
            shape=(self.units,), name="output_gate_peephole_weights", initializer=init
        )

    def _compute_carry_and_output(self, x, h_tm1, c_tm1):
        x_i, x_f, x_c, x_o = x
        h_i, h_f, h_c, h_o = h_tm1
        u = self.units
        rk = self.recurrent_kernel
        i = self.recurrent_activation(
            x_i + ops.matmul(h_i, rk[:, :u]) + self.input_gate_peephole_weights * c_tm1
        )
        f = self.recurrent_activation(
            x_f + ops.matmul(h_f, rk[:, u : 2 * u]) + self.forget_gate_peephole_weights * c_tm1
        )
        c = f * c_tm1 + i * self.activation(x_c + ops.matmul(h_c, rk[:, 2 * u : 3 * u]))
        o = self.recurrent_activation(
            x_o + ops.matmul(h_o, rk[:, 3 * u :]) + self.output_gate_peephole_weights * c
        )
        return c, o

    def _compute_carry_and_output_fused(self, z, c_tm1):
        z0, z1, z2, z3 = z
        i = self.recurrent_activation(z0 + self.input_gate_peephole_weights * c_tm1)
        f = self.recurrent_activation(z1 + self.forget_gate_peephole_weights * c_tm1)
        c = f * c_tm1 + i * self.activation(z2)
        o = self.recurrent_activation(z3 + self.output_gate_peephole_weights * c)
        return c, o
