"""Images in, embeddings and scores out: detection, landmarks, alignment, capture
quality, the face embedder, the matcher and ISO/IEC 19795-1 evaluation.

Knows nothing of passports. Importing it loads no model.
"""


class BiometricsError(Exception):
    """Root of every error raised by the biometric core."""
