// The official TypeScript SDK (@modelcontextprotocol/sdk 1.32) with the same echo tool, served as
// its README's stateful Streamable HTTP example does: express, one transport per session.
import { randomUUID } from "node:crypto";
import express from "express";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const transports = {};
const app = express();
app.use(express.json());

app.post("/mcp", async (req, res) => {
  const sessionId = req.headers["mcp-session-id"];
  let transport = sessionId ? transports[sessionId] : undefined;
  if (!transport) {
    if (sessionId || !isInitializeRequest(req.body)) {
      res.status(400).json({ jsonrpc: "2.0", error: { code: -32000, message: "Bad Request: no valid session" }, id: null });
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => { transports[id] = transport; },
    });
    transport.onclose = () => { if (transport.sessionId) delete transports[transport.sessionId]; };
    const server = new McpServer({ name: "ts-sdk", version: "0" });
    server.registerTool("echo", { description: "Return the text unchanged.", inputSchema: { text: z.string() } },
      async ({ text }) => ({ content: [{ type: "text", text }] }));
    await server.connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});

const listener = app.listen(0, "127.0.0.1", () => {
  console.error(`ts-sdk listening on http://127.0.0.1:${listener.address().port}`);
});
process.on("SIGTERM", () => listener.close(() => process.exit(0)));
