"""`python -m slotrec` runs the command line."""

from slotrec.cli import app

app()
