"""GridCX's Streamlit UI: the only package that imports streamlit. Thin over metrics/, data/, surveys/, reports/."""
