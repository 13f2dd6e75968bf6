"""Providers: one async interface (base.Provider), one module per API, each registering itself."""

from .base import Provider, RateInfo, Request, Response, build_provider

__all__ = [
    "RateInfo",
    "Provider",
    "Request",
    "Response",
    "build_provider",
]
