"""The discovery documents: RFC 9728 protected resource metadata, RFC 8414 server metadata."""

from __future__ import annotations

from typing import Any

from vpsmcp.oauth.resources import Resources

AUTH_METHODS = ["client_secret_post", "client_secret_basic", "none"]


def protected_resource(resources: Resources, path: str, scopes: list[str]) -> dict[str, Any]:
    """RFC 9728 §2 for ``/mcp``, ``/sse``, ``/ws`` or (``""``) the server as a whole.

    ``offline_access`` is never listed (MCP 2026-07-28): refresh tokens come anyway.
    """
    return {
        "resource": resources.resource(path),
        "authorization_servers": [resources.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "vpsmcp",
    }


def authorization_server(resources: Resources, scopes: list[str], cimd: bool) -> dict[str, Any]:
    """RFC 8414 §2, with the MCP-relevant extensions (RFC 9207 ``iss``; CIMD when ``cimd``,
    see ``cimd_offer.py``: absent means not supported)."""
    url = resources.url
    document: dict[str, Any] = {
        "issuer": resources.issuer,
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "registration_endpoint": url("/register"),
        "revocation_endpoint": url("/revoke"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    if cimd:
        document["client_id_metadata_document_supported"] = True
    return document
