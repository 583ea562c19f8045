"""Streamlit glue shared by app.py and the pages: cached handles, the error guard, and reusable widgets.

Everything here draws widgets or caches objects; the work itself is done in `revsearch` (no Streamlit there).
"""
