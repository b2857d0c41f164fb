"""The ordered migration sequence: ``mNNNN_<domain>.py``, each with ``apply(cur, caps)``."""
