"""Enforcement OneMap (执法一张图): geospatial monitoring and dispatch for integrated
administrative law enforcement."""

__version__ = "0.1.0"
