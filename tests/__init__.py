"""sfxkit tests; ``ROOT`` is the checkout they test."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
