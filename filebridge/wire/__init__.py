"""The wire format and the file primitives both sides share.

Standard library only (orjson when importable): the worker side imports this package.
"""
