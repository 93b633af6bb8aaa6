"""affwild: valence/arousal estimation from faces in the wild, as a reproducible DVC pipeline.

The package is organised by what it computes:

- ``pipeline.config``    typed, validated parameters (``params.yaml``)
- ``pipeline.datasets``  readers for Aff-Wild, Aff-Wild2 and AFEW-VA, splits, table schemas
- ``pipeline.video``     reading frames from video files and frame folders
- ``pipeline.demo``      the synthetic demo data set (animated real face photographs)
- ``pipeline.io``        atomic output writing and small file helpers
"""

__version__ = "0.1.0"
