"""Streamlit pages; the only part of geo/ that imports streamlit. No business rules here."""
