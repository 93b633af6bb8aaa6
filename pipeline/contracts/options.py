"""The typed knobs of a plug-in that params.yaml sets beside its name.

:class:`BackboneOptions` is the base of a backbone's options (``model.backbone: {name: small,
width: 16}``): :mod:`pipeline.config` validates them with the rest of ``params.yaml`` and the
backbone's build function gets the validated object (:func:`pipeline.models.backbones.build_backbone`).
It sits here, below both, so that a backbone module does not import the params code that reads it.
"""

from __future__ import annotations

from pipeline.contracts.sections import Section


class BackboneOptions(Section):
    """The knobs of one backbone. A backbone declares its own subclass
    (``BackboneSpec.options``); this base has none."""
