"""Contributed user classes."""
