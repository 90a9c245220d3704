"""Python client for Cloudrun (WRF runs as a service).

    from cloudrun import Cloudrun
    api = Cloudrun(token)                      # or CLOUDRUN_TOKEN / CLOUDRUN_URL from the environment
    run = api.create_run(model='wrf', version='3.9')
    run.upload(file='wrfinput_d01')
    run.setup(); run.start(); run.wait('done')

This package talks HTTP only; it never imports the ``orchestrator`` backend.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._http import RateLimit  # noqa: E402
from ._types import BuildInfo, ComputeOption, InputFile, JobInfo, ModelInfo, RunErrorInfo  # noqa: E402
from .errors import (  # noqa: E402
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    CloudrunConnectionError,
    CloudrunError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    MethodNotAllowedError,
    MissingTokenError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    UnexpectedResponseError,
    UnexpectedStatusError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from .run import RUN_FIELDS, Run  # noqa: E402
from .client import DEFAULT_URL, Cloudrun  # noqa: E402

__all__ = [
    "__version__",
    "Cloudrun",
    "Run",
    "DEFAULT_URL",
    "RUN_FIELDS",
    "RateLimit",
    "ModelInfo",
    "RunErrorInfo",
    "InputFile",
    "ComputeOption",
    "JobInfo",
    "BuildInfo",
    "CloudrunError",
    "ConfigurationError",
    "MissingTokenError",
    "CloudrunConnectionError",
    "UnexpectedResponseError",
    "APIError",
    "ClientError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "MethodNotAllowedError",
    "ConflictError",
    "PayloadTooLargeError",
    "UnprocessableEntityError",
    "RateLimitError",
    "ServerError",
    "InternalServerError",
    "ServiceUnavailableError",
    "WaitTimeoutError",
    "UnexpectedStatusError",
]
