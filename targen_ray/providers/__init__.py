"""Providers: one async interface (base.Provider), one module per API, each registering itself."""

from .base import AuthError, FatalError, Provider, ProviderError, Request, Response, build_provider

__all__ = ["AuthError", "FatalError", "Provider", "ProviderError", "Request", "Response", "build_provider"]
