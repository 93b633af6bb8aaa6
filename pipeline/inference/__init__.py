"""Using a trained model: ``affwild predict`` (any video -> valence/arousal per frame) and
``affwild export`` (SavedModel / TFLite).

* ``model``   — a trained model folder loaded and checked; what it needs (crop size,
  normalisation, landmarks, window length, the face stages' params); ``--device``
* ``predict`` — every face step on the video's frames in memory
  (:class:`~pipeline.face.tracker.FaceTracker`), crops -> model inputs exactly as the records reader makes them; CNN batches or
  CNN-RNN windows; one row per frame; the per-video driver and the output table
* ``overlay`` — the input video with box, landmarks, a valence/arousal gauge and trace drawn
* ``inputs``  — expanding video arguments (files, folders, globs) and naming the outputs
* ``export``  — SavedModel (``model.export``) and TFLite conversion, checked against Keras
"""
