"""``chargeline dashboard`` and ``chargeline users``: serve the dashboard, manage sign-ins.

``cli`` holds the commands; the entry room (``chargeline.cli``) mounts it at the top level.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from app.access import ROLES
from app.data.users import add_user, audit, list_users
from core.config import load_settings
from store.engine import check_connection, make_engine

MAIN_SCRIPT = Path(__file__).with_name("main.py")

cli = typer.Typer()
users_group = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)
cli.add_typer(users_group, name="users")


def streamlit_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line for a headless, closed-network server."""
    return [
        sys.executable, "-m", "streamlit", "run", str(MAIN_SCRIPT),
        "--server.headless", "true",
        "--server.address", address,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]


@cli.command("dashboard")
def dashboard(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind (loopback by default).")]
    = "127.0.0.1",
) -> None:
    """Serve the Streamlit dashboard on the store named by CHARGELINE_DATABASE_URL."""
    typer.echo(f"Chargeline dashboard: http://{address}:{port}", nl=True)
    sys.stdout.flush()
    command = streamlit_command(port, address)  # our own argv, no shell
    # Become the Streamlit server (no wrapper process), so a stop signal reaches it.
    os.execv(command[0], command)  # noqa: S606


def _engine() -> Engine:
    engine = make_engine(load_settings().database_url)
    check_connection(engine)
    return engine


@users_group.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The user's e-mail (their sign-in name).")],
    role: Annotated[list[str], typer.Option(
        "--role", help=f"Role to grant, repeatable: {', '.join(ROLES)}.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
    oidc: Annotated[bool, typer.Option(
        "--oidc", help="No local password: the user signs in through single sign-on.")] = False,
) -> None:
    """Create or update a user with a local argon2-hashed password (prompted) or for SSO."""
    if oidc:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _engine().begin() as conn:
        user = add_user(conn, email, role, password=password)
        audit(conn, "cli", "user_added", target=user.email, detail=",".join(sorted(user.roles)))
    typer.echo(f"user {user.email}: {', '.join(sorted(user.roles))}")


@users_group.command("list")
def users_list() -> None:
    """List users and their roles."""
    with _engine().connect() as conn:
        for row in list_users(conn):
            kind = "local" if row["local"] else "sso"
            typer.echo(f"{row['email']}\t{row['roles']}\t{kind}")
