"""Request and response bodies (pydantic), shared by the routers; they document the API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Value = float | int | str | bool | None
Label = int | float | str | bool


class Rows(BaseModel):
    """Rows as objects keyed by feature name, or arrays in training column order."""

    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Value] | list[Value]] = Field(..., min_length=1)


class PredictResponse(BaseModel):
    request_id: str
    deployment: str
    model_id: str
    model_ref: str
    classes: list[Any]
    predictions: list[Any]
    probabilities: list[list[float]]


class ObserveResponse(BaseModel):
    deployment: str
    model_id: str
    rows: int
    queued: bool


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(..., min_length=1, max_length=64)
    labels: list[Label | None] = Field(..., min_length=1)


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, max_length=300, description="model reference")
    reason: str = Field("", max_length=1000)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("rollback", max_length=1000)


class Validation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Value] | list[Value]] = Field(..., min_length=1)
    labels: list[Label] = Field(..., min_length=1)


class RepairBody(BaseModel):
    """Run the repair pipeline on a deployment. ``window``: rows of today's data (default: the
    deployment's recently served rows); ``validation``: labelled rows (default: its feedback
    labels, when any)."""

    model_config = ConfigDict(extra="forbid")
    deployment: str = Field(..., min_length=1, max_length=200)
    window: list[dict[str, Value] | list[Value]] | None = None
    validation: Validation | None = None
    approve: bool | None = None
    drift_share: float | None = Field(None, gt=0, le=1)


class LabelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Label
    annotator: str = Field("dashboard", min_length=1, max_length=200)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(..., pattern="^(read|write|admin)$")
    name: str = Field("", max_length=200)
    ttl_seconds: float | None = Field(None, gt=0)


class Detail(BaseModel):
    detail: Any


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "no token, or an unknown / revoked / expired one"},
    403: {"model": Detail, "description": "the token's role is too low"},
    404: {"model": Detail, "description": "unknown model, deployment, report, ..."},
    413: {"model": Detail, "description": "body over the size limit"},
    422: {"model": Detail, "description": "invalid path, query or body"},
}
