"""Providers: one async interface (base.Provider), one module per API, each registering itself."""

from .base import (
    AuthError,
    FatalError,
    Provider,
    ProviderError,
    RateInfo,
    RateLimited,
    Request,
    Response,
    build_provider,
)

__all__ = [
    "AuthError",
    "FatalError",
    "RateInfo",
    "RateLimited",
    "Provider",
    "ProviderError",
    "Request",
    "Response",
    "build_provider",
]
