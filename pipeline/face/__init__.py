"""Face processing: the ``detect``, ``landmarks`` and ``crop`` stages' library.

* ``mediapipe_models`` — MediaPipe's detector and ROI-seeded face mesh (the only MediaPipe user)
* ``subject``   — following the labelled person among all faces (pure)
* ``ibug68``    — the 68 iBUG 300-W points from the 468-point mesh: the learnt map (its
  coefficients in ``data/ibug68_map.npz``) or the rules (pure)
* ``fit_map``   — refits that map from a folder of ``.pts``-annotated photos (command)
* ``plausible`` — the texture check: does the mesh's face look like a face (pure)
* ``temporal``  — gap interpolation and One-Euro smoothing (pure, streaming)
* ``crop``      — crop geometry, resampling, JPEG; the crop stage per video
* ``detect`` / ``landmarks`` — the other two stages per video
* ``tables``    — the per-video Parquet schemas, streaming writer and readers
* ``jobs`` / ``runner`` — per-video job, report and the typed :class:`~pipeline.face.jobs.FaceStage`;
  running a stage over the manifest on an engine (:mod:`pipeline.parallel`)
* ``reference`` — the mean 300-W shape and the NME measure used to check the mapping

The 68-point vocabulary they share is :mod:`pipeline.contracts.points68`.
"""
