"""Serving policies that serving applies and monitoring reports on: one definition for both."""
