"""Placeholder: this stage is built in a later milestone (see the README)."""
