"""The canonical command line of each long-running process.

docker-compose.yml, the Makefile and the README use exactly these; tests/config/test_compose.py keeps
them in step.
"""

PROCESS_COMMANDS: dict[str, list[str]] = {
    "web": [
        "gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3",
        "--access-logfile", "-",
    ],
    "worker": ["celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
    "beat": ["celery", "-A", "config", "beat", "--loglevel", "INFO", "--schedule", "var/celerybeat-schedule"],
}  # fmt: skip

#: Environment variables every application container must set (the rest have safe defaults).
REQUIRED_ENV = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS")


def main(argv: list[str] | None = None) -> None:
    """`python -m config.processes web|worker|beat` replaces itself with that process."""
    import os
    import shutil
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in PROCESS_COMMANDS:
        sys.exit(f"usage: python -m config.processes {{{'|'.join(PROCESS_COMMANDS)}}}")
    command = PROCESS_COMMANDS[args[0]]
    # Prefer the executable beside this interpreter (the venv's), then PATH.
    local = os.path.join(os.path.dirname(sys.executable), command[0])
    executable = local if os.path.exists(local) else shutil.which(command[0]) or command[0]
    os.execv(executable, [executable, *command[1:]])  # noqa: S606 - fixed argv, no shell


if __name__ == "__main__":
    main()
