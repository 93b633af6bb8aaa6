"""One thin module per DVC stage: parse params and paths, call ``pipeline``, write outputs."""
