"""Server-rendered pages, one blueprint package per audience."""
