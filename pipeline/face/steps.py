"""The registered face steps as the drivers (:mod:`pipeline.face.runner`,
:mod:`pipeline.face.tracker`) need them: in order, and the schema of each table they write.
The steps themselves do not read the registry, so reading it (which imports the built-in
steps) never runs back into a step's own module."""

from __future__ import annotations

import pyarrow as pa

from pipeline.artifacts import face_step_names
from pipeline.face import tables
from pipeline.face.jobs import FaceStep
from pipeline.registry import FACE_STAGES


def face_steps() -> list[FaceStep]:
    """Every registered face step, in the order they run (:func:`face_step_names`)."""
    return [FACE_STAGES.get(name) for name in face_step_names()]


def table_schemas() -> dict[str, pa.Schema]:
    """Each table a registered face step writes -> its schema."""
    return {step.writes: step.schema for step in face_steps()}


def table_schema(name: str) -> pa.Schema:
    """The schema of the table ``name``: that of the registered step writing it."""
    schemas = table_schemas()
    if name not in schemas:
        known = ", ".join(schemas)
        raise tables.TableError(f"no face step writes a table {name!r} (tables: {known})")
    return schemas[name]
