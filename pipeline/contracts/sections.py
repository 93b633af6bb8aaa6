"""The base of every ``params.yaml`` section: frozen, no unknown key, and YAML values kept
at the type they were written with. Here, below the params code (:mod:`pipeline.config`)
and the parts whose sections it holds, so that those parts need not import it."""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _typed_as_written(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML values keep their type: a number where a switch belongs, a switch or a quoted
        string where a number belongs, is refused instead of coerced (``true`` → 1,
        ``"3"`` → 3, ``1`` → true)."""
        field = cls.model_fields.get(info.field_name or "")
        expected = _scalar_types(field.annotation) if field else None
        if value is None or not expected:
            return value
        if expected == {bool}:
            if not isinstance(value, bool):
                raise ValueError("Input should be true or false")
        elif isinstance(value, bool | str) and bool not in expected:
            what = "an integer" if expected == {int} else "a number"
            kind = "true/false" if isinstance(value, bool) else "a string"
            raise ValueError(f"Input should be {what}, not {kind}")
        return value


def _scalar_types(annotation: Any) -> set[type] | None:
    """The scalar types (bool, int, float) a field takes, ``None`` dropped; None when the
    field takes anything else (strings, choices, lists, sections)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    members = (
        get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    )
    types = {m for m in members if m is not type(None)}
    return types if types and types <= {bool, int, float} else None
