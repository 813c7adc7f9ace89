"""GridCX entry point: `streamlit run streamlit_app.py` (kept at the root so every package is importable)."""

from dashboard.app import main

main()
