"""Face processing: the ``detect``, ``landmarks`` and ``crop`` stages' library.

* ``mediapipe_models`` — MediaPipe's detector and ROI-seeded face mesh (the only MediaPipe user)
* ``subject``   — following the labelled person among all faces (pure)
* ``ibug68``    — the 68 iBUG 300-W points from the 468-point mesh: the learnt map (its
  coefficients in ``data/ibug68_map.npz``) or the rules (pure)
* ``fit_map``   — refits that map from a folder of ``.pts``-annotated photos (command)
* ``plausible`` — the texture check: does the mesh's face look like a face (pure)
* ``temporal``  — gap interpolation and One-Euro smoothing (pure, streaming)
* ``crop``      — crop geometry, resampling, JPEG; the crop step
* ``detect`` / ``landmarks`` — the other two built-in face steps
* ``tables``    — the per-video Parquet schemas, streaming writer and readers
* ``jobs``      — the typed :class:`~pipeline.face.jobs.FaceStep`, its per-video job and the
  table driver on one video
* ``runner``    — the table driver over the manifest on an engine (:mod:`pipeline.parallel`):
  ``python -m stages.face NAME``
* ``tracker``   — the in-memory driver, :class:`~pipeline.face.tracker.FaceTracker`: every
  registered step on frames as they come (``affwild predict``)
* ``reference`` — the mean 300-W shape and the NME measure used to check the mapping

The 68-point vocabulary they share is :mod:`pipeline.contracts.points68`.
"""
