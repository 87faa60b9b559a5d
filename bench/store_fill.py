"""Fill a state directory's OAuth store as a busy server would have: run by bench/store.py under the bench venv.

``python bench/store_fill.py BACKEND WHERE CLIENTS GRANTS``: CLIENTS registrations, GRANTS
grants spread over them, each grant with one live access token and one live refresh token (so
GRANTS = 50,000 is 100,000 stored tokens). Every registration holds grants, so none is an unused
one the registration cap would sweep away. WHERE is the state directory, or for ``redis``
``URL#PREFIX``. Written in one go (one transaction, one file), for Redis in transactions of 500.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

from vpsmcp.oauth.file_store import FORMAT, STORE_FILE
from vpsmcp.oauth.records import Client, Family, digest
from vpsmcp.oauth.sqlite_store import SqliteStore
from vpsmcp.oauth.store import SQLITE_FILE


def records(clients: int, grants: int, resource: str) -> tuple[list[Client], list[Family]]:
    now = time.time()
    made = [Client(f"bench-{n:06d}", ("http://127.0.0.1:9/cb",), name=f"bench {n}", created_at=now) for n in range(clients)]
    families = [
        Family(secrets.token_hex(8), made[n % clients].client_id, ("mcp:read",), resource, now, now + 86400,
               access={digest(secrets.token_urlsafe(32)): now + 3600}, live={digest(secrets.token_urlsafe(32)): now})
        for n in range(grants)
    ]
    return made, families


def main(backend: str, where: str, clients: int, grants: int, resource: str) -> None:
    made, families = records(clients, grants, resource)
    if backend == "redis":
        from vpsmcp.oauth.redis_store import RedisStore

        url, prefix = where.split("#", 1)
        shared = RedisStore(url, prefix)
        for batch in range(0, max(clients, grants), 500):  # each transaction well inside the lock's life
            with shared.transaction():
                for client in made[batch:batch + 500]:
                    shared.add_client(client)
                for family in families[batch:batch + 500]:
                    shared.save_family(family)
        shared.close()
        return
    state_dir = Path(where)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if backend == "files":
        data = {"format": FORMAT, "clients": [c.to_json() for c in made], "families": [f.to_json() for f in families]}
        (state_dir / STORE_FILE).write_text(json.dumps(data, separators=(",", ":")))
        (state_dir / STORE_FILE).chmod(0o600)
        return
    store = SqliteStore(state_dir / SQLITE_FILE, create=True)
    with store.transaction():
        for client in made:
            store.add_client(client)
        for family in families:
            store.save_family(family)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
