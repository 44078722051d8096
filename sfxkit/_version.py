"""The package version, importable without the package facade."""

__version__ = "0.1.0"
