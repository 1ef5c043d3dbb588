"""psycopg's failures as the store's own: busy or away is StoreUnavailable (503, try again), anything
else StoreWriteFailed. One translation for the store's writes and the spent ledger's statements."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import psycopg

from recognition.store.interface import StoreUnavailable, StoreWriteFailed


@contextmanager
def store_errors(action: str, location: str, drop: Callable[[], None], *, outcome: str = "",
                 while_away: str = "") -> Iterator[None]:
    """Translate what the block raises. outcome: what became of the change ("nothing was changed"),
    said in every message; while_away: what goes on until the database is back. drop(): forget the
    connection, which a lost server leaves unusable."""
    done = f"; {outcome}" if outcome else ""
    try:
        yield
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
        raise StoreUnavailable(f"could not {action}: the store was busy for too long ({str(exc).strip()})"
                               f"{done}, try again") from exc
    except psycopg.OperationalError as exc:
        drop()
        away = f"; {while_away}" if while_away else ""
        raise StoreUnavailable(f"could not {action}: the database {location} cannot be reached "
                               f"({str(exc).strip() or type(exc).__name__}){done}{away}") from exc
    except psycopg.Error as exc:
        raise StoreWriteFailed(f"could not {action}: {str(exc).strip()}{done}") from exc


def usable(conn: Optional[psycopg.Connection], connect: Callable[[], psycopg.Connection]) -> psycopg.Connection:
    """conn if it can still be used; else it is closed and a new one made with connect()."""
    if conn is None or conn.closed or conn.broken:
        close_quietly(conn)
        conn = connect()
    return conn


def close_quietly(conn: Optional[psycopg.Connection]) -> None:
    """Close a connection that may be broken already (a lost server): nothing to report either way."""
    if conn is not None:
        try:
            conn.close()
        except psycopg.Error:
            pass
