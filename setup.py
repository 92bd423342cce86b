"""Package discovery: src/ is the import name townsquare, so every package found under src/ is
nested beneath it. pyproject.toml's static `packages.find` cannot add that prefix."""

from setuptools import find_packages, setup

setup(packages=["townsquare", *(f"townsquare.{name}" for name in find_packages("src"))])
