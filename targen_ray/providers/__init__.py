"""Providers: one async interface (base.Provider), one module per API, each registering itself."""

from .base import AuthError, Provider, ProviderError, Request, Response, build_provider

__all__ = ["AuthError", "Provider", "ProviderError", "Request", "Response", "build_provider"]
