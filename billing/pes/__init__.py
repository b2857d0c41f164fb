"""Titres de recettes for the public accountant (PES V2): building, validating and reading the files."""
