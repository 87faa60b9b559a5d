"""vpsmcp's own OAuth 2.1 authorization server and the resource server's bearer check.

Built for how MCP clients, Claude's connector first, really behave
(MCP basic/authorization; RFC 6749, 7009, 7591, 7636, 8414, 8707, 9207, 9728;
the client ID metadata documents draft). authlib's core runs the grants;
everything that touches Quart, files or the network is adapted here.
"""
