"""Data-set readers (Aff-Wild, Aff-Wild2, AFEW-VA) and splits.

- ``affwild.py``, ``affwild2.py``, ``afewva.py``: one reader per layout, as the data sets ship
- ``labels.py``: label-file parsing with every bad line reported
- ``split.py``: train / val / test by video, seeded
- ``ingest.py``: the ``ingest`` stage's core (scan, probe, check, split, tables)
- the interim tables' schemas are in ``pipeline.contracts.schema``
"""
