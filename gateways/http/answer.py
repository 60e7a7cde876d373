"""The answer of a hot read endpoint: its response model dumped to JSON once, by pydantic.

An endpoint that returns a dict or a model has FastAPI validate it against the response model again
and, for a plain `def` endpoint, do so on the thread pool: one more hop per request on top of the
endpoint's own. The read paths drivers hit most (nearby, one lot, guidance, forecasts) build their
model themselves and return it through `json_answer`; the response model still documents the shape.
"""
from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_answer(model: BaseModel) -> Response:
    """`model` as the JSON body FastAPI would have sent for it, without validating it a second time."""
    return Response(model.model_dump_json(), media_type="application/json")
