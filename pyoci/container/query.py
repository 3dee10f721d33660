"""Read-only commands: ``state`` and ``list``.

They take no lock, so they answer at once even while a ``create`` of the same
container is still running (it reads as ``creating``).
"""

from __future__ import annotations

from pyoci import jsonio
from pyoci.container.state import ContainerState, StateStore
from pyoci.errors import ContainerNotFound, PyociError


def state_document(store: StateStore, container_id: str) -> dict:
    with store.open(container_id, lock=False) as cdir:
        state = cdir.load()
        return state.public(state.current_status(cdir.path))


def list_documents(store: StateStore) -> list[dict]:
    docs = []
    for cid in store.ids():
        try:
            docs.append(state_document(store, cid))
        except ContainerNotFound:
            continue  # deleted while we looked
        except PyociError as e:  # unreadable (a torn state.json): one line, list the rest
            from pyoci.log import warn

            warn(e.message)
    return docs


def format_table(docs: list[dict]) -> str:
    header = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")
    rows = [header] + [(d["id"], str(d["pid"]), d["status"], d["bundle"], d["created"],
                        d["owner"]) for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def dumps(doc: object) -> str:
    return jsonio.dumps_indented(doc)


__all__ = ["ContainerState", "state_document", "list_documents", "format_table", "dumps"]
