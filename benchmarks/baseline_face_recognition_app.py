"""The baseline: the plain face_recognition pipeline behind a minimal FastAPI app.

No authentication, no database, no quality gate, no batching, no pool: each request
decodes the image (`face_recognition.load_image_file`), finds faces with the default
HOG detector (`face_locations`, one upsample), and encodes the first face with the
5-point landmarks (`face_encodings(..., model="small")`), in FastAPI's default
thread pool, one dlib call at a time per worker. Stateless: `/transactions` returns
the portrait encoding and the client
sends it back with each capture, so several workers need no shared state.

    uvicorn baseline_face_recognition_app:app --app-dir benchmarks
"""

from __future__ import annotations

import io
import json
import threading
from typing import Annotated, Any

import face_recognition
import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, UploadFile

app = FastAPI(title="face_recognition baseline")


# face_recognition's dlib models are module-level objects; called from FastAPI's
# thread pool at once they corrupt the heap ("corrupted size vs. prev_size", seen at
# N=16), so the baseline serialises them per worker process.
_dlib = threading.Lock()


def _encode(data: bytes) -> Any:
    image = face_recognition.load_image_file(io.BytesIO(data))
    with _dlib:
        boxes = face_recognition.face_locations(image)
        if not boxes:
            return None
        return face_recognition.face_encodings(image, boxes[:1], model="small")[0]


@app.post("/transactions")
def open_transaction(portrait: Annotated[UploadFile, File()]) -> dict[str, Any]:
    encoding = _encode(portrait.file.read())
    if encoding is None:
        raise HTTPException(422, "no face in portrait")
    return {"reference": json.dumps([float(x) for x in encoding])}


@app.post("/captures")
def capture(
    image: Annotated[UploadFile, File()], reference: Annotated[str, Form()]
) -> dict[str, Any]:
    reference_vector = np.asarray(json.loads(reference))
    encoding = _encode(image.file.read())
    if encoding is None:
        return {"distance": None, "match": False}
    distance = float(face_recognition.face_distance([reference_vector], encoding)[0])
    return {"distance": distance, "match": distance <= 0.6}


@app.get("/readyz")
def readyz() -> dict[str, bool]:
    return {"ready": True}
